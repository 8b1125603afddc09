"""The remediator's core, as every stack composes it: the notification topic, the state table,
the function, and the grants between them; the Outputs an operator needs; the synth warning for
an enforce mode that can change nothing.

A function, not a construct: the resources keep the construct ids (and so the logical ids) they
have always had in the single-account stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Annotations, CfnOutput, Stack

from infra.context import StackSettings
from infra.notifications import Notifications
from infra.remediator import HANDLER, Remediator
from infra.state import StateTable
from remediator.config import Mode, RemediatorConfig, Settings

ENFORCE_WITHOUT_ALLOWLIST = "kms-launch-remediator:enforceWithEmptyAllowlist"


@dataclass(frozen=True)
class Engine:
    notifications: Notifications
    state: StateTable
    remediator: Remediator


def compose_engine(
    stack: Stack, settings: StackSettings, *, handler: str = HANDLER, asynchronous: bool = True
) -> Engine:
    """Topic, table and function in ``stack``, the function allowed to publish and to use the
    table, and told both names through the environment variables it reads (``Settings``)."""
    notifications = Notifications(stack, "Notifications", emails=settings.notification_emails)
    state = StateTable(stack, "State")
    remediator = Remediator(
        stack,
        "Remediator",
        config=settings.remediator,
        log_retention=settings.log_retention,
        powertools_layer_version=settings.powertools_layer_version,
        reserved_concurrency=settings.reserved_concurrency,
        handler=handler,
        asynchronous=asynchronous,
    )
    function = remediator.function
    function.add_environment(Settings.ENV_TOPIC, notifications.topic.topic_arn)
    function.add_environment(Settings.ENV_STATE_TABLE, state.table.table_name)
    notifications.topic.grant_publish(function)
    state.grant_engine_access(function)
    return Engine(notifications=notifications, state=state, remediator=remediator)


def engine_outputs(engine: Engine) -> dict[str, tuple[str, str]]:
    """Output id -> (value, description) for the engine's resources. Ids are stable, so scripts
    may rely on them."""
    remediator = engine.remediator
    return {
        "FunctionName": (
            remediator.function.function_name,
            "The remediator Lambda function (its logs, metrics and configuration)",
        ),
        "StateTableName": (
            engine.state.table.table_name,
            "The state table: pass it as --state-table to history, rollback and replay",
        ),
        "TopicArn": (
            engine.notifications.topic.topic_arn,
            "The notification topic: one message per outcome, and the alarms",
        ),
        "DeadLetterQueueUrl": (
            remediator.dlq.queue_url,
            "The dead-letter queue: events that failed delivery or every retry",
        ),
        "RemediatorRoleArn": (
            remediator.role.role_arn,
            "The remediator's IAM role: name it in a key owner's policy for cross-account grants",
        ),
    }


def add_outputs(stack: Stack, outputs: dict[str, tuple[str, str]]) -> None:
    for output_id, (value, description) in outputs.items():
        CfnOutput(stack, output_id, value=value, description=description)


def warn_about_an_enforce_mode_that_can_change_nothing(
    stack: Stack, config: RemediatorConfig
) -> None:
    if config.mode is not Mode.ENFORCE:
        return
    empty = [
        key
        for key, patterns in (
            ("allowed_principals", config.allow.principals),
            ("allowed_keys", config.allow.keys),
        )
        if not patterns
    ]
    if empty:
        Annotations.of(stack).add_warning_v2(
            ENFORCE_WITHOUT_ALLOWLIST,
            f"mode=enforce with an empty {' and '.join(empty)}: the remediator can change "
            "no key and will only report refusals. Set both allowlists, e.g. "
            "-c allowed_principals='[...]' -c allowed_keys='[...]'.",
        )

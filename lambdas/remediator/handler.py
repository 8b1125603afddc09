"""Lambda edge: powertools, parse settings once, one call into the pipeline, map the result.

Tracing: powertools' Tracer imports the X-Ray SDK, whose global recorder builds botocore
clients at import. It is imported only where tracing is on (in Lambda, unless
POWERTOOLS_TRACE_DISABLED says otherwise), so a cold start without tracing does not pay it.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from remediator import recheck
from remediator.adapters.accounts import AccountSessions
from remediator.adapters.aws import AwsAdapter
from remediator.adapters.dynamo import DynamoState, state_for
from remediator.adapters.incidents import incidents_for
from remediator.adapters.routing import AccountRouter
from remediator.config import Settings
from remediator.outcomes import (
    METRICS_NAMESPACE,
    NOTIFICATION_FAILED_METRIC,
    SERVICE_NAME,
    Outcome,
)
from remediator.pipeline import RemediationFailed, Remediator
from remediator.ports import EventReused
from remediator.report import Report, summary

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
# The core logs through the standard library (``remediator.*`` loggers). Their parent gets
# powertools' JSON handler, so every line carries the correlation id.
logging.getLogger("remediator")
copy_config_to_registered_loggers(source_logger=logger, include={"remediator"})
# A repeated event answered from the idempotency store counts no outcome: an invocation without
# metrics is expected, and powertools' warning about it is silenced as its documentation says
# (https://docs.powertools.aws.dev/lambda/python/latest/core/metrics/#raising-schemavalidationerror-on-empty-metrics).
warnings.filterwarnings("ignore", "No application metrics to publish*")

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def tracing_enabled(environ: os._Environ[str] | dict[str, str]) -> bool:
    """Powertools' own rule: trace in Lambda unless POWERTOOLS_TRACE_DISABLED is true."""
    disabled = environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in ("1", "true", "yes")
    return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not disabled


def traced(function: Handler) -> Handler:
    """The handler wrapped by powertools' Tracer where tracing is on; as it is otherwise."""
    if not tracing_enabled(os.environ):
        return function
    from aws_lambda_powertools import Tracer  # noqa: PLC0415 (only where tracing is on)

    tracer = Tracer(service=SERVICE_NAME)
    traced: Handler = tracer.capture_lambda_handler(capture_response=False)(function)
    return traced


@functools.cache
def remediator() -> Remediator:
    """Built once per execution environment: settings are immutable, clients are reused."""
    settings = Settings.from_env(os.environ)
    state = state_for(settings.state_table_name)
    client = state.client if isinstance(state, DynamoState) else None  # one client for both
    member_role = settings.config.member_role
    # Organization mode: each call in the account it concerns (adapters/routing.py).
    aws = AccountRouter(AccountSessions(member_role)) if member_role else AwsAdapter()
    return Remediator(
        aws,
        settings.config,
        topic_arn=settings.notify_topic_arn,
        state=state,
        on_notification_failure=_count_notification_failure,
        incidents=incidents_for(settings.state_table_name, client),
        state_table_name=settings.state_table_name,
        recheck_queue_url=settings.recheck_queue_url,
    )


@functools.cache
def pipeline() -> Callable[..., dict[str, Any]]:
    """One event in, its summary out; with a state table, a repeated failure event returns
    the first result without acting or notifying again, and a later event of an open incident
    is folded into it (incidents.py). A batch from the re-check queue is each of its messages in
    turn, each with an idempotency key of its own."""
    engine = remediator()

    def process(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
        try:
            reports = engine.handle(event)
        except RemediationFailed as failure:
            _count(failure.reports)
            raise
        _count(reports)
        return summary(reports)

    once = engine.state.idempotent(process) if isinstance(engine.state, DynamoState) else process

    def checked(event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        try:
            result: dict[str, Any] = once(event=event, context=context)
        except EventReused as err:
            # A crafted or broken event: no retry can make it valid, so it is not raised.
            logger.warning("event_refused", extra={"reason": str(err)})
            refused = [Report(Outcome.IGNORED, str(event.get("id", "unknown")), str(err))]
            _count(refused)
            return summary(refused)
        return result

    def dispatch(event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        bodies = recheck.sqs_bodies(event)
        if bodies is None:
            return checked(event, context)
        return {"rechecks": [checked(body, context) for body in bodies]}

    return dispatch


def _count_notification_failure(report: Report | None, error: Exception) -> None:
    metrics.add_metric(name=NOTIFICATION_FAILED_METRIC, unit=MetricUnit.Count, value=1)


def _count(reports: list[Report]) -> None:
    for report in reports:
        metrics.add_metric(name=report.outcome.metric_name, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(correlation_id_path="id")
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return pipeline()(event=event, context=context)

"""The remediator Lambda: function, role, log group, async failure handling, engine grants.

The IAM actions and their conditions come from ``remediator.permissions`` (declared next to the
code that calls them); this module only decides the resources each group may touch.
"""

from __future__ import annotations

from pathlib import Path

import jsii
from aws_cdk import (
    Annotations,
    AssetHashType,
    BundlingOptions,
    Duration,
    Fn,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import bytecode
from remediator import permissions, state_schema
from remediator.config import RemediatorConfig, Settings
from remediator.outcomes import METRICS_NAMESPACE, SERVICE_NAME

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
HANDLER = "remediator.handler.handler"  # invoked by EventBridge rules, asynchronously
HUB_HANDLER = "remediator.hub.handler"  # reads the organization hub's queue

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
TIMEOUT = Duration.seconds(state_schema.FUNCTION_TIMEOUT_SECONDS)
MEMORY_MB = 256
# Lambda's own async retries of a failed invocation, and how long an event may wait.
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = Duration.hours(1)
DLQ_RETENTION = Duration.days(14)
# What Lambda needs to deliver a failed async invocation's record to an SQS destination
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
# sending only, no reading of the queue or its attributes.
DLQ_SEND_ACTIONS = ("sqs:SendMessage",)

# The official Powertools for AWS Lambda (Python) v3 layer, published by AWS in account
# 017000801446 in every commercial region. It also carries pydantic v2 and aws-xray-sdk.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python312-arm64"


def powertools_layer_arn(version: int) -> str:
    """The layer ARN in the deploying stack's region (a CloudFormation Fn::Sub)."""
    return Fn.sub(
        "arn:aws:lambda:${AWS::Region}:"
        f"{POWERTOOLS_LAYER_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:{version}"
    )


@jsii.implements(lambda_.IDestination)
class SendOnlyQueueDestination:
    """An SQS on-failure destination granting only ``sqs:SendMessage``. (CDK's
    ``SqsDestination`` grants ``grant_send_messages``, which adds GetQueueAttributes and
    GetQueueUrl, neither of which Lambda needs to deliver.)"""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self,
        _scope: Construct,
        fn: lambda_.IFunction,
        *,
        type: lambda_.DestinationType | None = None,
    ) -> lambda_.DestinationConfig:
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="SendFailedInvocationsToTheDlq",
                actions=list(DLQ_SEND_ACTIONS),
                resources=[self.queue.queue_arn],
            )
        )
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


@jsii.implements(ILocalBundling)
class LocalBytecode:
    """CDK local bundling (no Docker): ``bytecode.build`` into the asset's output directory."""

    def __init__(self, source: Path, interpreter: str | None) -> None:
        self.source = source
        self.interpreter = interpreter

    def try_bundle(self, output_dir: str, *_options: object, **_kwargs: object) -> bool:
        bytecode.build(self.source, Path(output_dir), self.interpreter)
        return True


def lambda_code(scope: Construct) -> lambda_.Code:
    """The asset: the sources under ``lambdas/`` with their bytecode for ``RUNTIME`` (bytecode.py),
    hashed by what it holds. Without an interpreter of that version, the sources only, and a
    synth warning on ``scope``."""
    version = bytecode.runtime_version(RUNTIME.name)
    interpreter = bytecode.interpreter_for(version)
    if interpreter is None:
        Annotations.of(scope).add_warning_v2(
            "kms-launch-remediator:noBytecode",
            bytecode.NO_BYTECODE_WARNING.format(version=version),
        )
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        # Hashed by everything the bundling wrote, bytecode included (no exclude here: CDK
        # applies it to the output's hash too); the bundling leaves the caches out itself.
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Local bundling always succeeds, so this image is never pulled: CDK requires one.
            image=RUNTIME.bundling_image,
            local=LocalBytecode(LAMBDAS_DIR, interpreter),
        ),
    )


class Remediator(Construct):
    """The function plus its dead-letter queue; ``function`` and ``dlq`` are for wiring.

    ``asynchronous``: the function is invoked asynchronously (by EventBridge rules), so Lambda's
    own retries and on-failure destination apply and failed invocations land in ``dlq``. A
    function that reads a queue is invoked synchronously by its event source mapping, and the
    queue's redrive policy sends what keeps failing to ``dlq`` instead.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: RemediatorConfig,
        log_retention: logs.RetentionDays,
        powertools_layer_version: int,
        reserved_concurrency: int,
        handler: str = HANDLER,
        asynchronous: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)

        self.dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )

        # An explicit role: no AWSLambdaBasicExecutionRole (logs:* on *), only this log group.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="KMS launch remediator: reads launch context, fixes allowlisted keys",
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            description="Fixes EC2 launches that fail on a customer-managed KMS key",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=lambda_code(self),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "PowertoolsLayer", powertools_layer_arn(powertools_layer_version)
                )
            ],
            timeout=TIMEOUT,
            memory_size=MEMORY_MB,
            # Bounds a storm: events beyond it are throttled and retried by Lambda's async
            # queue (up to ASYNC_MAX_EVENT_AGE), instead of piling up on one key's lock. (A
            # queue-reading function waits in its queue: its event source's maximum concurrency
            # is set to this, so the poller never invokes it into a throttle.)
            reserved_concurrent_executions=reserved_concurrency,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            retry_attempts=ASYNC_RETRY_ATTEMPTS if asynchronous else None,
            max_event_age=ASYNC_MAX_EVENT_AGE if asynchronous else None,
            on_failure=SendOnlyQueueDestination(self.dlq) if asynchronous else None,
            environment={
                Settings.ENV_CONFIG: config.to_json(),
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )
        # Every account's allowlist: IAM bounds what any of them may have changed.
        allowlist = config.widest_allowlist()
        self.role.attach_inline_policy(
            iam.Policy(
                self,
                "EnginePolicy",
                statements=engine_statements(Stack.of(self), allowlist.keys, allowlist.principals),
            )
        )


def engine_statements(
    stack: Stack, allowed_keys: tuple[str, ...], allowed_principals: tuple[str, ...]
) -> list[iam.PolicyStatement]:
    """The engine's IAM statements: writes only on allowlisted keys (grants only for allowlisted
    principals and the grant remedy's operations), reads as narrow as IAM allows, and an
    explicit Deny of the key-policy lockout bypass."""
    statements = [
        iam.PolicyStatement(
            sid="DescribeAnyKey",
            actions=list(permissions.KEY_DESCRIBE_ACTIONS),
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="UnscopedReads",
            actions=list(permissions.UNSCOPED_READ_ACTIONS),
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="ReadPrincipals",
            actions=list(permissions.PRINCIPAL_READ_ACTIONS),
            resources=[
                stack.format_arn(service="iam", region="", resource="role", resource_name="*"),
                stack.format_arn(service="iam", region="", resource="user", resource_name="*"),
            ],
        ),
        iam.PolicyStatement(
            sid="ReadGroupPolicies",
            actions=list(permissions.GROUP_READ_ACTIONS),
            resources=[
                stack.format_arn(service="iam", region="", resource="group", resource_name="*")
            ],
        ),
        iam.PolicyStatement(
            sid="ReadManagedPolicies",
            actions=list(permissions.MANAGED_POLICY_READ_ACTIONS),
            resources=[
                stack.format_arn(service="iam", region="", resource="policy", resource_name="*"),
                stack.format_arn(
                    service="iam", region="", account="aws", resource="policy", resource_name="*"
                ),
            ],
        ),
        iam.PolicyStatement(
            sid="ReadAmiParameters",
            actions=list(permissions.PARAMETER_READ_ACTIONS),
            resources=[
                stack.format_arn(service="ssm", resource="parameter", resource_name="*"),
                stack.format_arn(
                    service="ssm",
                    account="",
                    resource="parameter",
                    resource_name=permissions.PUBLIC_PARAMETER_PATH,
                ),
            ],
        ),
        # The engine never sets BypassPolicyLockoutSafetyCheck; make IAM refuse it too.
        iam.PolicyStatement(
            sid="DenyPolicyLockoutBypass",
            effect=iam.Effect.DENY,
            actions=["kms:PutKeyPolicy"],
            resources=["*"],
            conditions={"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}},
        ),
    ]
    if allowed_keys:
        statements += [
            iam.PolicyStatement(
                sid="ReadAllowlistedKeys",
                actions=list(permissions.KEY_READ_ACTIONS),
                resources=list(allowed_keys),
            ),
            iam.PolicyStatement(
                sid="WriteAllowlistedKeyPolicies",
                actions=list(permissions.KEY_POLICY_WRITE_ACTIONS),
                resources=list(allowed_keys),
            ),
        ]
    # With no principal allowlisted the engine never wants a grant: grant nothing, rather than
    # a GranteePrincipal condition with an empty list of values.
    if allowed_keys and allowed_principals:
        statements.append(
            iam.PolicyStatement(
                sid="GrantOnAllowlistedKeys",
                actions=list(permissions.GRANT_WRITE_ACTIONS),
                resources=list(allowed_keys),
                conditions=permissions.grant_write_conditions(allowed_principals),
            )
        )
    return statements

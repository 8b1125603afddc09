"""boto3 for the operator's CLI, beyond the engine's ports: the region the environment
configures, the state table created idempotently, the keys its audit trail names, a metric,
and the SDK's own errors in words. The Lambda never calls these (its IAM does not allow
``dynamodb:Scan``, ``DescribeTable``, ``CreateTable`` or ``cloudwatch:PutMetricData``)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from remediator.adapters.aws import RETRY_CONFIG
from remediator.adapters.dynamo import create_table
from remediator.adapters.errors import call, pages, translate
from remediator.adapters.sessions import new_session
from remediator.outcomes import METRICS_NAMESPACE, SERVICE_NAME
from remediator.ports import AwsError, NotFound
from remediator.state_schema import AUDIT_PREFIX, KEY_SCHEMA, PARTITION_KEY, TTL_ATTRIBUTE

CREATED, EXISTS = "created", "exists"
# Errors of the SDK's own configuration (no region, an unknown profile, half the credentials):
# bad usage, not AWS refusing anything.
_CONFIGURATION_ERRORS = (NoRegionError, ProfileNotFound, PartialCredentialsError)


def configured_region() -> str | None:
    """The region of the SDK's configuration (profile, config file), if any."""
    try:
        region = new_session().region_name
    except ProfileNotFound:
        return None
    return str(region) if region else None


def client(service: str, region: str) -> Any:
    # A session of its own, not boto3's process-wide default one, whose credentials are
    # resolved once and kept: each command sees the credentials of its environment.
    return new_session().client(service, region_name=region, config=RETRY_CONFIG)


def sdk_error(err: BaseException) -> tuple[bool, str] | None:
    """(whether it is a configuration problem, the one-line message) of an SDK error raised
    outside a translated call (making a session or a client), or None for any other error."""
    if isinstance(err, _CONFIGURATION_ERRORS):
        return True, str(err)
    if isinstance(err, (ClientError, BotoCoreError)):
        return False, str(translate(err, "aws"))
    return None


# --- the state table ---------------------------------------------------------------------------


def ensure_state_table(region: str, name: str) -> tuple[str, str | None]:
    """Create the table with the stack's schema, or accept the one there: (CREATED or EXISTS,
    the problem when the existing table has another key schema). TTL is switched on either way."""
    dynamodb = client("dynamodb", region)
    try:
        table = call("dynamodb:DescribeTable", dynamodb.describe_table, TableName=name)["Table"]
    except NotFound:
        table = None
    if table is None:
        try:
            call("dynamodb:CreateTable", create_table, client=dynamodb, name=name)
            return CREATED, None
        except AwsError as err:
            if err.code != "ResourceInUseException":  # created meanwhile by someone else
                raise
        table = call("dynamodb:DescribeTable", dynamodb.describe_table, TableName=name)["Table"]
    schema = sorted((k["AttributeName"], k["KeyType"]) for k in table.get("KeySchema", []))
    if schema != sorted((k["AttributeName"], k["KeyType"]) for k in KEY_SCHEMA):
        return EXISTS, f"table {name!r} exists with another key schema {schema}"
    ttl = call("dynamodb:DescribeTimeToLive", dynamodb.describe_time_to_live, TableName=name)
    if ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        call(
            "dynamodb:UpdateTimeToLive",
            dynamodb.update_time_to_live,
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    return EXISTS, None


def audited_keys(region: str, name: str) -> list[str]:
    """Every key the audit trail of the table names (a Scan of the audit partitions' keys)."""
    dynamodb = client("dynamodb", region)
    iterator = dynamodb.get_paginator("scan").paginate(
        TableName=name,
        ProjectionExpression="#pk",
        FilterExpression="begins_with(#pk, :audit)",
        ExpressionAttributeNames={"#pk": PARTITION_KEY},
        ExpressionAttributeValues={":audit": {"S": AUDIT_PREFIX}},
    )
    found = {
        str(item[PARTITION_KEY]["S"]).removeprefix(AUDIT_PREFIX)
        for page in pages("dynamodb:Scan", iterator)
        for item in page.get("Items", [])
    }
    return sorted(found)


# --- metrics -----------------------------------------------------------------------------------


def count(region: str, metric_name: str) -> None:
    """One count of ``metric_name`` in the remediator's namespace and ``service`` dimension,
    where its dashboard and powertools' metrics are."""
    cloudwatch = client("cloudwatch", region)
    call(
        "cloudwatch:PutMetricData",
        cloudwatch.put_metric_data,
        Namespace=METRICS_NAMESPACE,
        MetricData=[
            {
                "MetricName": metric_name,
                "Dimensions": [{"Name": "service", "Value": SERVICE_NAME}],
                "Value": 1,
                "Unit": "Count",
            }
        ],
    )

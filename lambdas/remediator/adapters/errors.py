"""How botocore's errors become the domain errors of ``remediator.ports``: the code tables,
written once, and the two wrappers every adapter call goes through."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from remediator.ports import (
    AccessDenied,
    AwsError,
    NotFound,
    Rejected,
    Throttled,
    Unreachable,
)

# How AWS error codes map to the domain's errors. Anything else is a plain ``AwsError``.
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure"}
)
NOT_FOUND_CODES = frozenset(
    {
        "NotFoundException",
        "NoSuchEntity",
        "InvalidInstanceID.NotFound",
        "InvalidInstanceID.Malformed",
        "InvalidVolume.NotFound",
        "InvalidAMIID.NotFound",
        "InvalidAMIID.Unavailable",
        "InvalidSnapshot.NotFound",
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.VersionNotFound",
        "ResourceNotFoundException",
        # EC2 API error codes: fleets and Spot requests that no longer exist
        "InvalidFleetId.NotFound",
        "InvalidSpotFleetRequestId.NotFound",
        "InvalidSpotInstanceRequestID.NotFound",
        # SSM GetParameter: no such parameter, or no such version or label of it
        "ParameterNotFound",
        "ParameterVersionNotFound",
    }
)
THROTTLED_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
    }
)
CONFLICT_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
REJECTED_CODES = frozenset(
    {"MalformedPolicyDocumentException", "ValidationError", "ValidationException"}
)
# Services or operations an endpoint does not offer (an emulator without Access Analyzer or
# CloudTrail LookupEvents answers 404, 500 or NotImplemented).
UNSUPPORTED_CODES = frozenset(
    {
        "404",
        "500",
        "NotImplemented",
        "UnknownOperationException",
        "InvalidAction",
        "UnsupportedOperation",
        "UnrecognizedClientException",
        "InternalFailure",
        "InternalServerException",
        "ServiceUnavailableException",
    }
)

T = TypeVar("T")


class Unsupported(AwsError):
    """The endpoint does not offer this service or operation (only optional reads use it)."""


class Conflict(AwsError):
    """A conditional write's condition did not hold (DynamoDB); the state adapter handles it."""


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def translate(err: Exception, operation: str) -> AwsError:
    """The domain error for a botocore error."""
    if not isinstance(err, ClientError):
        return Unreachable(operation, type(err).__name__, str(err))
    code = error_code(err)
    message = str(err.response.get("Error", {}).get("Message", "")) or str(err)
    for codes, kind in (
        (ACCESS_DENIED_CODES, AccessDenied),
        (NOT_FOUND_CODES, NotFound),
        (THROTTLED_CODES, Throttled),
        (REJECTED_CODES, Rejected),
        (UNSUPPORTED_CODES, Unsupported),
        (CONFLICT_CODES, Conflict),
    ):
        if code in codes:
            return kind(operation, code, message)
    return AwsError(operation, code, message)


def call(operation: str, function: Callable[..., T], /, **kwargs: Any) -> T:
    """Call a boto3 client method; botocore's errors come out as domain errors."""
    try:
        return function(**kwargs)
    except (ClientError, BotoCoreError) as err:
        raise translate(err, operation) from err


def pages(operation: str, iterator: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Iterate a boto3 paginator; botocore's errors come out as domain errors."""
    try:
        yield from iterator
    except (ClientError, BotoCoreError) as err:
        raise translate(err, operation) from err

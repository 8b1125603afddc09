"""Trail: a CloudTrail trail so that management events (failed CreateGrant) reach EventBridge.

Only needed when no account or organization trail already logs management events.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_s3 as s3
from constructs import Construct

NONCURRENT_VERSION_EXPIRATION = Duration.days(30)
ORGANIZATION_TRAIL_NAME = "KmsLaunchRemediatorOrganizationTrail"


def _log_bucket(
    scope: Construct,
    construct_id: str,
    *,
    retention_days: int,
    access_logs: s3.IBucket | None = None,
) -> s3.Bucket:
    """Encrypted, SSL-only, private, versioned, expiring: the shape of both log buckets."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireOldLogs",
                expiration=Duration.days(retention_days),
                noncurrent_version_expiration=NONCURRENT_VERSION_EXPIRATION,
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        ],
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix="trail-bucket/" if access_logs else None,
        removal_policy=RemovalPolicy.RETAIN,
    )


class ManagementEventsTrail(Construct):
    """Write-only management events, into an encrypted, SSL-only bucket whose own access is
    logged to a second bucket of the same shape.

    Single-region by default (the single-account stack is deployed per region). ``multi_region``
    logs every region (an organization member's trail, deployed once per account), with global
    service events as CloudTrail requires of a multi-region trail. ``organization_id`` makes it
    the organization's trail: created in the management or a delegated administrator account,
    it logs every member account, and the bucket policy admits the organization's log prefix.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retention_days: int,
        multi_region: bool = False,
        organization_id: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_log_bucket = _log_bucket(self, "AccessLogBucket", retention_days=retention_days)
        self.bucket = _log_bucket(
            self, "Bucket", retention_days=retention_days, access_logs=self.access_log_bucket
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            is_multi_region_trail=multi_region,
            include_global_service_events=multi_region,
            management_events=cloudtrail.ReadWriteType.WRITE_ONLY,
            enable_file_validation=True,
            is_organization_trail=True if organization_id else None,
            org_id=organization_id,
            # An organization trail's bucket policy names the trail's ARN, so it needs a name.
            trail_name=ORGANIZATION_TRAIL_NAME if organization_id else None,
        )

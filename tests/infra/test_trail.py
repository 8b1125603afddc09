"""Trail: present by default (write-only management events), absent with create_trail=false."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import Synthesized, as_list, cdk_json_context, synth


@pytest.fixture(scope="module")
def default() -> Synthesized:
    return synth()


def test_trail_present_by_default_with_write_only_management_events(default: Synthesized) -> None:
    # Given cdk.json's defaults (create_trail true)
    # When reading the trails
    trails = list(default.resources("AWS::CloudTrail::Trail").values())
    # Then one logging, single-region trail records write management events
    assert len(trails) == 1
    properties = trails[0]["Properties"]
    assert properties["IsLogging"] is True
    assert properties["IsMultiRegionTrail"] is False
    assert properties["EnableLogFileValidation"] is True
    assert properties["EventSelectors"] == [
        {"IncludeManagementEvents": True, "ReadWriteType": "WriteOnly"}
    ]


@pytest.mark.parametrize("value", [False, "false"])
def test_trail_absent_when_create_trail_false(value: Any) -> None:
    # Given create_trail false (from cdk.json or as the command line's string)
    synthesized = synth(create_trail=value)
    # When reading the trails and buckets
    # Then there are none: an existing account or organization trail feeds EventBridge
    assert synthesized.resources("AWS::CloudTrail::Trail") == {}
    assert synthesized.resources("AWS::S3::Bucket") == {}
    assert synthesized.stack.trail is None


def test_trail_bucket_encrypted_private_ssl_only_and_expiring(default: Synthesized) -> None:
    # Given the trail's bucket and its access-log bucket
    assert default.stack.trail is not None
    trail_bucket_id = default.logical_id(default.stack.trail.bucket.node.default_child)
    buckets = default.resources("AWS::S3::Bucket")
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in default.resources("AWS::S3::BucketPolicy").values()
    }
    trail = next(iter(default.resources("AWS::CloudTrail::Trail").values()))
    assert trail["Properties"]["S3BucketName"] == {"Ref": trail_bucket_id}
    assert len(buckets) == 2
    retention = cdk_json_context()["trail_retention_days"]
    for bucket_id, bucket in buckets.items():
        properties = bucket["Properties"]
        # When reading encryption, public access, lifecycle and the bucket policy
        # Then each is encrypted, private, expires logs and denies plain HTTP
        rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        expirations = [
            r.get("ExpirationInDays") for r in properties["LifecycleConfiguration"]["Rules"]
        ]
        assert expirations == [retention]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policies[bucket_id]
        )
        assert bucket["DeletionPolicy"] == "Retain"
    # And the trail bucket's own access is logged to the other one
    assert "LoggingConfiguration" in buckets[trail_bucket_id]["Properties"]


def test_trail_bucket_lets_cloudtrail_write_only_to_this_accounts_prefix(
    default: Synthesized,
) -> None:
    # Given the trail bucket's policy
    assert default.stack.trail is not None
    trail_bucket_id = default.logical_id(default.stack.trail.bucket.node.default_child)
    statements = [
        s
        for p in default.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": trail_bucket_id}
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    ]
    # When reading what CloudTrail may do
    actions = {a for s in statements for a in as_list(s["Action"])}
    # Then it may check the ACL and put log objects, nothing else
    assert actions == {"s3:GetBucketAcl", "s3:PutObject"}

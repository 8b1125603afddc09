"""EventBridge rule patterns: the one definition the stack deploys and the tests load into moto.

Each pattern is plain data so that the CDK stack can pass it to ``events.CfnRule`` unchanged and
the tests can ``put_rule`` it into the emulator. Any change here changes what is deployed.
"""

from typing import Any

from remediator.events import ACCESS_DENIED_PREFIX, LAUNCH_KMS_CALLS

# Every denied KMS call EC2 makes for a launch. The rule selects them all; the parser then keeps
# only those AWS made on the launcher's behalf (remediator.events.AWS_LAUNCH_CALLERS).
KMS_CALL_DENIED: dict[str, Any] = {
    "source": ["aws.kms"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": ["kms.amazonaws.com"],
        "eventName": list(LAUNCH_KMS_CALLS),
        # Both "AccessDenied" and "AccessDeniedException" are seen in the wild.
        "errorCode": [{"prefix": ACCESS_DENIED_PREFIX}],
    },
}

INSTANCE_STOPPED_OR_TERMINATED: dict[str, Any] = {
    "source": ["aws.ec2"],
    "detail-type": ["EC2 Instance State-change Notification"],
    "detail": {"state": ["stopped", "terminated"]},
}

ASG_LAUNCH_UNSUCCESSFUL: dict[str, Any] = {
    "source": ["aws.autoscaling"],
    "detail-type": ["EC2 Instance Launch Unsuccessful"],
}

# Stable rule names (construct ids in the stack, rule names in the emulator).
RULES: dict[str, dict[str, Any]] = {
    "KmsCallDenied": KMS_CALL_DENIED,
    "InstanceStoppedOrTerminated": INSTANCE_STOPPED_OR_TERMINATED,
    "AsgLaunchUnsuccessful": ASG_LAUNCH_UNSUCCESSFUL,
}
# A rule in state ENABLED receives no read-only management event whose name starts with
# Describe, Get or List; a denied DescribeKey is one. The KMS rule takes them all (its pattern
# keeps only denied launch calls). EventBridge user guide, "Receiving read-only management events
# from AWS services".
RULE_STATES: dict[str, str] = {
    "KmsCallDenied": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
    "InstanceStoppedOrTerminated": "ENABLED",
    "AsgLaunchUnsuccessful": "ENABLED",
}

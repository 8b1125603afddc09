"""Notifications: the SNS topic for remediation reports and alarms, encrypted with its own key."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

# The topic key protects messages in flight only: nothing stays encrypted under it once the topic
# is gone, so deleting the stack schedules its deletion (cancellable during this window) instead
# of leaving an unused key behind.
TOPIC_KEY_PENDING_WINDOW = Duration.days(30)


class Notifications(Construct):
    """A customer-managed key with rotation, an SSL-only topic, and email subscriptions."""

    def __init__(
        self, scope: Construct, construct_id: str, *, emails: tuple[str, ...] = ()
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the KMS launch remediator's notification topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=TOPIC_KEY_PENDING_WINDOW,
        )
        # CloudWatch alarms publish as the CloudWatch service, which must use the key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )

        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="KMS launch remediator",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

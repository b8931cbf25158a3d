"""The alerts topic (KMS-encrypted, SSL-only) and who hears it: email, and Slack via Chatbot."""

from __future__ import annotations

from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import GuardrailsConfig


class AlertsTopic(Construct):
    def __init__(self, scope: Construct, construct_id: str, config: GuardrailsConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self, "Key", enable_key_rotation=True,
            description="Encrypts the training guardrails alerts topic",
        )
        # CloudWatch alarms publish to the topic, so CloudWatch must be able to use the key.
        self.key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],  # in a key policy, "*" means this key
        ))
        self.topic = sns.Topic(
            self, "Topic", display_name="Training guardrails alerts",
            master_key=self.key, enforce_ssl=True,
        )
        for email in config.alert_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        if config.slack_enabled:
            chatbot.SlackChannelConfiguration(
                self, "Slack",
                slack_channel_configuration_name="training-guardrails",
                slack_workspace_id=str(config.slack_workspace_id),
                slack_channel_id=str(config.slack_channel_id),
                notification_topics=[self.topic],
                guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                    "ReadOnlyAccess")],
                logging_level=chatbot.LoggingLevel.ERROR,
            )

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        """Publish, and exactly the two key actions publishing to an encrypted topic needs."""
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["sns:Publish"], resources=[self.topic.topic_arn]))
        self.key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")

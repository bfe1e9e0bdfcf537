"""The plan's SNS topic: who hears about a failed run, a stale component or a failing schedule."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from smokejumper.plan import Plan


class BackupTopic(Construct):
    """A topic encrypted with the plan's key, with the plan's email subscriptions.

    `topics` is where notifications go: this topic, and the plan's existing
    topic when it names one (`notifications.topic_arn`), so a team's own
    alerting keeps working beside the emails.
    """

    def __init__(self, scope: Construct, construct_id: str, *, plan: Plan, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"smokejumper {plan.name}",
            master_key=key,
            enforce_ssl=True,
        )
        for email in plan.notifications.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.topics: list[sns.ITopic] = [self.topic]
        if plan.notifications.topic_arn:
            self.topics.append(sns.Topic.from_topic_arn(self, "PlanTopic", plan.notifications.topic_arn))
        if plan.storage.creates_key:
            # CloudWatch alarms publish to an encrypted topic only if the key lets CloudWatch use it.
            # (A key the plan brings is the plan's to configure: the README says what to add.)
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy, "*" is this key
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                )
            )

    def notify(self, scope: Construct, name: str, message_path: str, subject_path: str) -> sfn.IChainable:
        """Tasks of a state machine in `scope` publishing `message_path` to every topic of the plan, in sequence."""
        chain: sfn.Chain | None = None
        for index, topic in enumerate(self.topics):
            publish = tasks.SnsPublish(
                scope,
                name if index == 0 else f"{name} ({index + 1})",
                topic=topic,
                message=sfn.TaskInput.from_json_path_at(message_path),
                subject=sfn.JsonPath.string_at(subject_path),
                result_path=sfn.JsonPath.DISCARD,
            )
            chain = publish if chain is None else chain.next(publish)  # type: ignore[assignment]
        assert chain is not None
        return chain

"""The one stack of a backup plan, composed of a construct per concern."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct
from smokejumper.plan import Plan

from infra.functions import BackupFunctions
from infra.monitoring import BackupMonitoring
from infra.notifications import BackupTopic
from infra.restores import RestoreWorkflow
from infra.storage import BackupStorage
from infra.triggers import BackupTriggers
from infra.workflow import BackupWorkflow


def stack_name(plan: Plan) -> str:
    """The CloudFormation stack name of a plan; one stack per plan per account and region."""
    return f"Smokejumper-{plan.name}"


class SmokejumperStack(Stack):
    """Everything one backup plan needs. Its bucket, functions, workflow, triggers and alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, plan: Plan, **kwargs: Any) -> None:
        kwargs.setdefault("description", f"smokejumper backups of plan {plan.name}")
        super().__init__(scope, construct_id, **kwargs)
        self.plan = plan
        Tags.of(self).add("smokejumper:plan", plan.name)

        replicate_to = None
        if plan.storage.replica is not None:
            from infra.replica import replica_destination

            replicate_to = replica_destination(plan, self.account)
        self.storage = BackupStorage(
            self, "Storage", plan_name=plan.name, storage=plan.storage, replicate_to=replicate_to
        )
        self.functions = BackupFunctions(self, "Functions", plan=plan, storage=self.storage)
        self.notifications = BackupTopic(self, "Notifications", plan=plan, key=self.storage.key)
        self.workflow = BackupWorkflow(self, "Workflow", plan=plan, functions=self.functions, topic=self.notifications)
        self.restores = RestoreWorkflow(self, "Restores", plan=plan, functions=self.functions, topic=self.notifications)
        self.triggers = BackupTriggers(
            self,
            "Triggers",
            plan=plan,
            state_machine=self.workflow.state_machine,
            restore_test_machine=self.restores.test_machine,
        )
        self.monitoring = BackupMonitoring(
            self,
            "Monitoring",
            plan=plan,
            state_machine=self.workflow.state_machine,
            topics=self.notifications.topics,
            time_limit=self.workflow.time_limit,
            restore_test_machine=self.restores.test_machine,
            source_bucket=self.storage.bucket,
        )

        CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name, description="backup bucket")
        CfnOutput(self, "KeyArn", value=self.storage.key.key_arn, description="KMS key of the backup bucket")
        CfnOutput(
            self,
            "BackupStateMachineArn",
            value=self.workflow.state_machine.state_machine_arn,
            description="start a backup run: aws stepfunctions start-execution --state-machine-arn ...",
        )
        CfnOutput(
            self,
            "RestoreStateMachineArn",
            value=self.restores.state_machine.state_machine_arn,
            description="restore from the console: start an execution with an input from the README",
        )
        CfnOutput(
            self,
            "RestoreTestStateMachineArn",
            value=self.restores.test_machine.state_machine_arn,
            description="test a restore of the latest good run: start an execution with the input {}",
        )
        CfnOutput(self, "TopicArn", value=self.notifications.topic.topic_arn, description="failure notifications")

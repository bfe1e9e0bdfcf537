"""The restore workflow: a state machine an operator starts from the console with a JSON input (README).

    check the input (every problem at once; the run fixed: `latest` resolved once)
      -> Map: verify every artifact it will read          nothing is touched before all are verified
      -> Map: restore every item (at most plan.concurrency at once); an item that fails is reported, the others go on
      -> report (restore.json beside the run's restore output)
      -> restored: end | failed: the execution fails, naming each failed item

One function does each step (`smokejumper.handlers.restore_step`, phase by phase), so the restore holds
one role: read the plan's runs, write under a run's restores/, read the secrets of the servers the plan
allows, make volumes from the plan's snapshots.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from smokejumper.plan import Plan

from infra.functions import IAM5, LOG_RETENTION, BackupFunctions
from infra.nag import acknowledge

RESTORE_FAILED_ERROR = "RestoreFailed"
# Each item is one Lambda (15 minutes at most), at most plan.concurrency at once, twice (verify, restore):
# a restore that has not ended in this long will not.
RESTORE_TIME_LIMIT = Duration.hours(12)


def restore_machine_name(plan: Plan) -> str:
    return f"smokejumper-{plan.name}-restore"


class RestoreWorkflow(Construct):
    """The restore state machine and its log group."""

    def __init__(self, scope: Construct, construct_id: str, *, plan: Plan, functions: BackupFunctions) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        self.functions = functions
        self.state_machine = self._state_machine()

    def _step(self, name: str, comment: str, payload: sfn.TaskInput | None, **options: object) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            name,
            lambda_function=self.functions.restore,
            comment=comment,
            payload=payload,
            payload_response_only=True,
            **options,  # type: ignore[arg-type]
        )

    def _state_machine(self) -> sfn.StateMachine:
        check = self._step(
            "Check the input",
            "Every problem of the input at once (names, servers the plan allows, the run, tables); nothing touched",
            sfn.TaskInput.from_object({"phase": "check", "input": sfn.JsonPath.entire_payload}),
        )
        verify = sfn.Map(
            self,
            "Verify every artifact",
            comment="Every byte of what the restore reads, against its record, before any target changes",
            items_path="$.verify",
            max_concurrency=self.plan.concurrency,
            result_path=sfn.JsonPath.DISCARD,
        ).item_processor(
            self._step("Verify one artifact", "One item's artifact: every frame's sha256, the whole file's", None)
        )
        restore = sfn.Map(
            self,
            "Restore every item",
            comment="A failed item is reported with its error type; the other items go on",
            items_path="$.restore",
            max_concurrency=self.plan.concurrency,
            result_path="$.outcomes",
        ).item_processor(
            self._step(
                "Restore one item",
                "A database into its target, an etcd cluster as a restore kit, a PVC as a volume and its YAML",
                None,
            )
        )
        report = self._step(
            "Report",
            "restore.json beside the run's restore output; what each item became",
            sfn.TaskInput.from_object(
                {
                    "phase": "report",
                    "restore_id": sfn.JsonPath.string_at("$.restore_id"),
                    "run_id": sfn.JsonPath.string_at("$.run_id"),
                    "outcomes": sfn.JsonPath.list_at("$.outcomes"),
                }
            ),
            result_path="$.report",
        )
        outcome = (
            sfn.Choice(self, "Was every item restored?")
            .when(sfn.Condition.string_equals("$.report.status", "restored"), sfn.Succeed(self, "Restored"))
            .otherwise(sfn.Fail(self, "Restore failed", error=RESTORE_FAILED_ERROR, cause_path="$.report.message"))
        )
        definition = check.next(verify).next(restore).next(report).next(outcome)

        log_group_name = f"/aws/vendedlogs/states/{restore_machine_name(self.plan)}"
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=log_group_name,
            retention=LOG_RETENTION,
            encryption_key=self.functions.storage.key if self.plan.storage.creates_key else None,
            removal_policy=RemovalPolicy.RETAIN,
        )
        if self.plan.storage.creates_key:
            self.functions.storage.let_logs_use_the_key([log_group_name])
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=restore_machine_name(self.plan),
            comment=f"smokejumper {self.plan.name}: restore a run's items (input: see the README's examples)",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=RESTORE_TIME_LIMIT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        acknowledge(
            machine.role,
            f"{IAM5}[Resource::*]",
            "Step Functions' log delivery (logs:*LogDelivery*, DescribeResourcePolicies...) and X-Ray's "
            "PutTraceSegments cannot be scoped to a resource",
        )
        acknowledge(
            machine.role,
            f"{IAM5}[Resource::<{self.functions.logical_id(self.functions.restore)}.Arn>:*]",
            "CDK's LambdaInvoke grants the function and its versions (ARN:*); only the plan's restore function",
        )
        return machine

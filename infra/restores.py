"""The restore workflow: a state machine an operator starts from the console with a JSON input (README).

    check the input (every problem at once; the run fixed: `latest` resolved once; the store it is read from)
      -> Map: verify every artifact it will read          nothing is touched before all are verified
      -> Map: restore every item (at most plan.concurrency at once); an item that fails is reported, the others go on
      -> report (restore.json beside the run's restore output)
      -> restored: end | failed: the execution fails, naming each failed item

One function does each step (`smokejumper.handlers.restore_step`, phase by phase), so the restore holds
one role: read the plan's runs (and, with a replica in the plan's account, the replica's copy of them:
the input's "store": "replica"), write under a run's restores/ in the plan's own bucket, read the secrets
of the servers the plan allows, make volumes from the plan's snapshots.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from smokejumper.plan import Plan

from infra.functions import IAM5, BackupFunctions
from infra.nag import acknowledge
from infra.notifications import BackupTopic
from infra.workflow import logged_state_machine

RESTORE_FAILED_ERROR = "RestoreFailed"
RESTORE_TEST_FAILED_ERROR = "RestoreTestFailed"
# Each item is one Lambda (15 minutes at most), at most plan.concurrency at once, twice (verify, restore):
# a restore that has not ended in this long will not.
RESTORE_TIME_LIMIT = Duration.hours(12)


def restore_machine_name(plan: Plan) -> str:
    return f"smokejumper-{plan.name}-restore"


def restore_test_machine_name(plan: Plan) -> str:
    return f"smokejumper-{plan.name}-restore-test"


class RestoreWorkflow(Construct):
    """The restore state machine, the restore-test state machine, and their log groups."""

    def __init__(
        self, scope: Construct, construct_id: str, *, plan: Plan, functions: BackupFunctions, topic: BackupTopic
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        self.functions = functions
        self.topic = topic
        self.state_machine = self._state_machine()
        self.test_machine = self._test_machine()

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

    def _map(self, name: str, comment: str, items_path: str, result_path: str, step: sfn.IChainable) -> sfn.Map:
        """Every item of `items_path` through `step`, at most the plan's concurrency at once."""
        return sfn.Map(
            self,
            name,
            comment=comment,
            items_path=items_path,
            max_concurrency=self.plan.concurrency,
            result_path=result_path,
        ).item_processor(step)

    def _state_machine(self) -> sfn.StateMachine:
        check = self._step(
            "Check the input",
            "Every problem of the input at once (names, servers the plan allows, the run, tables); nothing touched",
            sfn.TaskInput.from_object({"phase": "check", "input": sfn.JsonPath.entire_payload}),
        )
        verify = self._map(
            "Verify every artifact",
            "Every byte of what the restore reads, against its record, before any target changes",
            "$.verify",
            sfn.JsonPath.DISCARD,
            self._step("Verify one artifact", "One item's artifact: every frame's sha256, the whole file's", None),
        )
        restore = self._map(
            "Restore every item",
            "A failed item is reported with its error type; the other items go on",
            "$.restore",
            "$.outcomes",
            self._step(
                "Restore one item",
                "A database into its target, an etcd cluster as a restore kit, a PVC as a volume and its YAML",
                None,
            ),
        )
        report = self._step(
            "Report",
            "restore.json beside the run's restore output; what each item became",
            sfn.TaskInput.from_object(
                {
                    "phase": "report",
                    "restore_id": sfn.JsonPath.string_at("$.restore_id"),
                    "run_id": sfn.JsonPath.string_at("$.run_id"),
                    "read_from": sfn.JsonPath.string_at("$.read_from"),
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
        return self._machine(
            "StateMachine",
            restore_machine_name(self.plan),
            f"smokejumper {self.plan.name}: restore a run's items (input: see the README's examples)",
            definition,
        )

    def _test_machine(self) -> sfn.StateMachine:
        """The restore test: the latest good run (or the input's run_id) restored into scratch databases and judged."""
        start = self._step(
            "Pick the run",
            "The latest good run (or the input's run_id) and its items that succeeded",
            # The whole input: {} for the latest good run, or {"run_id": ...}.
            sfn.TaskInput.from_object({"phase": "test-start", "input": sfn.JsonPath.entire_payload}),
        )
        test = self._map(
            "Test every item",
            "Each database restored into a scratch database and judged against its records, then dropped",
            "$.items",
            "$.outcomes",
            self._step("Test one item", "A failed judgement is the item's verdict, not an error", None),
        )
        verdict = self._step(
            "Record the verdict",
            "restore-test.json beside the run (the manifest is never rewritten); the metric its alarms watch",
            sfn.TaskInput.from_object(
                {
                    "phase": "test-verdict",
                    "run_id": sfn.JsonPath.string_at("$.run_id"),
                    "outcomes": sfn.JsonPath.list_at("$.outcomes"),
                }
            ),
            result_path="$.verdict",
        )
        failed = self.topic.notify(self, "Tell that the test failed", "$.verdict.message", "$.verdict.subject").next(
            sfn.Fail(self, "Restore test failed", error=RESTORE_TEST_FAILED_ERROR, cause_path="$.verdict.message")
        )
        outcome = (
            sfn.Choice(self, "Did the run restore?")
            .when(sfn.Condition.string_equals("$.verdict.status", "passed"), sfn.Succeed(self, "Restore test passed"))
            .otherwise(failed)
        )
        definition = start.next(test).next(verdict).next(outcome)
        return self._machine(
            "TestStateMachine",
            restore_test_machine_name(self.plan),
            f'smokejumper {self.plan.name}: restore test of the latest good run (input: {{}} or {{"run_id": ...}})',
            definition,
            publishes=True,
        )

    def _machine(
        self, construct_id: str, name: str, comment: str, definition: sfn.IChainable, *, publishes: bool = False
    ) -> sfn.StateMachine:
        machine = logged_state_machine(
            self,
            construct_id,
            functions=self.functions,
            name=name,
            comment=comment,
            definition=definition,
            timeout=RESTORE_TIME_LIMIT,
            log_id=f"{construct_id}Logs",
        )
        if publishes:
            # Publishing to a topic encrypted with the plan's key needs the key too (SnsPublish grants sns:Publish).
            self.functions.storage.key.grant(machine.role, "kms:GenerateDataKey", "kms:Decrypt")
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

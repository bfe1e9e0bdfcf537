"""The backup workflow: a Step Functions state machine that makes one run of the plan.

    start run (leases its items)
      -> Parallel: [etcd clusters Map] [databases Map] [volumes Map]   each item: back up, Retry, Catch
      -> commit run (manifest written last; failed if any item failed; retention; metrics; leases back)
      -> "Backup Run Completed" event
      -> succeeded: end | failed: SNS message, then the execution fails

Its input is the request (`{"components": [...], "items": [...], "reason": "..."}`, all optional),
exactly what a schedule, the "Backup Requested" rule or a person starts it with. The definition
is built from CDK's constructs; `smokejumper local run` executes the one `cdk synth` writes.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from smokejumper.failures import ERROR_TYPES
from smokejumper.handlers import COMPLETED_DETAIL_TYPE, EVENT_SOURCE
from smokejumper.locks import ITEM_ATTEMPTS, KEY, LOCK_TABLE_VARIABLE, TTL_ATTRIBUTE, run_time_limit
from smokejumper.plan import Plan
from smokejumper.runs import COMPONENTS

from infra.functions import BACKUP_SPECS, IAM5, LOG_RETENTION, BackupFunctions
from infra.nag import acknowledge
from infra.notifications import BackupTopic

RUN_FAILED_ERROR = "BackupRunFailed"
COMMIT_FAILED_ERROR = "CommitFailed"
# Worth another try: a database restarting, a bucket's bad second. A wrong password is not.
TRANSIENT_ERRORS = sorted(name for name, error in ERROR_TYPES.items() if error.transient)
RETRY_INTERVAL = Duration.seconds(30)
RETRY_BACKOFF = 2.0
# Each component's Map state, and what an item of it is called in the console.
ITEM_NOUNS = {"etcd": "etcd cluster", "databases": "database", "volumes": "volume"}


def state_machine_name(plan: Plan) -> str:
    return f"smokejumper-{plan.name}-backup"


def logged_state_machine(
    scope: Construct,
    construct_id: str,
    *,
    functions: BackupFunctions,
    name: str,
    comment: str,
    definition: sfn.IChainable,
    timeout: Duration,
    log_id: str,
) -> sfn.StateMachine:
    """A state machine of the plan: every event logged (level ALL, with data) to its own log group kept a year,
    encrypted with the plan's key when the stack creates it, and traced with X-Ray."""
    plan_storage = functions.storage
    creates_key = functions.plan.storage.creates_key
    # The name as text, not the log group's Ref: the key policy naming it must not depend on the group.
    log_group_name = f"/aws/vendedlogs/states/{name}"
    log_group = logs.LogGroup(
        scope,
        log_id,
        log_group_name=log_group_name,
        retention=LOG_RETENTION,
        encryption_key=plan_storage.key if creates_key else None,
        removal_policy=RemovalPolicy.RETAIN,
    )
    if creates_key:
        plan_storage.let_logs_use_the_key([log_group_name])
    return sfn.StateMachine(
        scope,
        construct_id,
        state_machine_name=name,
        comment=comment,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
    )


class BackupWorkflow(Construct):
    """The state machine, the lease table it starts runs with, and its log group."""

    def __init__(
        self, scope: Construct, construct_id: str, *, plan: Plan, functions: BackupFunctions, topic: BackupTopic
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        self.functions = functions
        self.topic = topic
        self.time_limit = run_time_limit(plan)
        self.lock_table = self._lock_table()
        self.state_machine = self._state_machine()

    # --- never two backups of one item --------------------------------------------------------

    def _lock_table(self) -> dynamodb.Table:
        key = self.functions.storage.key if self.plan.storage.creates_key else None
        table = dynamodb.Table(
            self,
            "Leases",
            partition_key=dynamodb.Attribute(name=KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED if key else dynamodb.TableEncryption.AWS_MANAGED,
            encryption_key=key,
            # Leases last hours at most: nothing in the table is worth keeping past the stack.
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            table,
            "AwsSolutions-DDB3",
            "the table holds only leases that end within hours (locks.run_time_limit); "
            "point-in-time recovery would restore locks that must not come back",
        )
        for function, actions in (
            (self.functions.start_run, ("dynamodb:PutItem", "dynamodb:GetItem")),
            (self.functions.commit_run, ("dynamodb:DeleteItem",)),
        ):
            table.grant(function, *actions)
            if key is not None:  # items of a table encrypted with a customer key are read and written with it
                key.grant(function, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
            function.add_environment(LOCK_TABLE_VARIABLE, table.table_name)
        return table

    # --- the state machine ----------------------------------------------------------------------

    def _state_machine(self) -> sfn.StateMachine:
        start = tasks.LambdaInvoke(
            self,
            "Start run",
            lambda_function=self.functions.start_run,
            comment="A run id, and a lease on each item asked for (an item another run holds is left out)",
            # The execution's input is the request; the execution's id owns the leases (locks.py).
            payload=sfn.TaskInput.from_object(
                {"request": sfn.JsonPath.entire_payload, "execution": sfn.JsonPath.execution_id}
            ),
            payload_response_only=True,
        )
        # A run that does not start (every item held by another run, a request naming no item of the plan)
        # is announced too: whoever sent "Backup Requested" waits for an answer either way.
        not_started = tasks.EventBridgePutEvents(
            self,
            "Announce that no run started",
            entries=[
                tasks.EventBridgePutEventsEntry(
                    source=EVENT_SOURCE,
                    detail_type=COMPLETED_DETAIL_TYPE,
                    detail=sfn.TaskInput.from_object(
                        {
                            "plan": self.plan.name,
                            "status": "not-started",
                            "error": sfn.JsonPath.string_at("$.start_error.Error"),
                            "cause": sfn.JsonPath.string_at("$.start_error.Cause"),
                            # What was asked and by which execution: whoever waits can tell it is theirs.
                            "execution": sfn.JsonPath.execution_id,
                            "request": sfn.JsonPath.object_at("$$.Execution.Input"),
                        }
                    ),
                )
            ],
            result_path=sfn.JsonPath.DISCARD,
        ).next(
            sfn.Fail(
                self,
                "No run started",
                error_path="$.start_error.Error",
                cause_path="$.start_error.Cause",
            )
        )
        start.add_catch(not_started, result_path="$.start_error")

        back_up = sfn.Parallel(
            self,
            "Back up every item",
            comment="One branch per component; each branch's Map backs up its items, at most plan.concurrency at once",
            result_path="$.results",
        )
        for component in COMPONENTS:
            back_up.branch(self._component_map(component))

        commit = tasks.LambdaInvoke(
            self,
            "Commit run",
            lambda_function=self.functions.commit_run,
            comment="Manifest written last (failed if any item failed), retention, metrics, leases given back",
            payload=sfn.TaskInput.from_object(
                {
                    "ticket": sfn.JsonPath.object_at("$.ticket"),
                    "results": sfn.JsonPath.list_at("$.results"),
                    "reason": sfn.JsonPath.string_at("$.reason"),
                    "execution": sfn.JsonPath.string_at("$.execution"),
                    "skipped": sfn.JsonPath.list_at("$.skipped"),
                }
            ),
            payload_response_only=True,
            result_path="$.summary",
        )
        commit.add_retry(
            errors=["StoreUnavailable"], interval=RETRY_INTERVAL, backoff_rate=RETRY_BACKOFF, max_attempts=2
        )
        commit_failed = self._notify("Tell that the commit failed", "$.commit_error.Cause", "$.run_id").next(
            sfn.Fail(
                self,
                "Commit failed",
                error=COMMIT_FAILED_ERROR,
                cause_path="$.commit_error.Cause",
            )
        )
        commit.add_catch(commit_failed, result_path="$.commit_error")

        completed = tasks.EventBridgePutEvents(
            self,
            "Announce the run",
            comment="For whoever asked for it (CI waiting before an upgrade) and for any rule that listens",
            entries=[
                tasks.EventBridgePutEventsEntry(
                    source=EVENT_SOURCE,
                    detail_type=COMPLETED_DETAIL_TYPE,
                    detail=sfn.TaskInput.from_json_path_at("$.summary"),
                )
            ],
            result_path=sfn.JsonPath.DISCARD,
        )
        failed = self._notify("Tell people", "$.summary.message", "$.summary.subject").next(
            sfn.Fail(self, "Run failed", error=RUN_FAILED_ERROR, cause_path="$.summary.message")
        )
        outcome = (
            sfn.Choice(self, "Did every item succeed?")
            .when(sfn.Condition.string_equals("$.summary.status", "succeeded"), sfn.Succeed(self, "Run succeeded"))
            .otherwise(failed)
        )
        definition = start.next(back_up).next(commit).next(completed).next(outcome)

        machine = logged_state_machine(
            self,
            "StateMachine",
            functions=self.functions,
            name=state_machine_name(self.plan),
            comment=f"smokejumper {self.plan.name}: one backup run (input: components, items, reason; all optional)",
            definition=definition,
            timeout=Duration.seconds(self.time_limit.total_seconds()),
            log_id="Logs",
        )
        # Publishing to a topic encrypted with a customer key needs the key too (topic.grant_publish in
        # SnsPublish grants sns:Publish only).
        self.functions.storage.key.grant(machine.role, "kms:GenerateDataKey", "kms:Decrypt")
        self._acknowledge_role(machine)
        return machine

    def _component_map(self, component: str) -> sfn.Map:
        noun = ITEM_NOUNS[component]
        record = sfn.Pass(
            self,
            f"Record {noun} failure",
            comment="The item's error and cause go to the manifest; the other items go on",
            parameters={"item": sfn.JsonPath.object_at("$.item"), "error": sfn.JsonPath.object_at("$.error")},
        )
        processor = self._snapshot_loop(record) if component == "volumes" else self._backup_step(noun, record)
        return sfn.Map(
            self,
            f"Each {noun}",
            items_path=f"$.work.{component}",
            max_concurrency=self.plan.concurrency,
        ).item_processor(processor)

    def _backup_step(self, noun: str, record: sfn.Pass) -> sfn.IChainable:
        item = tasks.LambdaInvoke(
            self,
            f"Back up {noun}",
            lambda_function=self.functions.backup_item,
            comment=f"One {noun} into the run's directory; a failure is named after its error type",
            payload_response_only=True,
        )
        item.add_retry(
            errors=TRANSIENT_ERRORS,
            interval=RETRY_INTERVAL,
            backoff_rate=RETRY_BACKOFF,
            max_attempts=ITEM_ATTEMPTS - 1,
        )
        item.add_catch(record, errors=["States.ALL"], result_path="$.error")
        return item

    def _snapshot_loop(self, record: sfn.Pass) -> sfn.IChainable:
        """Start a selector's snapshots, then wait and look until all are completed: no Lambda ever waits."""
        function = self.functions.snapshot_volumes
        start = tasks.LambdaInvoke(
            self,
            "Start volume snapshots",
            lambda_function=function,
            comment="Select the volumes by tags and namespaces and start their snapshots (not retried: no duplicates)",
            payload=sfn.TaskInput.from_object(
                {
                    "phase": "start",
                    "ticket": sfn.JsonPath.object_at("$.ticket"),
                    "item": sfn.JsonPath.object_at("$.item"),
                }
            ),
            payload_response_only=True,
        )
        wait = sfn.Wait(
            self,
            "Wait for the snapshots",
            comment="The selector's poll_seconds",
            time=sfn.WaitTime.seconds_path("$.poll_seconds"),
        )
        look = tasks.LambdaInvoke(
            self,
            "Look at the snapshots",
            lambda_function=function,
            comment=(
                "One DescribeSnapshots for all that are pending (and one for their copies, which it starts as "
                "snapshots complete); an error or the selector's timeout fails the item"
            ),
            payload=sfn.TaskInput.from_object(
                {
                    "phase": "look",
                    "ticket": sfn.JsonPath.object_at("$.ticket"),
                    "item": sfn.JsonPath.object_at("$.item"),
                    "snapshots": sfn.JsonPath.list_at("$.snapshots"),
                    "give_up_at": sfn.JsonPath.number_at("$.give_up_at"),
                    "poll_seconds": sfn.JsonPath.number_at("$.poll_seconds"),
                }
            ),
            payload_response_only=True,
        )
        look.add_retry(
            errors=TRANSIENT_ERRORS, interval=RETRY_INTERVAL, backoff_rate=RETRY_BACKOFF, max_attempts=ITEM_ATTEMPTS - 1
        )
        recorded = sfn.Pass(
            self,
            "Snapshots recorded",
            parameters={"item": sfn.JsonPath.object_at("$.item"), "ref": sfn.JsonPath.object_at("$.ref")},
        )
        for step in (start, look):
            step.add_catch(record, errors=["States.ALL"], result_path="$.error")
        done = sfn.Choice(self, "All snapshots completed?").when(sfn.Condition.boolean_equals("$.done", True), recorded)
        done.otherwise(wait)
        return start.next(wait).next(look).next(done)

    def _notify(self, name: str, message_path: str, subject_path: str) -> sfn.IChainable:
        """Publish `message_path` to every topic of the plan, in sequence; a failing publish fails the run anyway."""
        return self.topic.notify(self, name, message_path, subject_path)

    def _acknowledge_role(self, machine: sfn.StateMachine) -> None:
        acknowledge(
            machine.role,
            f"{IAM5}[Resource::*]",
            "Step Functions' log delivery (logs:*LogDelivery*, DescribeResourcePolicies...) and X-Ray's "
            "PutTraceSegments cannot be scoped to a resource",
        )
        for spec in BACKUP_SPECS:
            function = self.functions.functions[spec.name]
            acknowledge(
                machine.role,
                f"{IAM5}[Resource::<{self.functions.logical_id(function)}.Arn>:*]",
                "CDK's LambdaInvoke grants the function and its versions (ARN:*); only the plan's own functions",
            )

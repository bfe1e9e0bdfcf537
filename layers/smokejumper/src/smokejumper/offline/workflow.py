"""The synthesized backup workflow, deployed on moto and executed for real.

`OfflineWorkflow` is a context manager: on entry it starts emulated AWS with
Step Functions really executing, puts the plan's secrets in its Secrets
Manager, synthesizes the plan's stack (synth.py), creates every resource of
the template (stack.py) and routes Lambda invocations to the real handlers
(lambdas.py). Then a run is started as AWS would start it: `fire_schedule`
(a schedule's own target input), `send_event` (a "Backup Requested" event
matched against the synthesized rule's pattern) or `start` (an input, as a
person would paste it in the console). `wait` follows the execution.

Known limits of moto, each handled here (the comments say where):
- Retry intervals and Wait states really sleep: the runner shortens them
  (`RETRY_SLEEP_CAP`, `WAIT_CAP`).
- EventBridge rules never start state machines in moto: `send_event` matches
  the event against the rule's pattern with moto's own matcher and starts
  the rule's state machine target with the input the target selects.
- Schedules never fire in moto: `fire_schedule` starts the schedule's target
  with the schedule's own input, after checking it targets this machine.
- An execution's output holds no SDK datetimes here (the handlers return
  JSON text), so none need converting.
- moto does not evaluate IAM policies: the runner proves the workflow and the
  handlers, not the roles (tests/infra asserts each grant on the template).
- StopExecution stops the workflow, not a handler already running in moto's
  threads: leaving, the runner waits for those to end (`DRAIN_SECONDS`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from smokejumper.errors import SmokejumperError
from smokejumper.handlers import COMPLETED_DETAIL_TYPE, EVENT_SOURCE, PLAN_FILE_VARIABLE, REQUESTED_DETAIL_TYPE
from smokejumper.offline.lambdas import (
    HandlerModules,
    Invocation,
    environment_of,
    environment_variables,
    handlers_in_process,
)
from smokejumper.offline.stack import EmulatedStack, create_stack
from smokejumper.offline.synth import SynthesizedStack, repository_root, synthesize
from smokejumper.plan import Plan
from smokejumper.store import Store, open_store

OFFLINE_ACCOUNT = "123456789012"  # moto's account: the plan's stack is synthesized for it
DEFAULT_REGION = "eu-west-1"
# A Retry's interval (30 s, then 60 s in the workflow) is real time in moto; offline, a second at most.
RETRY_SLEEP_CAP = 1.0
# A Wait state (the volumes' poll_seconds) waits this long offline: the loop runs, the minutes do not pass.
WAIT_CAP = 0.05
# How long leaving waits for handlers still running after a stop (a dump of the demo's size takes a second).
DRAIN_SECONDS = 60.0
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "smokejumper-offline",
    "AWS_SECRET_ACCESS_KEY": "smokejumper-offline",
    "AWS_SESSION_TOKEN": "smokejumper-offline",
    # Tracing would try to reach an X-Ray daemon; offline there is none.
    "POWERTOOLS_TRACE_DISABLED": "true",
    # moto would otherwise load thousands of public AMIs (and their snapshots) into every region's EC2.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
_CLEARED_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@dataclass(frozen=True)
class Execution:
    """How an execution ended: its status and output, or its error and cause."""

    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    seconds: float


def offline_plan(plan: Plan, region: str) -> Plan:
    """`plan` deployed to moto's account (so the template's ARNs are moto's), in `region`."""
    data = plan.model_dump(mode="json", exclude_none=True)
    data["deployment"] = {"account": OFFLINE_ACCOUNT, "region": region}
    return Plan.model_validate(data)


_SYNTHESIZED: dict[str, tuple[SynthesizedStack, SynthesizedStack | None]] = {}


def synthesized(plan: Plan, outdir: Path) -> tuple[SynthesizedStack, SynthesizedStack | None]:
    """The plan's stack and its replica's, synthesized once per process per plan (synthesis costs seconds)."""
    key = plan.model_dump_json()
    if key not in _SYNTHESIZED:
        _SYNTHESIZED[key] = synthesize(plan, outdir)
    return _SYNTHESIZED[key]


class OfflineWorkflow:
    def __init__(
        self,
        plan: Plan,
        secrets: Mapping[str, Any],
        out: Path,
        *,
        on_invocation: Callable[[Invocation], None] | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.region = plan.deployment.region or DEFAULT_REGION
        self.plan = offline_plan(plan, self.region)
        self.secrets = dict(secrets)
        self.out = out
        self.on_invocation = on_invocation
        self.log_file = log_file or out / "logs" / "functions.jsonl"
        self._exit = ExitStack()

    # --- set-up ---------------------------------------------------------------------------------

    def __enter__(self) -> OfflineWorkflow:
        try:
            self._enter()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _enter(self) -> None:
        import boto3
        from moto import mock_aws

        self.out.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        primary, replica = synthesized(self.plan, self.out / "cdk.out")
        self.stack_name, self.template = primary.name, primary.template
        # Synthesized once per process: a later OfflineWorkflow still leaves the templates it runs beside its output.
        for synthesized_stack in (primary, replica) if replica else (primary,):
            template_file = self.out / "cdk.out" / f"{synthesized_stack.name}.template.json"
            if not template_file.exists():
                template_file.parent.mkdir(parents=True, exist_ok=True)
                template_file.write_text(json.dumps(synthesized_stack.template.document, indent=1), encoding="utf-8")
        (self.out / "plan.json").write_text(self.plan.model_dump_json(indent=2), encoding="utf-8")

        self._exit.enter_context(_offline_environment(self.region))
        self._exit.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        self._exit.enter_context(_short_retries())
        self._exit.enter_context(_short_waits())
        self._exit.enter_context(_quiet_moto())
        self.session = boto3.Session(region_name=self.region)
        self._put_secrets()
        # The replica's stack first, in its own region, as `cdk deploy --all` deploys it: the primary's
        # replication rule names its bucket (moto stores the rule, and never replicates).
        self.replica_stack: EmulatedStack | None = None
        if replica is not None:
            self.replica_stack = create_stack(
                replica.template,
                boto3.Session(region_name=replica.region),
                stack_name=replica.name,
                account=OFFLINE_ACCOUNT,
            )
        self.stack: EmulatedStack = create_stack(
            self.template, self.session, stack_name=self.stack_name, account=OFFLINE_ACCOUNT
        )
        machines = {
            self.stack.properties(i)["StateMachineName"].rsplit("-", 1)[-1]: i
            for i in self.stack.ids_of("AWS::StepFunctions::StateMachine")
        }
        self.state_machine_arn = self.stack.ref(machines["backup"])
        self.restore_machine_arn = self.stack.ref(machines["restore"])
        self.restore_test_machine_arn = self.stack.ref(machines["test"])  # smokejumper-PLAN-restore-test
        # An execution is followed as long as its state machine lets it run (its TimeoutSeconds).
        self.time_limits = {
            self.stack.ref(i): float(json.loads(self.stack.properties(i)["DefinitionString"])["TimeoutSeconds"])
            for i in machines.values()
        }
        self.time_limit = self.time_limits[self.state_machine_arn]
        self.sfn = self.session.client("stepfunctions")
        self._inboxes()

        functions = [self.stack.properties(i) for i in self.stack.ids_of("AWS::Lambda::Function")]
        variables = environment_of([f.get("Environment", {}).get("Variables", {}) for f in functions])
        variables[PLAN_FILE_VARIABLE] = str(self.out / "plan.json")
        self._exit.enter_context(environment_variables(variables))
        self.bucket = variables["SMOKEJUMPER_BUCKET"]
        self.kms_key_id = variables.get("SMOKEJUMPER_KMS_KEY_ID")
        from smokejumper import handlers

        # Read per cold start in Lambda; here every OfflineWorkflow is a cold start.
        handlers.environment.cache_clear()
        handlers.s3_client.cache_clear()
        self._exit.callback(handlers.environment.cache_clear)
        self._exit.callback(handlers.s3_client.cache_clear)
        # Line-buffered: what a handler logged is in the file once its line ends (tests read it while running).
        log = self._exit.enter_context(self.log_file.open("a", encoding="utf-8", buffering=1))
        modules = HandlerModules(repository_root() / "functions", log)
        self._exit.enter_context(handlers_in_process(modules, on_invocation=self.on_invocation))
        # Last in, first out: before the mock, the environment and the log go away.
        self._exit.callback(modules.drain, DRAIN_SECONDS)

    def _put_secrets(self) -> None:
        # A secret is created under the last part of its ARN (name and suffix): moto then finds it by the
        # plan's full ARN, so the plan (and the template synthesized from it) keeps its own ARNs.
        for arn, value in self.secrets.items():
            region = arn.split(":")[3] or self.region
            self.session.client("secretsmanager", region_name=region).create_secret(
                Name=arn.split(":")[-1], SecretString=value if isinstance(value, str) else json.dumps(value)
            )

    def _inboxes(self) -> None:
        """The runner's own listeners (not part of the stack): completion events and SNS messages, into queues."""
        sqs = self.session.client("sqs")
        self._event_queue = sqs.create_queue(QueueName="smokejumper-offline-events")["QueueUrl"]
        self._sns_queue = sqs.create_queue(QueueName="smokejumper-offline-notifications")["QueueUrl"]
        arn = f"arn:aws:sqs:{self.region}:{OFFLINE_ACCOUNT}:"
        events = self.session.client("events")
        events.put_rule(
            Name="smokejumper-offline-completed",
            EventPattern=json.dumps({"source": [EVENT_SOURCE], "detail-type": [COMPLETED_DETAIL_TYPE]}),
        )
        events.put_targets(
            Rule="smokejumper-offline-completed",
            Targets=[{"Id": "inbox", "Arn": arn + "smokejumper-offline-events"}],
        )
        sns = self.session.client("sns")
        for topic in self.stack.ids_of("AWS::SNS::Topic"):
            sns.subscribe(
                TopicArn=self.stack.ref(topic),
                Protocol="sqs",
                Endpoint=arn + "smokejumper-offline-notifications",
                Attributes={"RawMessageDelivery": "false"},
            )

    # --- what a run is started by -----------------------------------------------------------------

    def store(self) -> Store:
        return open_store(
            f"s3://{self.bucket}/{self.plan.name}",
            s3_client=self.session.client("s3"),
            kms_key_id=self.kms_key_id,
        )

    def start(self, request: Mapping[str, Any], *, name: str | None = None, machine: str | None = None) -> str:
        """Start an execution with `request` as its input, as the console or `aws stepfunctions` would."""
        return self.sfn.start_execution(
            stateMachineArn=machine or self.state_machine_arn,
            name=name or f"offline-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
            input=json.dumps(request),
        )["executionArn"]

    def restore_test(self, test_input: Mapping[str, Any] | None = None) -> str:
        """Start the restore-test state machine ({}: the latest good run), as its schedule would."""
        return self.start(
            test_input or {}, name=f"restore-test-{uuid.uuid4().hex[:12]}", machine=self.restore_test_machine_arn
        )

    def restore(self, restore_input: Mapping[str, Any], *, name: str | None = None) -> str:
        """Start the restore state machine with a restore input, as an operator in the console would."""
        return self.start(
            restore_input, name=name or f"restore-{uuid.uuid4().hex[:12]}", machine=self.restore_machine_arn
        )

    def schedules(self) -> dict[str, dict[str, Any]]:
        """The synthesized schedules by name, as the Scheduler API returns them."""
        scheduler = self.session.client("scheduler")
        return {
            self.stack.ref(i): scheduler.get_schedule(Name=self.stack.ref(i))
            for i in self.stack.ids_of("AWS::Scheduler::Schedule")
        }

    def fire_schedule(self, name: str) -> str:
        """What EventBridge Scheduler does at the schedule's time: start its target with the target's input."""
        schedule = self.schedules()[name]
        target = schedule["Target"]
        if target["Arn"] not in self.time_limits:
            raise SmokejumperError(f"schedule {name} targets {target['Arn']}, not one of the plan's state machines")
        return self.start(
            json.loads(target.get("Input", "{}")), name=f"schedule-{uuid.uuid4().hex[:12]}", machine=target["Arn"]
        )

    def send_event(self, detail: Mapping[str, Any], *, detail_type: str = REQUESTED_DETAIL_TYPE) -> list[str]:
        """Route an event as EventBridge would: each synthesized rule whose pattern matches starts its targets.

        Not through moto's put_events: its rules raise NotImplementedError for a Step Functions target.
        """
        from moto.events.models import EventPattern  # moto's own matcher (moto does not start state machines)

        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": EVENT_SOURCE,
            "account": OFFLINE_ACCOUNT,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [],
            "detail": dict(detail),
        }
        started = []
        for rule_id in self.stack.ids_of("AWS::Events::Rule"):
            rule = self.stack.properties(rule_id)
            if not EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(event):
                continue
            for target in rule.get("Targets", []):
                if target["Arn"] != self.state_machine_arn:
                    continue
                started.append(self.start(_target_input(target, event), name=f"event-{uuid.uuid4().hex[:12]}"))
        return started

    def wait(self, execution_arn: str, *, timeout: float | None = None) -> Execution:
        if timeout is None:
            machine = execution_arn.split(":execution:")[-1].split(":")[0]
            limits = {arn.rsplit(":", 1)[-1]: limit for arn, limit in self.time_limits.items()}
            timeout = limits.get(machine, self.time_limit) + 60
        started = time.monotonic()
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() - started > timeout:
                self.sfn.stop_execution(executionArn=execution_arn, error="Timeout", cause="the runner gave up")
                raise SmokejumperError(f"execution {execution_arn} did not finish in {timeout:.0f} s")
            time.sleep(0.02)  # the runner's polling should not count as the workflow's time (bench/workflow.py)
        output = json.loads(described["output"]) if described.get("output") else None
        return Execution(
            execution_arn,
            described["status"],
            output,
            described.get("error"),
            described.get("cause"),
            time.monotonic() - started,
        )

    def stop(self, execution_arn: str) -> None:
        self.sfn.stop_execution(executionArn=execution_arn, error="Interrupted", cause="stopped by Ctrl-C")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [{**event, "timestamp": event["timestamp"].isoformat()} for event in events]

    # --- what came out ----------------------------------------------------------------------------

    def completed_events(self) -> list[dict[str, Any]]:
        """Every "Backup Run Completed" event the stack published so far (whole events)."""
        return [json.loads(body) for body in self._drain(self._event_queue)]

    def notifications(self) -> list[dict[str, str]]:
        """Every SNS message (subject and text) the stack published so far."""
        return [
            {"subject": message.get("Subject", ""), "message": message["Message"], "topic": message["TopicArn"]}
            for message in (json.loads(body) for body in self._drain(self._sns_queue))
        ]

    def _drain(self, queue_url: str) -> Iterator[str]:
        sqs = self.session.client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            for message in messages:
                yield message["Body"]
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _target_input(target: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """The input an EventBridge target passes on: Input, InputPath (a simple $.a.b path) or the whole event."""
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        value: Any = event
        for part in target["InputPath"].removeprefix("$").strip(".").split("."):
            if part:
                value = value[part]
        return value
    if "InputTransformer" in target:
        raise SmokejumperError("the offline runner does not apply InputTransformer; the rule should use InputPath")
    return event


@contextmanager
def _offline_environment(region: str) -> Iterator[None]:
    """Fake credentials (nothing can reach a real account by accident), restored afterwards."""
    with environment_variables({**_FAKE_ENV, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}, cleared=_CLEARED_ENV):
        yield


@contextmanager
def _short_retries() -> Iterator[None]:
    # moto's retrier calls time.sleep(interval) on its module's `time`: replace that name only, not time.sleep.
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    real = retrier_decl.time
    retrier_decl.time = SimpleNamespace(sleep=lambda seconds: real.sleep(min(seconds, RETRY_SLEEP_CAP)))  # type: ignore[assignment]
    try:
        yield
    finally:
        retrier_decl.time = real  # type: ignore[assignment]


@contextmanager
def _short_waits() -> Iterator[None]:
    # moto's Wait waits on an event for the state's seconds (and again if woken early): one short wait instead.
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    real = WaitFunction._wait_interval

    def short(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(min(wait_seconds, WAIT_CAP))

    WaitFunction._wait_interval = short  # type: ignore[method-assign]
    try:
        yield
    finally:
        WaitFunction._wait_interval = real  # type: ignore[method-assign]


@contextmanager
def _quiet_moto() -> Iterator[None]:
    # moto logs every caught task failure at ERROR with the whole state; the runner reports failures itself.
    logger = logging.getLogger("moto.stepfunctions")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)

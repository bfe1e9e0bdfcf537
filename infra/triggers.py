"""What starts a backup run: a schedule per component, and the "Backup Requested" event.

    schedule smokejumper-{plan}-etcd       (cron, time zone)  -> StartExecution {"components": ["etcd"], ...}
    schedule smokejumper-{plan}-databases  (cron, time zone)  -> StartExecution {"components": ["databases"], ...}
    default bus: source smokejumper, "Backup Requested", detail.plan = {plan}  -> StartExecution (the detail)

Each input is a `handlers.StartRunEvent` (flat: components, items, reason, trigger, plan), which the
state machine's start step checks; a request with a key it does not know fails there, by name.
A start that cannot be delivered (throttled past its retries, a missing role) goes to one
dead-letter queue instead of vanishing.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack, TimeZone
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from smokejumper.handlers import EVENT_SOURCE, REQUESTED_DETAIL_TYPE
from smokejumper.plan import Plan

from infra.nag import acknowledge

SCHEDULE_TRIGGER = "schedule"
SCHEDULED_COMPONENTS = ("etcd", "databases", "volumes")
RESTORE_TEST = "restore-test"  # the restore test's schedule, beside the components' ones
# A StartExecution fails for a throttle or a Step Functions hiccup, which passes within minutes, or for
# something broken (a deleted role or state machine), which no retry fixes. Three tries within an hour
# cover the first; after that the request goes to the dead-letter queue, where it is seen, rather than
# being retried for a day (the defaults: 185 tries, 24 hours) into the next hourly etcd run or into the
# morning deploys a 02:00 database backup is scheduled to avoid.
RETRY_ATTEMPTS = 3
MAX_EVENT_AGE = Duration.hours(1)
# SQS's longest: a failed start waits two weeks for someone to read why.
DLQ_RETENTION = Duration.days(14)


def schedule_name(plan: Plan, component: str) -> str:
    return f"smokejumper-{plan.name}-{component}"


def scheduled_input(component: str) -> dict[str, object]:
    """What a component's schedule starts the state machine with (a handlers.StartRunEvent)."""
    return {"components": [component], "trigger": SCHEDULE_TRIGGER, "reason": f"scheduled {component} backup"}


class BackupTriggers(Construct):
    """The plan's schedules and its "Backup Requested" rule, both starting `state_machine`, and their DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        state_machine: sfn.IStateMachine,
        restore_test_machine: sfn.IStateMachine | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        self.state_machine = state_machine
        self.restore_test_machine = restore_test_machine
        self.dead_letter_queue = self._dead_letter_queue()
        self.schedules: dict[str, scheduler.Schedule] = self._schedules()
        self.rule = self._requested_rule()

    def _dead_letter_queue(self) -> sqs.Queue:
        # SQS-managed encryption, not the plan's key: EventBridge delivers to a KMS-encrypted queue only if
        # the key policy lets events.amazonaws.com use the key, and a plan may bring its own key, whose
        # policy is the plan's and not this stack's to change. The messages are a request (components,
        # reason) and an error message; nothing secret.
        queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        # On the queue resource only: its policy (and anything added to the construct later) stays checked.
        resource = queue.node.default_child
        assert resource is not None
        acknowledge(
            resource,
            "AwsSolutions-SQS3",
            "this queue is itself the dead-letter queue of the schedules and of the Backup Requested rule "
            "(their DeadLetterConfig); cdk-nag only recognises an SQS RedrivePolicy or a Lambda's DLQ",
        )
        return queue

    # --- schedules --------------------------------------------------------------------------------

    def _schedules(self) -> dict[str, scheduler.Schedule]:
        components = [
            component
            for component in SCHEDULED_COMPONENTS
            if getattr(self.plan, component) and getattr(self.plan.schedules, component) is not None
        ]
        tests = self.plan.restore_tests
        tested = tests is not None and tests.schedule is not None and self.restore_test_machine is not None
        if not components and not tested:
            return {}
        role = self._schedule_role()
        schedules = {component: self._schedule(component, role) for component in components}
        if tested:
            schedules[RESTORE_TEST] = self._restore_test_schedule(role)
        return schedules

    def _restore_test_schedule(self, role: iam.IRole) -> scheduler.Schedule:
        """The restore test of the latest good run, at the plan's time (input {}: the latest good run)."""
        assert self.plan.restore_tests is not None
        assert self.plan.restore_tests.schedule is not None
        assert self.restore_test_machine is not None
        when = self.plan.restore_tests.schedule
        return scheduler.Schedule(
            self,
            "restoretestSchedule",
            schedule_name=schedule_name(self.plan, RESTORE_TEST),
            description=f"smokejumper {self.plan.name}: test a restore of the latest good run, {when.cron}",
            schedule=scheduler.ScheduleExpression.expression(when.cron, TimeZone.of(when.time_zone)),
            time_window=scheduler.TimeWindow.off(),
            target=scheduler_targets.StepFunctionsStartExecution(
                self.restore_test_machine,
                input=scheduler.ScheduleTargetInput.from_object({}),
                role=role,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
            ),
        )

    def _schedule_role(self) -> iam.Role:
        """One role for the plan's schedules; the targets grant it StartExecution and the DLQ's SendMessage."""
        stack = Stack.of(self)
        # Only this account's schedules in the default group may assume it (the confused-deputy guard
        # AWS documents for Scheduler, and what CDK's own default role would get).
        group_arn = stack.format_arn(
            service="scheduler",
            resource="schedule-group",
            resource_name="default",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        return iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": group_arn}},
            ),
            description=f"smokejumper {self.plan.name}: the schedules start the backup and restore-test state machines",
        )

    def _schedule(self, component: str, role: iam.IRole) -> scheduler.Schedule:
        when = getattr(self.plan.schedules, component)
        return scheduler.Schedule(
            self,
            f"{component}Schedule",
            schedule_name=schedule_name(self.plan, component),
            description=f"smokejumper {self.plan.name}: back up the plan's {component} at {when.cron} {when.time_zone}",
            # The cron is read in the plan's zone, so 02:00 Europe/Berlin stays 02:00 across DST. (A time the
            # spring change skips, like 02:30 there, is skipped that night; the autumn repeat runs once.)
            schedule=scheduler.ScheduleExpression.expression(when.cron, TimeZone.of(when.time_zone)),
            # At the minute the plan says: a backup window is chosen around deploys, not "about then".
            time_window=scheduler.TimeWindow.off(),
            target=scheduler_targets.StepFunctionsStartExecution(
                self.state_machine,
                input=scheduler.ScheduleTargetInput.from_object(scheduled_input(component)),
                role=role,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
            ),
        )

    # --- the "Backup Requested" event --------------------------------------------------------------

    def _requested_rule(self) -> events.Rule:
        stack = Stack.of(self)
        name = f"smokejumper-{self.plan.name}-backup-requested"
        # The rule is named so its ARN is known before it exists: the role's trust policy names it
        # without a dependency cycle (the rule's target refers to the role).
        rule_arn = stack.format_arn(
            service="events", resource="rule", resource_name=name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )
        role = iam.Role(
            self,
            "RequestedRole",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": rule_arn}},
            ),
            description=f"smokejumper {self.plan.name}: a Backup Requested event starts the backup state machine",
        )
        rule = events.Rule(
            self,
            "Requested",
            rule_name=name,
            description=f"smokejumper {self.plan.name}: start a backup run on a {REQUESTED_DETAIL_TYPE} event",
            # Only requests for this plan: every plan's stack listens on the same default bus.
            event_pattern=events.EventPattern(
                source=[EVENT_SOURCE],
                detail_type=[REQUESTED_DETAIL_TYPE],
                detail={"plan": [self.plan.name]},
            ),
        )
        rule.add_target(
            events_targets.SfnStateMachine(
                self.state_machine,
                # The detail is the request as it is (plan, and optionally components, items, reason, trigger):
                # exactly a StartRunEvent, so the workflow has one input format whoever starts it.
                input=events.RuleTargetInput.from_event_path("$.detail"),
                role=role,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
            )
        )
        return rule

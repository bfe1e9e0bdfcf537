"""Alarms and a dashboard for a plan: a run that failed, an item with no recent good backup, and where to look.

    execution alarms   smokejumper-{plan}-run-failed | -run-timed-out | -run-aborted
                       AWS/States Executions{Failed,TimedOut,Aborted} >= 1 in 5 minutes
    staleness alarms   smokejumper-{plan}-stale-{component}-{item}, one per etcd cluster and database
                       Smokejumper BackupSucceeded (Sum, hourly) < 1 in each of the last N hours
    dashboard          smokejumper-{plan}

Every alarm notifies every topic of the plan (`BackupTopic.topics`).

A staleness alarm's N is the item's window in hours, rounded up: the longest its component's schedule
goes between two firings (`smokejumper.cron.longest_gap`, DST included), plus the run's time limit
(the next run may succeed only at its very end), plus SLACK. Within that window a healthy schedule always
brings a success, so the alarm means what it says: the item has not been backed up when it should have
been. Missing data is breaching on purpose: a schedule that stopped firing emits nothing at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from smokejumper.cron import longest_gap
from smokejumper.handlers import METRICS_NAMESPACE
from smokejumper.plan import Plan, Schedule
from smokejumper.runs import RunItem, plan_items

EXECUTION_PERIOD = Duration.minutes(5)
STALENESS_PERIOD = timedelta(hours=1)
# The success metric is written when the run commits, a minute or two before CloudWatch has it; a
# schedule fires within its minute; the hourly periods are rounded up on top. A quarter of an hour
# covers the delays without letting a missed run go unnoticed for longer than it must.
SLACK = timedelta(minutes=15)
# CloudWatch refuses an alarm whose period x evaluation periods exceeds 7 days (604,800 s; a day for
# periods under an hour): PutMetricAlarm's Period documentation. A schedule rarer than weekly cannot
# be watched this way and its alarm, capped here, goes off between two healthy runs: a plan should
# back up at least weekly.
MAX_WINDOW = timedelta(days=7)
# An expression longest_gap does not evaluate (L, W, #, a year) gets the widest window CloudWatch
# allows: late rather than a false alarm every night for a schedule nobody could read.
FALLBACK_WINDOW = MAX_WINDOW


def service_name(plan: Plan) -> str:
    """The `service` dimension Powertools adds to every metric of the plan's functions.

    It is the functions' POWERTOOLS_SERVICE_NAME (infra/functions.py), and Powertools puts it on the
    per-item `single_metric`s too, so BackupSucceeded is keyed by plan, component, item *and* service;
    an alarm on the first three alone would watch a metric that never gets a datapoint.
    """
    return f"smokejumper-{plan.name}"


@dataclass(frozen=True)
class StalenessWindow:
    """How long an item's component may go without a success, and how that was worked out."""

    window: timedelta
    longest_gap: timedelta | None  # None: the schedule's cron was not evaluated (FALLBACK_WINDOW)
    capped: bool  # longer than CloudWatch allows, so MAX_WINDOW

    @property
    def periods(self) -> int:
        """Hourly evaluation periods (and datapoints to alarm) covering the window."""
        return -(-self.window // STALENESS_PERIOD)  # ceiling division of timedeltas

    @classmethod
    def of(cls, schedule: Schedule | None, time_limit: timedelta) -> StalenessWindow:
        # The plan refuses an item whose component has no schedule; a schedule-less one would be unreadable.
        gap = longest_gap(schedule.cron, schedule.time_zone) if schedule else None
        window = FALLBACK_WINDOW if gap is None else gap + time_limit + SLACK
        return cls(window=min(window, MAX_WINDOW), longest_gap=gap, capped=window > MAX_WINDOW)


def _hours(span: timedelta) -> str:
    """A span as people read it: 47 h, 2 h 39 min, 15 min."""
    hours, minutes = divmod(round(span.total_seconds() / 60), 60)
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part)


class BackupMonitoring(Construct):
    """The plan's alarms, each notifying every topic, and its dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        state_machine: sfn.StateMachine,
        topics: list[sns.ITopic],
        time_limit: timedelta,
        restore_test_machine: sfn.StateMachine | None = None,
        source_bucket: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        self.state_machine = state_machine
        self.time_limit = time_limit
        self.actions = [cloudwatch_actions.SnsAction(topic) for topic in topics]
        self.items = plan_items(plan)
        self.execution_alarms = self._execution_alarms()
        self.windows = {
            item.path: StalenessWindow.of(getattr(plan.schedules, item.component), time_limit) for item in self.items
        }
        self.staleness_alarms = {item.path: self._staleness_alarm(item) for item in self.items}
        self.restore_test_alarms = self._restore_test_alarms(restore_test_machine)
        self.replication_alarms = self._replication_alarms(source_bucket)
        self.dashboard = self._dashboard()

    # --- metrics ---------------------------------------------------------------------------------

    def item_metric(
        self, name: str, item: RunItem, statistic: str, period: Duration, *, label: str | None = None
    ) -> cloudwatch.Metric:
        """One of the per-item metrics `handlers.emit_metrics` writes at commit."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={
                "plan": self.plan.name,
                "component": item.component,
                "item": item.name,
                "service": service_name(self.plan),
            },
            statistic=statistic,
            period=period,
            label=label,
        )

    def run_metric(self, statistic: str, label: str) -> cloudwatch.Metric:
        """RunSucceeded, 1 or 0 per committed run; Powertools' Metrics keys it by service alone."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name="RunSucceeded",
            dimensions_map={"service": service_name(self.plan)},
            statistic=statistic,
            period=Duration.hours(1),
            label=label,
        )

    # --- alarms ----------------------------------------------------------------------------------

    def _alarm(self, construct_id: str, **props: object) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(self, construct_id, **props)  # type: ignore[arg-type]
        for action in self.actions:
            alarm.add_alarm_action(action)
        return alarm

    def _execution_alarms(self) -> dict[str, cloudwatch.Alarm]:
        machine = self.state_machine
        arn = machine.state_machine_arn

        def history(status: str) -> str:
            return (
                f"The execution's history (aws stepfunctions list-executions --state-machine-arn {arn} "
                f"--status-filter {status}) shows the step that stopped it."
            )

        start = f"Start a new run when the cause is fixed: aws stepfunctions start-execution --state-machine-arn {arn}"
        cases = {
            "failed": (
                machine.metric_failed,
                "A backup run failed: at least one item was not backed up, or the commit failed, or no run "
                "started (BackupInProgress, InvalidInput: the execution's error and cause say which, and no "
                "message follows). Otherwise the run's own message on this topic names each failed item and its "
                "error (AuthenticationFailed, SourceUnreachable, WouldExceedTimeLimit...); the items that "
                "succeeded are kept. " + history("FAILED") + " " + start,
            ),
            "timed-out": (
                machine.metric_timed_out,
                f"A backup run took longer than its time limit ({_hours(self.time_limit)}) and Step Functions "
                "stopped it: it wrote no manifest, so it is no backup, and its leases end by themselves. Usually "
                "an item that retried until the limit (a database that cannot be reached, or grew too big). "
                + history("TIMED_OUT")
                + " "
                + start,
            ),
            "aborted": (
                machine.metric_aborted,
                "A backup run was stopped (StopExecution) before it finished: it wrote no manifest, so it is no "
                "backup. If nobody meant to, CloudTrail's StopExecution events say who did. " + start,
            ),
        }
        alarms = {}
        for name, (metric, description) in cases.items():
            alarms[name] = self._alarm(
                f"Run-{name}",
                alarm_name=f"smokejumper-{self.plan.name}-run-{name}",
                alarm_description=description,
                metric=metric(period=EXECUTION_PERIOD, statistic="Sum"),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                # No execution ended that way in the period: nothing to report.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        return alarms

    def _staleness_alarm(self, item: RunItem) -> cloudwatch.Alarm:
        window = self.windows[item.path]
        schedule = getattr(self.plan.schedules, item.component)
        if window.longest_gap is None:
            derivation = f"its schedule {schedule.cron if schedule else '(none)'} cannot be evaluated, so 7 days"
        else:
            derivation = (
                f"its schedule {schedule.cron} ({schedule.time_zone}) can go {_hours(window.longest_gap)} "
                f"between runs, a run may take {_hours(self.time_limit)}, plus {_hours(SLACK)}"
                + ("; capped at CloudWatch's 7 days" if window.capped else "")
            )
        request = json.dumps({"items": [item.name], "reason": "stale backup"})
        description = (
            f"No successful backup of {item.path} (plan {self.plan.name}) in the last {window.periods} hours: "
            f"{derivation}. Either its runs fail (each failed run is on this topic, with the error), or no run "
            "starts (is the schedule smokejumper-"
            f"{self.plan.name}-{item.component} enabled? is a start waiting in the triggers' dead-letter queue?). "
            "Back it up now: aws stepfunctions start-execution --state-machine-arn "
            f"{self.state_machine.state_machine_arn} --input '{request}'"
        )
        return self._alarm(
            f"Stale-{item.component}-{item.name}",
            alarm_name=f"smokejumper-{self.plan.name}-stale-{item.component}-{item.name}",
            alarm_description=description,
            metric=self.item_metric("BackupSucceeded", item, "Sum", Duration.seconds(STALENESS_PERIOD.total_seconds())),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=window.periods,
            datapoints_to_alarm=window.periods,
            # A schedule that stopped firing, or a run that never commits, emits nothing: that is staleness.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )

    def restore_test_metric(self, statistic: str) -> cloudwatch.Metric:
        """RestoreTestPassed, 1 or 0 per restore test (`handlers.emit_restore_test_metrics`)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name="RestoreTestPassed",
            dimensions_map={"plan": self.plan.name, "service": service_name(self.plan)},
            statistic=statistic,
            period=Duration.hours(1),
        )

    def _restore_test_alarms(self, machine: sfn.StateMachine | None) -> dict[str, cloudwatch.Alarm]:
        """A failed restore test, and no passed one within the plan's window: only when the tests are scheduled."""
        tests = self.plan.restore_tests
        if tests is None or tests.schedule is None or machine is None:
            return {}
        start = f"aws stepfunctions start-execution --state-machine-arn {machine.state_machine_arn} --input '{{}}'"
        failed = self._alarm(
            "RestoreTest-failed",
            alarm_name=f"smokejumper-{self.plan.name}-restore-test-failed",
            alarm_description=(
                f"A restore test of plan {self.plan.name} failed: a database of the run did not restore, or read "
                "back differently from what its backup recorded, or an etcd snapshot's keys disagree with its "
                "record. The message on this topic names each item and what differed; restore-test.json beside "
                f"the run has the details (smokejumper runs show RUN). Test again when fixed: {start}"
            ),
            metric=self.restore_test_metric("Minimum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        untested = self._alarm(
            "RestoreTest-untested",
            alarm_name=f"smokejumper-{self.plan.name}-restore-untested",
            alarm_description=(
                f"No restore test of plan {self.plan.name} passed in the last {tests.within_hours} hours "
                f"(restore_tests.within_hours): they fail, or none starts (is the schedule "
                f"smokejumper-{self.plan.name}-restore-test enabled? a start in the triggers' dead-letter queue?). "
                f"Test the latest good run now: {start}"
            ),
            metric=self.restore_test_metric("Maximum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=tests.within_hours,
            datapoints_to_alarm=tests.within_hours,
            # No test at all emits nothing: that is what this alarm is for.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        return {"failed": failed, "untested": untested}

    def _replication_alarms(self, source: s3.IBucket | None) -> dict[str, cloudwatch.Alarm]:
        """Replication that fails, or lags past the plan's `late_after_minutes` (15 with Replication Time Control).

        The rule's replication metrics are always on (infra/storage.py), so both can fire with or without RTC.
        """
        replica = self.plan.storage.replica
        if source is None or replica is None:
            return {}
        from infra.replica import replica_destination

        destination = replica_destination(self.plan, Stack.of(self).account)
        dimensions = {
            "SourceBucket": source.bucket_name,
            "DestinationBucket": destination.bucket_name,
            "RuleId": f"replicate-{self.plan.name}",
        }

        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/S3",
                metric_name=name,
                dimensions_map=dimensions,
                statistic=statistic,
                period=Duration.minutes(5),
            )

        failed = self._alarm(
            "Replication-failed",
            alarm_name=f"smokejumper-{self.plan.name}-replication-failed",
            alarm_description=(
                f"Objects of plan {self.plan.name} failed to replicate to {destination.bucket_name} "
                f"({destination.region}): the replica lacks them. Usually the replication role lost a grant, or a "
                "key policy changed (S3 Event Notifications of type s3:Replication:OperationFailedReplication say "
                "which object and why). Objects written before the fix are not retried by S3: S3 Batch "
                "Replication copies them."
            ),
            metric=metric("OperationsFailedReplication", "Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        why_late = (
            "Replication Time Control's promise"
            if destination.replication_time_control and replica.late_after_minutes is None
            else "storage.replica.late_after_minutes"
        )
        late = self._alarm(
            "Replication-late",
            alarm_name=f"smokejumper-{self.plan.name}-replication-late",
            alarm_description=(
                f"Replication of plan {self.plan.name} to {destination.bucket_name} lags more than "
                f"{destination.late_after_minutes} minutes for 15 minutes "
                f"({why_late}): "
                "the replica is behind the primary by that much."
            ),
            metric=metric("ReplicationLatency", "Maximum"),
            threshold=destination.late_after_minutes * 60,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return {"failed": failed, "late": late}

    # --- dashboard -------------------------------------------------------------------------------

    def _dashboard(self) -> cloudwatch.Dashboard:
        hourly = Duration.hours(1)
        items = self.items
        machine = self.state_machine
        alarms = [
            *self.execution_alarms.values(),
            *self.staleness_alarms.values(),
            *self.restore_test_alarms.values(),
            *self.replication_alarms.values(),
        ]
        windows = ", ".join(f"{item.path} {self.windows[item.path].periods} h" for item in items)
        header = cloudwatch.TextWidget(
            markdown=(
                f"# smokejumper {self.plan.name}\n"
                "Last success is a Unix time in seconds (`date -ud @N`); a staleness alarm goes off when an "
                f"item has no success for its window ({windows}). "
            ),
            width=24,
            height=2,
        )
        return cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"smokejumper-{self.plan.name}",
            default_interval=Duration.days(7),
            widgets=[
                [header],
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms",
                        alarms=alarms,
                        width=24,
                        height=2 + len(alarms) // 4,
                        sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
                    )
                ],
                [
                    cloudwatch.SingleValueWidget(
                        title="Last successful backup per item (LastSuccessTimestamp, Maximum over 7 days)",
                        metrics=[
                            self.item_metric("LastSuccessTimestamp", item, "Maximum", hourly, label=item.path)
                            for item in items
                        ],
                        start="-P7D",
                        set_period_to_time_range=True,
                        full_precision=True,
                        width=24,
                        height=4,
                    )
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Backup size per item (BackupBytes)",
                        left=[
                            self.item_metric("BackupBytes", item, "Maximum", hourly, label=item.path) for item in items
                        ],
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Backup duration per item, seconds (BackupSeconds)",
                        left=[
                            self.item_metric("BackupSeconds", item, "Maximum", hourly, label=item.path)
                            for item in items
                        ],
                        width=12,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Successful backups per item and hour (BackupSucceeded, Sum; a failure adds 0)",
                        left=[
                            self.item_metric("BackupSucceeded", item, "Sum", hourly, label=item.path) for item in items
                        ],
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Runs: committed, succeeded, and executions that failed, timed out or were stopped",
                        left=[
                            self.run_metric("SampleCount", "runs committed"),
                            self.run_metric("Sum", "runs succeeded"),
                            machine.metric_failed(period=hourly, statistic="Sum", label="executions failed"),
                            machine.metric_timed_out(period=hourly, statistic="Sum", label="executions timed out"),
                            machine.metric_aborted(period=hourly, statistic="Sum", label="executions aborted"),
                        ],
                        width=12,
                    ),
                ],
            ],
        )

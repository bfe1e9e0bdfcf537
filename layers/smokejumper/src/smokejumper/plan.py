"""The backup plan: what to back up, when, where, and how long to keep it.

A plan is a YAML file checked by the pydantic models below. Every model forbids
unknown keys, so a typo is an error rather than a silently ignored setting.
`load_plan` never lets a pydantic traceback through: each problem becomes a
`PlanProblem` with its location in the file (`databases[2].port`), a message
that shows the bad value, and a hint where one helps; `PlanError` lists all of
them at once so a plan can be fixed in one pass.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import os
import re
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import annotated_types
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from smokejumper.errors import SmokejumperError
from smokejumper.targets import DEFAULT_PORTS, SslMode, is_loopback_http

# ---------------------------------------------------------------------------
# Problems and the error that carries them


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong with a plan, and where."""

    location: str
    message: str
    hint: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.line is not None and not self.location.startswith("line "):
            text += f" (line {self.line})"
        if self.hint:
            text += f"; hint: {self.hint}"
        return text


class PlanError(SmokejumperError):
    """A plan that cannot be used; `problems` lists everything found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[PlanProblem], *, source: str) -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        heading = f"{source}: the backup plan has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([heading, *(f"  {problem}" for problem in self.problems)]))


class _Invalid(ValueError):
    """A field validator's complaint; pydantic keeps the instance, so the hint survives."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _problem(loc: tuple[str | int, ...], message: str, value: Any, hint: str | None = None) -> InitErrorDetails:
    """A pydantic error detail that keeps our own message and hint (see _translate)."""
    # The template only interpolates ctx, so braces in the user's values are safe.
    error = PydanticCustomError("plan", "{message}", {"message": message, "hint": hint})
    return {"type": error, "loc": loc, "input": value}


def _raise_problems(title: str, details: list[InitErrorDetails]) -> None:
    # A ValidationError raised inside a validator is merged into the outer one
    # with its locations prefixed, so cross-field checks can point at a field.
    if details:
        raise ValidationError.from_exception_data(title, details)


def _show(value: Any) -> str:
    """A value as the plan's author wrote it (YAML spelling), shortened."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------
# Field checks shared by the models


def _matching(pattern: str, *, what: str, example: str, hint: str | None = None) -> Any:
    """A string type that must match `pattern`; errors name the thing, not the regex."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise _Invalid(f"not a valid {what}: {value!r}", hint=hint or f"expected something like {example!r}")
        return value

    # JSON Schema patterns are unanchored searches; fullmatch is what the check does.
    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"pattern": f"^(?:{pattern})$"})]


_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_ACCOUNT = r"\d{12}"
_PARTITION = r"arn:aws(?:-[a-z]+)*"

# Names become S3 key prefixes, metric dimensions and Step Functions inputs.
Name = _matching(
    r"[a-z0-9][a-z0-9-]{0,62}",
    what="name",
    example="cf-prod",
    hint="use 1 to 63 lowercase letters, digits and '-', starting with a letter or digit",
)
SecretArn = _matching(
    rf"{_PARTITION}:secretsmanager:{_REGION}:{_ACCOUNT}:secret:[A-Za-z0-9/_+=.@-]+",
    what="Secrets Manager secret ARN",
    example="arn:aws:secretsmanager:eu-west-1:111111111111:secret:cf/ccdb-AbCdEf",
    hint="give the full ARN, e.g. from `aws secretsmanager describe-secret --secret-id NAME --query ARN`",
)
SnsTopicArn = _matching(
    rf"{_PARTITION}:sns:{_REGION}:{_ACCOUNT}:[A-Za-z0-9_-]{{1,256}}",
    what="SNS topic ARN",
    example="arn:aws:sns:eu-west-1:111111111111:platform-alerts",
)
VpcId = _matching(r"vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})", what="VPC id", example="vpc-0a1b2c3d4e5f67890")
SubnetId = _matching(r"subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})", what="subnet id", example="subnet-0a1b2c3d4e5f67890")
SecurityGroupId = _matching(
    r"sg-(?:[0-9a-f]{8}|[0-9a-f]{17})", what="security group id", example="sg-0a1b2c3d4e5f67890"
)
AccountId = _matching(_ACCOUNT, what="AWS account id", example="111111111111", hint="12 digits, quoted")
Region = _matching(_REGION, what="AWS region", example="eu-west-1")
Email = _matching(r"[^@\s]+@[^@\s]+\.[^@\s]+", what="e-mail address", example="platform-oncall@example.com")
TagKey = _matching(
    r"[\w .:/=+\-@]{1,128}", what="tag key", example="kubernetes.io/cluster/cf-prod", hint="1 to 128 characters"
)

_KMS_KEY_ARN = re.compile(
    rf"{_PARTITION}:kms:{_REGION}:{_ACCOUNT}:key/"
    r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
)
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def _known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _Invalid(f"unknown time zone {value!r}", hint="use an IANA name like 'Europe/Berlin' or 'UTC'") from exc
    return value


TimeZone = Annotated[str, AfterValidator(_known_time_zone)]


def _etcd_url(value: str) -> str:
    hint = (
        "etcd is reached over TLS: write https://HOST:PORT, e.g. https://10.0.1.10:2379 "
        "(http:// only for an etcd on this machine: 127.0.0.1, ::1 or localhost)"
    )
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise _Invalid(f"not a valid URL: {value!r} ({exc})", hint=hint) from exc
    if not url.hostname or not (url.scheme == "https" or is_loopback_http(value)):
        raise _Invalid(f"must be an https:// URL, got {value!r}", hint=hint)
    if url.path not in ("", "/") or url.query or url.fragment or url.username:
        raise _Invalid(f"must be just {url.scheme}://HOST:PORT, got {value!r}", hint=hint)
    return value


EtcdUrl = Annotated[str, AfterValidator(_etcd_url)]

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _host(value: str) -> str:
    hint = "give only the host name or IP address; the port goes in 'port'"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return value
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise _Invalid(f"not a valid host name or IP address: {value!r}", hint=hint)
    return value


Host = Annotated[str, AfterValidator(_host)]


# ---------------------------------------------------------------------------
# EventBridge Scheduler cron expressions


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    # L, W and # forms, valid only in some fields; group "value" is a day to range-check
    special: re.Pattern[str] | None = None


_CRON_FIELDS = (
    _CronField("minutes", 0, 59),
    _CronField("hours", 0, 23),
    _CronField("day-of-month", 1, 31, special=re.compile(r"L|LW|(?P<value>\d{1,2})W")),
    _CronField(
        "month",
        1,
        12,
        names=tuple(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
    ),
    _CronField(
        "day-of-week",
        1,
        7,
        names=tuple(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
        special=re.compile(r"L|(?P<value>\w{1,3})(?:L|#[1-5])"),
    ),
    _CronField("year", 1970, 2199),
)
_CRON_HINT = (
    "EventBridge Scheduler cron has 6 fields: minutes hours day-of-month month day-of-week year, "
    "and exactly one of day-of-month and day-of-week is '?', e.g. cron(0 2 * * ? *) for 02:00 every day"
)


def _cron_value(field: _CronField, token: str) -> int:
    if token.isdigit():
        value = int(token)
    elif token.upper() in field.names:
        value = field.names.index(token.upper()) + field.low
    else:
        raise _Invalid(f"{field.name} {token!r} is not a number", hint=_CRON_HINT)
    if not field.low <= value <= field.high:
        raise _Invalid(f"{field.name} must be {field.low}..{field.high}, got {value}", hint=_CRON_HINT)
    return value


def _check_cron_field(field: _CronField, text: str) -> None:
    if text == "?":
        if field.name not in ("day-of-month", "day-of-week"):
            raise _Invalid(f"'?' is allowed only in day-of-month or day-of-week, not in {field.name}")
        return
    for item in text.split(","):
        special = field.special.fullmatch(item) if field.special else None
        if special:
            if special.group("value") is not None:
                _cron_value(field, special.group("value"))
            continue
        base, slash, step = item.partition("/")
        if slash and (not step.isdigit() or int(step) < 1):
            raise _Invalid(f"{field.name} step {step!r} must be a whole number >= 1", hint=_CRON_HINT)
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        start = _cron_value(field, first)
        if dash and _cron_value(field, last) < start:
            raise _Invalid(f"{field.name} range {base!r} runs backwards", hint=_CRON_HINT)


def _cron(expression: str) -> str:
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if not match:
        raise _Invalid(f"must be written cron(...), got {expression!r}", hint=_CRON_HINT)
    fields = match.group(1).split()
    if len(fields) != len(_CRON_FIELDS):
        raise _Invalid(f"cron needs 6 fields, got {len(fields)} in {expression!r}", hint=_CRON_HINT)
    try:
        for field, text in zip(_CRON_FIELDS, fields, strict=True):
            _check_cron_field(field, text)
    except _Invalid as exc:
        raise _Invalid(f"bad cron expression {expression!r}: {exc}", hint=exc.hint or _CRON_HINT) from exc
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise _Invalid(
            f"bad cron expression {expression!r}: exactly one of day-of-month and day-of-week must be '?'",
            hint="cron(0 2 * * ? *) runs every day at 02:00, cron(0 2 ? * MON *) every Monday",
        )
    return expression.strip()


Cron = Annotated[str, AfterValidator(_cron), Field(examples=["cron(0 2 * * ? *)"])]


# ---------------------------------------------------------------------------
# The models

_CONFIG = ConfigDict(extra="forbid", frozen=True)


class RetentionPolicy(BaseModel):
    """Grandfather-father-son retention, with a floor of good runs never deleted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    daily: int = Field(default=7, ge=0, description="newest good run of each of the last N days")
    weekly: int = Field(default=4, ge=0, description="newest good run of each of the last N ISO weeks")
    monthly: int = Field(default=6, ge=0, description="newest good run of each of the last N months")
    min_keep: int = Field(default=3, ge=1, description="the newest N good runs are kept whatever their age")
    time_zone: str = Field(default="UTC", description="IANA zone in which days, weeks and months are counted")
    uncommitted_grace_hours: int = Field(
        default=48,
        ge=1,
        description="a run directory with no manifest (a run that died) is swept only this long after it started",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'") from exc
        return value


class Deployment(BaseModel):
    """Where the stack goes; cdk.json's context supplies what is left out."""

    model_config = _CONFIG

    account: AccountId | None = Field(default=None, description="AWS account id (12 digits, quoted)")
    region: Region | None = Field(default=None, description="AWS region, e.g. eu-west-1")


class Schedule(BaseModel):
    """When a component is backed up: an EventBridge Scheduler cron in a time zone."""

    model_config = _CONFIG

    cron: Cron = Field(description="EventBridge Scheduler cron, e.g. cron(0 2 * * ? *)")
    time_zone: TimeZone = Field(default="UTC", description="IANA time zone the cron is read in")


class Schedules(BaseModel):
    """One schedule per component; a component that is configured must have one."""

    model_config = _CONFIG

    etcd: Schedule | None = None
    databases: Schedule | None = None
    volumes: Schedule | None = None


# Only classes a restore can read at once: GLACIER and DEEP_ARCHIVE objects must be
# restored (hours) before they can be read, which a smoking-hole restore cannot wait for.
ArchiveStorageClass = Literal["GLACIER_IR", "STANDARD_IA", "INTELLIGENT_TIERING"]
# S3 lifecycle refuses to move objects to the infrequent-access classes before 30 days.
_MIN_ARCHIVE_DAYS = {"GLACIER_IR": 1, "STANDARD_IA": 30, "INTELLIGENT_TIERING": 1}


class Replica(BaseModel):
    """A second copy of every run in another region (and, with `account`, another account): replicated as it is
    written, never deleted with the primary's runs (delete markers are not replicated), kept by its own lifecycle."""

    model_config = _CONFIG

    region: Region = Field(description="the replica's region; not the plan's own")
    account: AccountId | None = Field(
        default=None,
        description="another account to hold the replica (the air gap: the plan's account cannot delete it); "
        "default: the plan's own",
    )
    bucket_name: str | None = Field(
        default=None, description="default: smokejumper-PLAN-replica-ACCOUNT (a name the primary stack can know)"
    )
    kms_key: str = Field(
        default="create", description="'create' for a new key there, or a KMS key ARN of that region and account"
    )
    object_lock_days: int | None = Field(
        default=None, ge=1, le=36500, description="Object Lock COMPLIANCE retention of the replica; omit for no lock"
    )
    replication_time_control: bool = Field(
        default=False, description="S3 Replication Time Control: 99.99% of objects within 15 minutes, billed extra"
    )
    late_after_minutes: int | None = Field(
        default=None,
        ge=15,
        le=1440,
        description="replication lagging this long alarms (default: 15 with replication_time_control, else 240: "
        "without it S3 replicates most objects within minutes but promises no time)",
    )
    expire_after_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="a run's objects expire from the replica this long after they were written "
        "(default: the retention's longest window plus 31 days)",
    )

    _valid_bucket_name = field_validator("bucket_name")(lambda cls, value: _bucket_name(value))

    @model_validator(mode="after")
    def _key_of_the_region(self) -> Replica:
        if self.kms_key != "create" and not _KMS_KEY_ARN.fullmatch(self.kms_key):
            _raise_problems(
                "Replica",
                [
                    _problem(
                        ("kms_key",),
                        f"must be 'create' or a KMS key ARN, got {self.kms_key!r}",
                        self.kms_key,
                        hint=f"arn:aws:kms:{self.region}:111111111111:key/<uuid>, a key of {self.region}",
                    )
                ],
            )
        if self.kms_key != "create":
            _raise_problems("Replica", _kms_key_in(self.region, self.kms_key))
        return self

    def bucket_in(self, plan_name: str, deployment_account: str) -> str:
        """The replica bucket's name, as both stacks and the restore's messages give it (no reference across them)."""
        name = self.bucket_name or f"smokejumper-{plan_name}-replica-{self.in_account(deployment_account)}"
        if len(name) > 63:  # a long plan name: shortened, a digest keeps it unique
            name = f"{name[:52]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
        return name

    def in_account(self, deployment_account: str) -> str:
        """The account holding the replica: its own, else the plan's."""
        return self.account or deployment_account

    def is_cross_account(self, deployment_account: str) -> bool:
        return self.in_account(deployment_account) != deployment_account

    @property
    def late_after(self) -> int:
        """Minutes of replication latency that alarm."""
        if self.late_after_minutes is not None:
            return self.late_after_minutes
        return 15 if self.replication_time_control else 240

    def expiry_days(self, retention: RetentionPolicy) -> int:
        """How long a run stays in the replica: at least as long as the primary may keep it, and a month more."""
        if self.expire_after_days is not None:
            return self.expire_after_days
        return max(retention.daily, 7 * retention.weekly, 31 * retention.monthly, 1) + 31


def _bucket_name(value: str | None) -> str | None:
    if value is None:
        return value
    if "." in value:
        # Dots break TLS to virtual-hosted bucket names (*.s3.amazonaws.com).
        raise _Invalid(f"bucket name {value!r} has a dot", hint="use '-' instead: TLS is required")
    if not _BUCKET_NAME.fullmatch(value) or "--" in value[:4] or value.endswith("-s3alias"):
        raise _Invalid(
            f"not a valid S3 bucket name: {value!r}",
            hint="3 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        )
    return value


class Storage(BaseModel):
    """The backup bucket, its key and its lifecycle."""

    model_config = _CONFIG

    bucket_name: str | None = Field(default=None, description="omit to let CloudFormation generate a name")
    kms_key: str = Field(default="create", description="'create' for a new key, or an existing KMS key ARN")
    object_lock_days: int | None = Field(
        default=None, ge=1, le=36500, description="Object Lock COMPLIANCE retention; omit for no lock"
    )
    archive_after_days: int | None = Field(
        default=None, ge=1, description="move objects to archive_storage_class after N days; omit to never"
    )
    archive_storage_class: ArchiveStorageClass = Field(
        default="GLACIER_IR", description="colder class; GLACIER_IR bills at least 90 days per object"
    )
    noncurrent_expire_days: int = Field(
        default=30, ge=1, description="grace period before deleted or overwritten versions are removed"
    )
    access_logs_expire_days: int = Field(default=365, ge=1, description="how long S3 access logs are kept")
    replica: Replica | None = Field(default=None, description="a copy of every run in a second region")

    @property
    def creates_key(self) -> bool:
        return self.kms_key == "create"

    _valid_bucket_name = field_validator("bucket_name")(lambda cls, value: _bucket_name(value))

    @field_validator("kms_key")
    @classmethod
    def _create_or_arn(cls, value: str) -> str:
        if value != "create" and not _KMS_KEY_ARN.fullmatch(value):
            raise _Invalid(
                f"must be 'create' or a KMS key ARN, got {value!r}",
                hint="arn:aws:kms:eu-west-1:111111111111:key/<uuid>; an alias is not enough for key grants",
            )
        return value

    @model_validator(mode="after")
    def _archive_late_enough(self) -> Storage:
        minimum = _MIN_ARCHIVE_DAYS[self.archive_storage_class]
        if self.archive_after_days is not None and self.archive_after_days < minimum:
            _raise_problems(
                "Storage",
                [
                    _problem(
                        ("archive_after_days",),
                        f"must be at least {minimum} for {self.archive_storage_class}, got {self.archive_after_days}",
                        self.archive_after_days,
                        hint="S3 lifecycle moves objects to infrequent-access classes only after 30 days",
                    )
                ],
            )
        return self


class Network(BaseModel):
    """Where the backup functions run: private subnets that reach the databases and etcd."""

    model_config = _CONFIG

    vpc_id: VpcId
    subnet_ids: list[SubnetId] = Field(min_length=1, description="private subnets, one per AZ is plenty")
    security_group_ids: list[SecurityGroupId] = Field(
        default_factory=list, description="groups the sources admit; omit to let the stack create one"
    )

    @model_validator(mode="after")
    def _no_repeats(self) -> Network:
        _raise_problems(
            "Network",
            [*_repeats("subnet_ids", self.subnet_ids), *_repeats("security_group_ids", self.security_group_ids)],
        )
        return self


class EtcdCluster(BaseModel):
    """An etcd cluster, snapshotted through one of its endpoints."""

    model_config = _CONFIG

    name: Name
    endpoints: list[EtcdUrl] = Field(
        min_length=1, description="client URLs, https://HOST:2379 (http:// only on 127.0.0.1, ::1 or localhost)"
    )
    tls_secret_arn: SecretArn | None = Field(
        default=None,
        description="secret with the CA and a client certificate and key; only a loopback http:// etcd needs none",
    )

    @model_validator(mode="after")
    def _no_repeats(self) -> EtcdCluster:
        problems = list(_repeats("endpoints", self.endpoints))
        if self.tls_secret_arn is None and not all(is_loopback_http(url) for url in self.endpoints):
            problems.append(
                _problem(
                    ("tls_secret_arn",),
                    "required, but missing: https:// endpoints need the CA and a client certificate",
                    None,
                    hint="add tls_secret_arn: the ARN of a secret holding JSON {ca, cert, key} as PEM",
                )
            )
        _raise_problems("EtcdCluster", problems)
        return self


class DatabaseTls(BaseModel):
    """How a database connection is secured; verify-full unless said otherwise."""

    model_config = _CONFIG

    mode: SslMode = Field(
        default="verify-full",
        description="libpq's modes: verify-full (default), verify-ca, require, prefer, disable",
    )
    ca_bundle_path: str | None = Field(default=None, description="PEM file readable where backups run")
    ca_bundle_secret_arn: SecretArn | None = Field(default=None, description="secret holding the PEM bundle")

    @model_validator(mode="after")
    def _one_ca_source(self) -> DatabaseTls:
        problems = []
        if self.ca_bundle_path and self.ca_bundle_secret_arn:
            problems.append(
                _problem(
                    ("ca_bundle_secret_arn",),
                    "give either ca_bundle_path or ca_bundle_secret_arn, not both",
                    self.ca_bundle_secret_arn,
                )
            )
        if self.mode in ("disable", "prefer") and (self.ca_bundle_path or self.ca_bundle_secret_arn):
            what = "TLS would be off" if self.mode == "disable" else "prefer never checks certificates"
            problems.append(
                _problem(
                    ("mode",),
                    f"is {self.mode!r} but a CA bundle is given: {what}",
                    self.mode,
                    hint="use verify-full",
                )
            )
        _raise_problems("DatabaseTls", problems)
        return self


def _port_is_optional(schema: dict[str, Any]) -> None:
    # A before-validator fills in the engine's port, so the schema must not demand it.
    schema["required"] = [name for name in schema.get("required", []) if name != "port"]


Port = Annotated[int, Field(ge=1, le=65535, description="default: 5432 for postgres, 3306 for mysql")]


class _DatabaseServer(BaseModel):
    """What a plan's database and a restore server share: an engine's server, its port defaulting to the engine's."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_port_is_optional)

    @model_validator(mode="before")
    @classmethod
    def _default_port(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "port" not in data and data.get("engine") in DEFAULT_PORTS:
            return {**data, "port": DEFAULT_PORTS[data["engine"]]}
        return data


class Database(_DatabaseServer):
    """A PostgreSQL or MySQL database dumped as plain SQL."""

    name: Name = Field(description="the plan's name for it: the S3 prefix and what restores ask for")
    engine: Literal["postgres", "mysql"]
    host: Host
    port: Port
    database: str = Field(min_length=1, max_length=64, description="the database's name on the server")
    credentials_secret_arn: SecretArn = Field(description="secret with 'username' and 'password'")
    tls: DatabaseTls = Field(default_factory=DatabaseTls)


class RestoreServer(_DatabaseServer):
    """A database server restores may write into, besides the servers of the plan's own databases."""

    engine: Literal["postgres", "mysql"]
    host: Host
    port: Port
    credentials_secret_arn: SecretArn = Field(description="secret with 'username' and 'password' of that server")
    tls: DatabaseTls = Field(default_factory=DatabaseTls)


class Restores(BaseModel):
    """Where restores may go: a restore never writes to a server the plan does not name."""

    model_config = _CONFIG

    servers: list[RestoreServer] = Field(
        default_factory=list,
        description="database servers restores may write into, besides the servers of the plan's databases",
    )


class RestoreTests(BaseModel):
    """Every good run proven restorable: its databases restored into scratch databases and judged."""

    model_config = _CONFIG

    schedule: Schedule | None = Field(
        default=None, description="when the restore-test state machine tests the latest good run"
    )
    scratch: list[RestoreServer] = Field(
        default_factory=list,
        description="one server per engine the tests restore into (smokejumper_rt_* databases, dropped after)",
    )
    within_hours: int = Field(
        default=48,
        ge=1,
        le=168,
        description="the alarm fires when no restore test passed within this many hours (CloudWatch: 7 days at most)",
    )

    @model_validator(mode="after")
    def _one_server_per_engine(self) -> RestoreTests:
        seen: dict[str, int] = {}
        problems = []
        for index, server in enumerate(self.scratch):
            if server.engine in seen:
                problems.append(
                    _problem(
                        ("scratch", index, "engine"),
                        f"a second {server.engine} scratch server (also scratch[{seen[server.engine]}])",
                        server.engine,
                        hint="one scratch server per engine",
                    )
                )
            seen.setdefault(server.engine, index)
        _raise_problems("RestoreTests", problems)
        return self

    def server_for(self, engine: str) -> RestoreServer | None:
        return next((server for server in self.scratch if server.engine == engine), None)


class TagFilter(BaseModel):
    """A tag a volume must carry, with any of the given values ('*' is a wildcard)."""

    model_config = _CONFIG

    key: TagKey
    values: list[str] = Field(min_length=1)


# Kubernetes namespace names (RFC 1123 labels).
Namespace = _matching(
    r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", what="Kubernetes namespace", example="cf-system", hint="an RFC 1123 label"
)


def _kms_key_in(region: str, key: str) -> list[InitErrorDetails]:
    """A KMS key ARN of `region`: EBS encrypts with a key of the region the snapshot lives in."""
    if not _KMS_KEY_ARN.fullmatch(key):
        return [
            _problem(
                ("kms_key",),
                f"not a KMS key ARN: {key!r}",
                key,
                hint=f"arn:aws:kms:{region}:111111111111:key/<uuid>, a key of {region}",
            )
        ]
    key_region = key.split(":")[3]
    if key_region != region:
        return [
            _problem(
                ("kms_key",),
                f"the key is in {key_region}, the copies in {region}",
                key,
                hint=f"EBS encrypts a snapshot with a key of its own region: give a key of {region}",
            )
        ]
    return []


class SnapshotCopy(BaseModel):
    """A copy of every snapshot of the run in a second region, encrypted with a key of that region."""

    model_config = _CONFIG

    region: Region = Field(description="the region the copies go to; not the plan's own")
    kms_key: str = Field(description="KMS key ARN in that region that encrypts the copies")
    source_kms_keys: list[str] = Field(
        default_factory=list,
        description="customer-managed KMS keys (ARNs, in the plan's region) that encrypt the selected volumes: "
        "copying reads through them. Not needed for the AWS managed key aws/ebs",
    )

    @model_validator(mode="after")
    def _key_of_the_region(self) -> SnapshotCopy:
        problems = _kms_key_in(self.region, self.kms_key)
        for index, key in enumerate(self.source_kms_keys):
            if not _KMS_KEY_ARN.fullmatch(key):
                problems.append(
                    _problem(
                        ("source_kms_keys", index),
                        f"not a KMS key ARN: {key!r}",
                        key,
                        hint="the key ARN of a volume's KmsKeyId (aws ec2 describe-volumes), not an alias",
                    )
                )
        _raise_problems("SnapshotCopy", problems)
        return self


class SnapshotLock(BaseModel):
    """EBS Snapshot Lock in compliance mode: nobody, root included, deletes a run's snapshots for `days`."""

    model_config = _CONFIG

    days: int = Field(ge=1, le=36500, description="how long each snapshot (and its copy) stays locked")
    cool_off_hours: int = Field(
        default=0,
        ge=0,
        le=72,
        description="hours during which a lock can still be undone (0: none, the lock is final at once)",
    )


class VolumeSelector(BaseModel):
    """EBS volumes carrying all of these tags (a volume matching several selectors is taken once)."""

    model_config = _CONFIG

    name: Name
    tags: list[TagFilter] = Field(min_length=1)
    namespaces: list[Namespace] = Field(
        default_factory=list, description="only PVCs of these namespaces (empty: every namespace)"
    )
    exclude_namespaces: list[Namespace] = Field(default_factory=list, description="never PVCs of these namespaces")
    attached_only: bool = Field(default=False, description="leave out volumes attached to no instance")
    copy_tags: list[TagKey] = Field(
        default_factory=list,
        description="the volume's own tags to carry onto its snapshots, besides the PV/PVC tags (always carried)",
    )
    poll_seconds: int = Field(default=30, ge=5, le=3600, description="the workflow's wait between two looks")
    timeout_minutes: int = Field(
        default=120, ge=1, le=1440, description="a snapshot (or its copy) not completed by then fails its item"
    )
    copy_to: SnapshotCopy | None = Field(
        default=None, description="copy every snapshot to a second region; the run is good once the copies are"
    )
    lock: SnapshotLock | None = Field(
        default=None, description="lock every snapshot and copy (EBS Snapshot Lock, compliance mode)"
    )

    @model_validator(mode="after")
    def _namespaces_agree(self) -> VolumeSelector:
        both = sorted(set(self.namespaces) & set(self.exclude_namespaces))
        if both:
            _raise_problems(
                "VolumeSelector",
                [_problem(("exclude_namespaces",), f"both included and excluded: {', '.join(both)}", both)],
            )
        return self


class Notifications(BaseModel):
    """Who hears about failed or stale backups."""

    model_config = _CONFIG

    emails: list[Email] = Field(default_factory=list)
    topic_arn: SnsTopicArn | None = Field(default=None, description="an existing topic to publish to as well")

    @model_validator(mode="after")
    def _no_repeats(self) -> Notifications:
        _raise_problems("Notifications", list(_repeats("emails", self.emails)))
        return self


PlanName = _matching(
    r"[a-z0-9][a-z0-9-]{0,62}",
    what="plan name",
    example="cf-prod",
    hint="the name is the S3 prefix of every run: 1 to 63 lowercase letters, digits and '-'",
)


class Plan(BaseModel):
    """A whole backup plan."""

    model_config = _CONFIG

    name: PlanName = Field(description="plan name; the S3 prefix and part of the stack name")
    description: str = ""
    deployment: Deployment = Field(default_factory=Deployment)
    schedules: Schedules = Field(default_factory=Schedules)
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    storage: Storage = Field(default_factory=Storage)
    network: Network | None = Field(default=None, description="required when etcd or databases are listed")
    etcd: list[EtcdCluster] = Field(default_factory=list)
    databases: list[Database] = Field(default_factory=list)
    volumes: list[VolumeSelector] = Field(default_factory=list)
    notifications: Notifications = Field(default_factory=Notifications)
    restores: Restores = Field(default_factory=Restores)
    restore_tests: RestoreTests | None = Field(
        default=None, description="restore every good run's databases into scratch databases and judge them"
    )
    concurrency: int = Field(
        default=2,
        ge=1,
        le=40,
        description="items of one run backed up at once (by `backup run` and by the workflow's Map)",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _check_across_sections(cls, data: Any, handler: ModelWrapValidatorHandler[Plan]) -> Plan:
        # These checks read the raw mapping so that they are reported together
        # with field errors elsewhere, rather than only once those are fixed.
        across = list(_cross_section_problems(data)) if isinstance(data, Mapping) else []
        try:
            plan = handler(data)
        except ValidationError as exc:
            if not across:
                raise
            found = [_reraisable(error) for error in exc.errors()]
            raise ValidationError.from_exception_data(cls.__name__, [*found, *across]) from None
        _raise_problems(cls.__name__, across)
        return plan


def _reraisable(error: Any) -> Any:
    """An error from ValidationError.errors() in the form from_exception_data accepts."""
    # pydantic's own error types are known by name; ours must be rebuilt.
    if error["type"] == "plan":
        return _problem(tuple(error["loc"]), error["ctx"]["message"], error["input"], error["ctx"].get("hint"))
    return error


def _repeats(field: str, values: list[str]) -> Iterator[InitErrorDetails]:
    first_seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first_seen:
            yield _problem((field, index), f"{value!r} is listed twice (also {field}[{first_seen[value]}])", value)
        first_seen.setdefault(value, index)


# The plan's sections a run backs up, and what each one lists.
COMPONENT_SECTIONS = {"etcd": "etcd clusters", "databases": "databases", "volumes": "volume selectors"}


def _cross_section_problems(data: Mapping[str, Any]) -> Iterator[InitErrorDetails]:
    configured = {key: data.get(key) for key in COMPONENT_SECTIONS if isinstance(data.get(key), list) and data.get(key)}
    if not configured:
        yield _problem((), "nothing to back up: list etcd clusters, databases or volumes", None)
    for key, items in configured.items():
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, Mapping) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                yield _problem(
                    (key, index, "name"),
                    f"duplicate name {name!r} (also {key}[{seen[name]}])",
                    name,
                    hint="names are S3 prefixes and restore targets, so each must be unique",
                )
            seen.setdefault(name, index)
    schedules = data.get("schedules")
    for key, items in configured.items():
        if schedules is None or (isinstance(schedules, Mapping) and schedules.get(key) is None):
            yield _problem(
                ("schedules", key),
                f"missing: {COMPONENT_SECTIONS[key]} are listed ({len(items)}) but have no schedule",
                None,
                hint=f"add schedules.{key}: {{cron: 'cron(0 2 * * ? *)', time_zone: UTC}}",
            )
    if data.get("network") is None and ("etcd" in configured or "databases" in configured):
        yield _problem(
            ("network",),
            "missing: etcd clusters and databases are reached from the plan's private subnets",
            None,
            hint="add network: {vpc_id: vpc-..., subnet_ids: [subnet-...]}",
        )
    yield from _copy_problems(data)
    yield from _replica_problems(data)


def _replica_problems(data: Mapping[str, Any]) -> Iterator[InitErrorDetails]:
    """The replica is in another region than the plan's own (a copy in the same region does not survive it)."""
    deployment = data.get("deployment") if isinstance(data.get("deployment"), Mapping) else {}
    storage = data.get("storage") if isinstance(data.get("storage"), Mapping) else {}
    replica = storage.get("replica") if isinstance(storage.get("replica"), Mapping) else None
    if replica is None:
        return
    region, account = deployment.get("region"), deployment.get("account")
    if region is not None and replica.get("region") == region:
        yield _problem(
            ("storage", "replica", "region"),
            f"the replica must be in another region than the plan's own ({region})",
            region,
            hint="a replica in the same region does not survive the region; name a second region",
        )
    key = replica.get("kms_key", "create")
    replica_account = replica.get("account")
    if not (isinstance(replica_account, str) and re.fullmatch(_ACCOUNT, replica_account)):
        replica_account = None  # absent, or refused on its own line already
    if replica_account is not None and replica_account != account and key == "create":
        yield _problem(
            ("storage", "replica", "kms_key"),
            f"a replica in another account ({replica_account}) needs the ARN of a key there, not 'create'",
            key,
            hint=(
                "S3 names the replica's key by its ARN (an alias resolves in the plan's account), and a key made "
                f"by the replica's stack has none until it exists: create a key in {replica_account} and "
                f"{replica.get('region', 'its region')} first (the README shows how), then give its ARN"
            ),
        )
    holder = replica_account or account
    if holder is not None and isinstance(key, str) and _KMS_KEY_ARN.fullmatch(key) and key.split(":")[4] != holder:
        yield _problem(
            ("storage", "replica", "kms_key"),
            f"the key belongs to account {key.split(':')[4]}, the replica is in {holder}",
            key,
            hint=(
                f"give a key of account {holder}, where the replica is"
                if replica_account
                else "the replica is in the plan's own account (no storage.replica.account): give a key of that account"
            ),
        )


def _copy_problems(data: Mapping[str, Any]) -> Iterator[InitErrorDetails]:
    """A selector's copies go to another region of the plan's own account (CopySnapshot copies within one)."""
    deployment = data.get("deployment") if isinstance(data.get("deployment"), Mapping) else {}
    region, account = deployment.get("region"), deployment.get("account")
    volumes = data.get("volumes") if isinstance(data.get("volumes"), list) else []
    for index, selector in enumerate(volumes):
        copy = selector.get("copy_to") if isinstance(selector, Mapping) else None
        if not isinstance(copy, Mapping):
            continue
        if region is not None and copy.get("region") == region:
            yield _problem(
                ("volumes", index, "copy_to", "region"),
                f"the copies must go to another region than the plan's own ({region})",
                region,
                hint="a copy in the same region does not survive the region; name a second region",
            )
        key = copy.get("kms_key")
        if account is not None and isinstance(key, str) and _KMS_KEY_ARN.fullmatch(key):
            key_account = key.split(":")[4]
            if key_account != account:
                yield _problem(
                    ("volumes", index, "copy_to", "kms_key"),
                    f"the key belongs to account {key_account}, the plan deploys to {account}",
                    key,
                    hint="snapshots are copied within the plan's account: give a key of that account",
                )
        sources = copy.get("source_kms_keys") if isinstance(copy.get("source_kms_keys"), list) else []
        for position, source in enumerate(sources):
            key_region = source.split(":")[3] if isinstance(source, str) and _KMS_KEY_ARN.fullmatch(source) else None
            if region is not None and key_region is not None and key_region != region:
                yield _problem(
                    ("volumes", index, "copy_to", "source_kms_keys", position),
                    f"the key is in {key_region}, the volumes in {region}",
                    source,
                    hint="a volume is encrypted with a key of its own region: the plan's",
                )


# ---------------------------------------------------------------------------
# Loading


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read and check a plan file; raise PlanError listing every problem."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(
            [PlanProblem("(file)", "no such file", hint="start from the example: smokejumper's plans/example.yaml")],
            source=source,
        ) from None
    except IsADirectoryError:
        raise PlanError([PlanProblem("(file)", "is a directory, not a plan file")], source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError([PlanProblem("(file)", f"cannot be read: {exc}")], source=source) from None
    return load_plan_text(text, source=source)


def load_plan_text(text: str, source: str = "<string>") -> Plan:
    """Check a plan given as YAML text; `source` names it in error messages."""
    document = _parse_yaml(text, source)
    if document.data is None:
        raise PlanError([PlanProblem("(plan)", "the plan is empty", hint="start from the example plan")], source=source)
    if not isinstance(document.data, dict):
        raise PlanError(
            [
                PlanProblem(
                    "(plan)",
                    f"the top level must be a mapping (name: ..., databases: ...), got {_yaml_kind(document.data)}",
                    line=1,
                )
            ],
            source=source,
        )
    problems = list(document.problems)
    plan = None
    try:
        plan = Plan.model_validate(document.data)
    except ValidationError as exc:
        errors = _without_consequences(exc.errors())
        problems.extend(_translate(error, document.lines) for error in errors)
    if problems or plan is None:
        problems.sort(key=lambda problem: problem.line or 0)
        raise PlanError(problems, source=source)
    return plan


def example_plan_path() -> Path:
    """The annotated example plan shipped inside the package (the same file as plans/example.yaml)."""
    # Installed as a regular or editable package, the resource is a real file.
    return Path(str(files("smokejumper") / "data" / "example-plan.yaml"))


@dataclass(frozen=True)
class _Document:
    data: Any
    lines: dict[tuple[str | int, ...], int]  # location -> 1-based line
    problems: list[PlanProblem]


def _parse_yaml(text: str, source: str) -> _Document:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        context = exc.context
        if context and exc.context_mark and exc.context_mark.line != getattr(mark, "line", None):
            # e.g. an unclosed '{' several lines up: say where it was opened.
            context += f" (opened on line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
        reason = ": ".join(part for part in (context, exc.problem) if part)
        raise PlanError(
            [
                PlanProblem(
                    f"line {line}, column {column}" if line else "(plan)",
                    f"invalid YAML: {reason}",
                    hint="check the indentation and quoting on or just before that line",
                    line=line,
                    column=column,
                )
            ],
            source=source,
        ) from None
    except yaml.YAMLError as exc:
        raise PlanError([PlanProblem("(plan)", f"invalid YAML: {exc}")], source=source) from None
    finally:
        loader.dispose()
    lines: dict[tuple[str | int, ...], int] = {}
    problems: list[PlanProblem] = []
    if node is not None:
        _map_lines(node, (), lines, problems)
    return _Document(data, lines, problems)


def _map_lines(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    problems: list[PlanProblem],
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                # PyYAML keeps the last value silently; in a plan that hides a mistake.
                problems.append(
                    PlanProblem(
                        _format_location((*path, key)),
                        f"key {key!r} appears twice in the same mapping",
                        hint="only the last one would count; remove one",
                        line=key_node.start_mark.line + 1,
                    )
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _map_lines(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _map_lines(item, (*path, index), lines, problems)


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return f"a boolean ({_show(value)})"
    if isinstance(value, int | float):
        return f"a number ({_show(value)})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    return f"{type(value).__name__} {_show(value)}"


# ---------------------------------------------------------------------------
# Pydantic errors in the plan's words


def _format_location(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(plan)"


def _line_of(loc: tuple[str | int, ...], lines: Mapping[tuple[str | int, ...], int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _walk(loc: tuple[str | int, ...]) -> tuple[Any, FieldInfo | None]:
    """The type and field definition at a location, or (None, None) when it is not a plan field."""
    annotation: Any = Plan
    field: FieldInfo | None = None
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(part, int) and get_origin(annotation) is list:
            annotation, field = get_args(annotation)[0], None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and part in annotation.model_fields:
            field = annotation.model_fields[str(part)]
            annotation = field.annotation
        else:
            return None, None
    return _unwrap(annotation), field


def _bounds(field: FieldInfo | None) -> tuple[Any, Any]:
    low = high = None
    for constraint in field.metadata if field else ():
        if isinstance(constraint, annotated_types.Ge):
            low = constraint.ge
        elif isinstance(constraint, annotated_types.Le):
            high = constraint.le
    return low, high


def _did_you_mean(word: Any, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _without_consequences(errors: list[Any]) -> list[Any]:
    """Drop errors that only follow from another one, so the list shows causes."""
    # A database's default port comes from its engine: with an unknown engine,
    # "port missing" is noise next to "engine must be postgres or mysql".
    bad_engines = {tuple(error["loc"][:-1]) for error in errors if error["loc"][-1:] == ("engine",)}
    return [
        error
        for error in errors
        if not (error["type"] == "missing" and error["loc"][-1:] == ("port",) and error["loc"][:-1] in bad_engines)
    ]


def validation_problems(exc: ValidationError) -> list[PlanProblem]:
    """A model's validation errors in the plan's words (for inputs that are not plan files: no lines)."""
    return [_translate(error, {}) for error in exc.errors()]


def _translate(error: Mapping[str, Any], lines: Mapping[tuple[str | int, ...], int]) -> PlanProblem:
    loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    message, hint = _describe(kind, loc, value, ctx, default=error["msg"])
    return PlanProblem(_format_location(loc), message, hint, line=_line_of(loc, lines))


_TYPE_WORDS: dict[str, Callable[[Any], tuple[str, str | None]]] = {
    "int_parsing": lambda v: (f"must be a whole number, got {_show(v)}", None),
    "int_type": lambda v: (f"must be a whole number, got {_yaml_kind(v)}", None),
    "int_from_float": lambda v: (f"must be a whole number, got {_show(v)}", None),
    "bool_parsing": lambda v: (f"must be true or false, got {_show(v)}", None),
    "bool_type": lambda v: (f"must be true or false, got {_yaml_kind(v)}", None),
    "list_type": lambda v: (f"must be a list, got {_yaml_kind(v)}", "write each item on its own line as '- item'"),
    "model_type": lambda v: (f"must be a mapping of keys, got {_yaml_kind(v)}", None),
    "model_attributes_type": lambda v: (f"must be a mapping of keys, got {_yaml_kind(v)}", None),
    "dict_type": lambda v: (f"must be a mapping of keys, got {_yaml_kind(v)}", None),
}


def _describe(
    kind: str, loc: tuple[str | int, ...], value: Any, ctx: Mapping[str, Any], *, default: str
) -> tuple[str, str | None]:
    if kind == "plan":
        return ctx["message"], ctx.get("hint")
    if kind == "value_error":
        cause = ctx.get("error")
        return str(cause), getattr(cause, "hint", None)
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind](value)
    if kind == "missing":
        _, field = _walk(loc)
        return "required, but missing", field.description if field else None
    if kind == "extra_forbidden":
        parent, _ = _walk(loc[:-1])
        known = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        hint = _did_you_mean(loc[-1], known) or (f"allowed keys: {', '.join(known)}" if known else None)
        return f"unknown key {loc[-1]!r}", hint
    if kind == "literal_error":
        choices = [str(choice) for choice in get_args(_walk(loc)[0])]
        return f"must be {ctx.get('expected')}, got {_show(value)}", _did_you_mean(value, choices)
    if kind == "string_type":
        hint = "put the value in quotes: YAML reads true, no, 3.10 and the like as non-strings"
        return f"must be a string, got {_yaml_kind(value)}", hint
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(_walk(loc)[1])
        if low is not None and high is not None:
            return f"must be {low}..{high}, got {_show(value)}", None
        limit = next(iter(ctx.values()), "?")
        words = {"greater_than_equal": "at least", "less_than_equal": "at most"}
        return f"must be {words.get(kind, kind.replace('_', ' '))} {limit}, got {_show(value)}", None
    if kind in ("too_short", "too_long"):
        words = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"must have {words} {limit} item{'s' if limit != 1 else ''}, got {ctx.get('actual_length')}", None
    if kind in ("string_too_short", "string_too_long"):
        words = "at least" if kind == "string_too_short" else "at most"
        limit = ctx.get("min_length" if kind == "string_too_short" else "max_length")
        return f"must be {words} {limit} characters, got {_show(value)}", None
    return f"{default}, got {_show(value)}", None

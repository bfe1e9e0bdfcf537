"""The backup plan: the example loads, and every mistake is reported where it is."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from smokejumper.errors import SmokejumperError
from smokejumper.plan import (
    Plan,
    PlanError,
    PlanProblem,
    RetentionPolicy,
    Schedule,
    example_plan_path,
    load_plan,
    load_plan_text,
)

REPO = Path(__file__).resolve().parents[2]
PLANS = Path(__file__).resolve().parent / "plans"
SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:cf/ccdb-AbCdEf"

MINIMAL = {
    "name": "cf-test",
    "schedules": {"databases": {"cron": "cron(0 2 * * ? *)", "time_zone": "Europe/Berlin"}},
    "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
    "databases": [
        {
            "name": "ccdb",
            "engine": "postgres",
            "host": "pg.internal",
            "database": "cloud_controller",
            "credentials_secret_arn": SECRET,
        }
    ],
}


def minimal(**changes):
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def problems(data) -> dict[str, str]:
    """location -> message of every problem in a plan given as a dict (or YAML text)."""
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, source="test.yaml")
    found = {problem.location: problem.message for problem in caught.value.problems}
    assert len(found) == len(caught.value.problems), "two problems at one location"
    return found


def problem_at(data, location: str) -> PlanProblem:
    text = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(PlanError) as caught:
        load_plan_text(text)
    matching = [problem for problem in caught.value.problems if problem.location == location]
    assert matching, f"no problem at {location}: {caught.value}"
    return matching[0]


# --- the example -----------------------------------------------------------


def test_example_plan_loads():
    plan = load_plan(REPO / "plans" / "example.yaml")

    assert plan.name == "cf-prod"
    assert [database.name for database in plan.databases] == ["ccdb", "uaadb", "diego", "locket", "silk", "credhub"]
    assert {database.engine for database in plan.databases} == {"postgres", "mysql"}
    assert all(database.tls.mode == "verify-full" for database in plan.databases)
    assert len(plan.etcd) == 1
    assert len(plan.etcd[0].endpoints) == 3
    assert plan.storage.object_lock_days == 30
    assert plan.storage.archive_after_days == 30
    assert {selector_tag.key for selector_tag in plan.volumes[0].tags} == {
        "ebs.csi.aws.com/cluster",
        "kubernetes.io/cluster/cf-prod",
    }
    assert plan.schedules.databases is not None
    assert plan.schedules.databases.time_zone == "Europe/Berlin"
    assert plan.notifications.emails


def test_repository_example_is_the_embedded_example():
    assert (REPO / "plans" / "example.yaml").read_bytes() == example_plan_path().read_bytes()


def test_embedded_example_loads():
    assert load_plan(example_plan_path()).name == "cf-prod"


def test_port_defaults_to_the_engines():
    mysql = minimal()
    mysql["databases"][0]["engine"] = "mysql"
    assert Plan.model_validate(minimal()).databases[0].port == 5432
    assert Plan.model_validate(mysql).databases[0].port == 3306


def test_tls_defaults_to_verify_full():
    assert Plan.model_validate(minimal()).databases[0].tls.mode == "verify-full"


def test_retention_policy_keeps_its_fields():
    # Other modules code against these names.
    assert list(RetentionPolicy.model_fields) == [
        "daily",
        "weekly",
        "monthly",
        "min_keep",
        "time_zone",
        "uncommitted_grace_hours",
    ]


def test_plans_are_immutable():
    plan = Plan.model_validate(minimal())
    with pytest.raises(ValidationError):
        plan.name = "other"  # type: ignore[misc]


def test_json_schema_forbids_unknown_keys_and_does_not_demand_a_port():
    schema = Plan.model_json_schema()
    assert schema["additionalProperties"] is False
    assert all(definition.get("additionalProperties") is False for definition in schema["$defs"].values())
    assert "port" not in schema["$defs"]["Database"]["required"]


# --- a plan with many mistakes ---------------------------------------------


def test_broken_plan_reports_every_problem_at_its_location():
    with pytest.raises(PlanError) as caught:
        load_plan(PLANS / "broken.yaml")
    found = {problem.location: problem for problem in caught.value.problems}

    assert {location: problem.message for location, problem in found.items()} == {
        "schedules.etcd.cron": "cron needs 6 fields, got 5 in 'cron(0 2 * * *)'",
        "schedules.databases.time_zone": "unknown time zone 'Europe/Berlln'",
        "databases[1].engine": "must be 'postgres' or 'mysql', got 'oracle'",
        "databases[2].port": "must be 1..65535, got 70000",
        "databases[3].name": "duplicate name 'ccdb' (also databases[0])",
        "databases[3].credentials_secret_arn": "not a valid Secrets Manager secret ARN: 'cf-prod/ccdb'",
        "databases[4].hots": "unknown key 'hots'",
        "databases[4].host": "required, but missing",
    }
    assert found["databases[4].hots"].hint == "did you mean 'host'?"
    assert found["databases[2].port"].line == 35
    assert found["schedules.databases.time_zone"].line == 9


def test_plan_error_lists_every_problem_one_per_line():
    with pytest.raises(PlanError) as caught:
        load_plan(PLANS / "broken.yaml")
    lines = str(caught.value).splitlines()

    assert lines[0] == f"{PLANS / 'broken.yaml'}: the backup plan has 8 problems:"
    assert len(lines) == 1 + 8
    assert any(line.strip().startswith("databases[2].port: must be 1..65535, got 70000") for line in lines)
    assert "Input should be" not in str(caught.value)


def test_plan_error_is_a_usage_kind_of_error():
    assert issubclass(PlanError, SmokejumperError)
    assert PlanError.exit_code == 2


# --- files and YAML --------------------------------------------------------


def test_yaml_syntax_error_gives_file_line_and_column(tmp_path):
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text("name: cf\nnetwork:\n  vpc_id: vpc-0a1b2c3d\n   subnet_ids: []\n")
    with pytest.raises(PlanError) as caught:
        load_plan(plan_file)
    (problem,) = caught.value.problems

    assert (problem.line, problem.column) == (4, 14)
    assert str(plan_file) in str(caught.value)
    assert "line 4, column 14: invalid YAML: mapping values are not allowed here" in str(caught.value)


def test_yaml_error_says_where_an_unclosed_bracket_was_opened():
    found = problems("name: cf\nschedules:\n  etcd: {cron: 'cron(0 2 * * ? *)'\nnetwork: x\n")
    assert found == {
        "line 4, column 1": "invalid YAML: while parsing a flow mapping (opened on line 3, column 9): "
        "expected ',' or '}', but got '<scalar>'"
    }


def test_missing_file(tmp_path):
    with pytest.raises(PlanError, match="no such file"):
        load_plan(tmp_path / "nope.yaml")


def test_directory_instead_of_a_file(tmp_path):
    with pytest.raises(PlanError, match="is a directory"):
        load_plan(tmp_path)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_plan(text):
    assert problems(text) == {"(plan)": "the plan is empty"}


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "a list"), ("just words\n", "a string ('just words')")])
def test_top_level_must_be_a_mapping(text, kind):
    assert problems(text) == {"(plan)": f"the top level must be a mapping (name: ..., databases: ...), got {kind}"}


def test_a_key_written_twice_is_a_problem():
    text = yaml.safe_dump(minimal(), sort_keys=False) + "name: cf-again\n"
    assert problems(text) == {"name": "key 'name' appears twice in the same mapping"}


def test_unquoted_yaml_boolean_gets_a_quoting_hint():
    data = minimal(volumes=[{"name": "pvs", "tags": [{"key": "ebs.csi.aws.com/cluster", "values": [True]}]}])
    data["schedules"]["volumes"] = {"cron": "cron(30 2 * * ? *)"}
    problem = problem_at(data, "volumes[0].tags[0].values[0]")
    assert problem.message == "must be a string, got a boolean (true)"
    assert problem.hint is not None
    assert "quotes" in problem.hint


# --- individual fields -----------------------------------------------------


@pytest.mark.parametrize(
    "cron",
    [
        "cron(0 2 * * ? *)",
        "cron(15 * * * ? *)",
        "cron(0/15 8-17 ? * MON-FRI *)",
        "cron(0 2 L * ? *)",
        "cron(0 2 15W * ? 2026-2030)",
        "cron(0 2 ? * 6L *)",
        "cron(0 2 ? * MON#2 *)",
        "cron(0 2 ? JAN,JUL SUN *)",
    ],
)
def test_valid_cron(cron):
    assert Schedule(cron=cron).cron == cron


@pytest.mark.parametrize(
    ("cron", "complaint"),
    [
        ("0 2 * * *", "must be written cron(...)"),
        ("rate(1 day)", "must be written cron(...)"),
        ("cron(0 2 * * *)", "cron needs 6 fields, got 5"),
        ("cron(61 * * * ? *)", "minutes must be 0..59, got 61"),
        ("cron(0 24 * * ? *)", "hours must be 0..23, got 24"),
        ("cron(0 2 32 * ? *)", "day-of-month must be 1..31, got 32"),
        ("cron(0 2 ? 13 MON *)", "month must be 1..12, got 13"),
        ("cron(0 2 ? * 8 *)", "day-of-week must be 1..7, got 8"),
        ("cron(0 2 * * ? 1969)", "year must be 1970..2199, got 1969"),
        ("cron(0 2 * * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 2 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(? 2 * * ? *)", "'?' is allowed only in day-of-month or day-of-week"),
        ("cron(0 */0 * * ? *)", "hours step '0' must be a whole number >= 1"),
        ("cron(0 2 ? * FRI-MON *)", "day-of-week range 'FRI-MON' runs backwards"),
        ("cron(0 2 ? * XYZ *)", "day-of-week 'XYZ' is not a number"),
    ],
)
def test_invalid_cron(cron, complaint):
    data = minimal()
    data["schedules"]["databases"]["cron"] = cron
    message = problem_at(data, "schedules.databases.cron").message
    assert complaint in message
    assert repr(cron) in message


def test_unknown_time_zones():
    data = minimal(retention={"time_zone": "Mars/Olympus"})
    data["schedules"]["databases"]["time_zone"] = "Europe/Berlln"
    found = problems(data)
    assert found["schedules.databases.time_zone"] == "unknown time zone 'Europe/Berlln'"
    assert found["retention.time_zone"].startswith("unknown time zone 'Mars/Olympus'")


@pytest.mark.parametrize("name", ["CF", "cf_prod", "-cf", "", "x" * 64])
def test_plan_name_is_an_s3_friendly_prefix(name):
    assert "plan name" in problem_at(minimal(name=name), "name").message


@pytest.mark.parametrize(
    ("location", "value", "complaint"),
    [
        ("vpc_id", "vpc-xyz", "not a valid VPC id: 'vpc-xyz'"),
        ("vpc_id", "subnet-0a1b2c3d", "not a valid VPC id"),
        ("subnet_ids", ["sg-0a1b2c3d"], "not a valid subnet id"),
        ("security_group_ids", ["sg-123"], "not a valid security group id"),
    ],
)
def test_network_ids(location, value, complaint):
    data = minimal()
    data["network"][location] = value
    found = problems(data)
    where = f"network.{location}" + ("[0]" if isinstance(value, list) else "")
    assert complaint in found[where]


def test_repeated_subnet():
    data = minimal()
    data["network"]["subnet_ids"] = ["subnet-0a1b2c3d", "subnet-0a1b2c3d"]
    assert problems(data) == {"network.subnet_ids[1]": "'subnet-0a1b2c3d' is listed twice (also subnet_ids[0])"}


@pytest.mark.parametrize(
    "arn",
    [
        "cf/ccdb",
        "arn:aws:secretsmanager:eu-west-1:1111:secret:x",
        "arn:aws:ssm:eu-west-1:111111111111:parameter/x",
        "arn:aws:secretsmanager:eu-west-1:111111111111:x",
    ],
)
def test_secret_arn_shape(arn):
    data = minimal()
    data["databases"][0]["credentials_secret_arn"] = arn
    problem = problem_at(data, "databases[0].credentials_secret_arn")
    assert problem.message == f"not a valid Secrets Manager secret ARN: {arn!r}"
    assert problem.hint is not None


def test_secret_arn_in_other_partitions():
    data = minimal()
    data["databases"][0]["credentials_secret_arn"] = "arn:aws-us-gov:secretsmanager:us-gov-west-1:111111111111:secret:x"
    assert Plan.model_validate(data)


@pytest.mark.parametrize(
    ("port", "message"),
    [
        (0, "must be 1..65535, got 0"),
        (70000, "must be 1..65535, got 70000"),
        ("db", "must be a whole number, got 'db'"),
    ],
)
def test_port_range(port, message):
    data = minimal()
    data["databases"][0]["port"] = port
    assert problems(data) == {"databases[0].port": message}


def test_unknown_engine_suggests_the_closest():
    data = minimal()
    data["databases"][0]["engine"] = "postgresql"
    problem = problem_at(data, "databases[0].engine")
    assert problem.message == "must be 'postgres' or 'mysql', got 'postgresql'"
    assert problem.hint == "did you mean 'postgres'?"


def test_host_is_only_a_host():
    data = minimal()
    data["databases"][0]["host"] = "postgres://pg.internal:5432"
    assert "not a valid host name" in problem_at(data, "databases[0].host").message


def test_tls_modes_and_ca_sources():
    data = minimal()
    data["databases"][0]["tls"] = {"mode": "verify-fully"}
    assert problem_at(data, "databases[0].tls.mode").hint == "did you mean 'verify-full'?"

    data["databases"][0]["tls"] = {"ca_bundle_path": "/ca.pem", "ca_bundle_secret_arn": SECRET}
    assert "not both" in problem_at(data, "databases[0].tls.ca_bundle_secret_arn").message

    data["databases"][0]["tls"] = {"mode": "disable", "ca_bundle_path": "/ca.pem"}
    assert "TLS would be off" in problem_at(data, "databases[0].tls.mode").message

    data["databases"][0]["tls"] = {"mode": "prefer", "ca_bundle_secret_arn": SECRET}
    assert "prefer never checks certificates" in problem_at(data, "databases[0].tls.mode").message


def test_the_plan_and_the_dsn_share_one_set_of_tls_modes():
    from smokejumper.sources.dsn import SSL_MODES

    for mode in SSL_MODES:
        data = minimal()
        data["databases"][0]["tls"] = {"mode": mode}
        assert Plan.model_validate(data).databases[0].tls.mode == mode


def test_etcd_endpoints_must_be_https():
    data = minimal(
        etcd=[
            {
                "name": "k8s",
                "endpoints": ["http://10.0.1.10:2379", "https://10.0.1.11:2379/v3", "https://10.0.1.12:2379"],
                "tls_secret_arn": SECRET,
            }
        ]
    )
    data["schedules"]["etcd"] = {"cron": "cron(15 * * * ? *)"}
    found = problems(data)
    assert found == {
        "etcd[0].endpoints[0]": "must be an https:// URL, got 'http://10.0.1.10:2379'",
        "etcd[0].endpoints[1]": "must be just https://HOST:PORT, got 'https://10.0.1.11:2379/v3'",
    }


def test_a_loopback_etcd_may_be_plain_http_without_a_secret():
    endpoints = ["http://127.0.0.1:2379", "http://[::1]:2379", "http://localhost:2379"]
    data = minimal(etcd=[{"name": "local", "endpoints": endpoints}])
    data["schedules"]["etcd"] = {"cron": "cron(15 * * * ? *)"}
    cluster = Plan.model_validate(data).etcd[0]
    assert (cluster.endpoints, cluster.tls_secret_arn) == (endpoints, None)

    data["etcd"][0]["endpoints"] = ["https://10.0.1.10:2379"]
    assert "https:// endpoints need the CA" in problem_at(data, "etcd[0].tls_secret_arn").message
    data["etcd"][0]["endpoints"] = ["http://127.0.0.1:2379", "https://10.0.1.10:2379"]
    assert problem_at(data, "etcd[0].tls_secret_arn")
    data["etcd"][0]["endpoints"] = ["http://127.0.0.2.nip.io:2379"]
    assert "must be an https:// URL" in problem_at(data, "etcd[0].endpoints[0]").message


def test_concurrency_is_bounded():
    assert Plan.model_validate(minimal()).concurrency == 2
    assert Plan.model_validate(minimal(concurrency=8)).concurrency == 8
    assert problem_at(minimal(concurrency=0), "concurrency").message == "must be 1..40, got 0"


def test_storage_settings():
    data = minimal(
        storage={
            "bucket_name": "my.backups",
            "kms_key": "alias/backups",
            "object_lock_days": 0,
            "archive_storage_class": "DEEP_ARCHIVE",
        }
    )
    found = problems(data)
    assert found["storage.bucket_name"] == "bucket name 'my.backups' has a dot"
    assert found["storage.kms_key"] == "must be 'create' or a KMS key ARN, got 'alias/backups'"
    assert found["storage.object_lock_days"] == "must be 1..36500, got 0"
    assert found["storage.archive_storage_class"].startswith("must be 'GLACIER_IR', 'STANDARD_IA' or")


def test_infrequent_access_needs_30_days():
    data = minimal(storage={"archive_after_days": 7, "archive_storage_class": "STANDARD_IA"})
    assert problems(data) == {"storage.archive_after_days": "must be at least 30 for STANDARD_IA, got 7"}


def test_existing_kms_key_arn():
    arn = "arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-1111-2222-3333-444455556666"
    plan = Plan.model_validate(minimal(storage={"kms_key": arn}))
    assert plan.storage.kms_key == arn
    assert not plan.storage.creates_key


def test_emails_and_topic():
    data = minimal(notifications={"emails": ["oncall@example.com", "not-an-address"], "topic_arn": "arn:aws:sns:x"})
    found = problems(data)
    assert found["notifications.emails[1]"] == "not a valid e-mail address: 'not-an-address'"
    assert found["notifications.topic_arn"] == "not a valid SNS topic ARN: 'arn:aws:sns:x'"


def test_account_must_be_quoted():
    problem = problem_at(minimal(deployment={"account": 111111111111}), "deployment.account")
    assert problem.message == "must be a string, got a number (111111111111)"


# --- across sections -------------------------------------------------------


def test_unknown_top_level_key_suggests_the_closest():
    problem = problem_at(minimal(retension={"daily": 3}), "retension")
    assert (problem.message, problem.hint) == ("unknown key 'retension'", "did you mean 'retention'?")


def test_a_configured_component_needs_a_schedule():
    data = minimal(schedules={})
    assert problems(data) == {"schedules.databases": "missing: databases are listed (1) but have no schedule"}


def test_databases_need_a_network():
    data = minimal()
    del data["network"]
    assert "missing" in problems(data)["network"]


def test_a_plan_must_back_something_up():
    data = minimal(databases=[])
    del data["network"]
    assert problems(data) == {"(plan)": "nothing to back up: list etcd clusters, databases or volumes"}


def test_names_are_unique_per_section_even_without_yaml():
    data = minimal()
    data["databases"].append(dict(data["databases"][0]))
    with pytest.raises(ValidationError) as caught:
        Plan.model_validate(data)
    assert [error["loc"] for error in caught.value.errors()] == [("databases", 1, "name")]


def test_unknown_engine_does_not_also_report_a_missing_port():
    data = minimal()
    data["databases"][0]["engine"] = "oracle"
    assert list(problems(data)) == ["databases[0].engine"]


def test_problems_inside_sections_and_across_them_are_reported_together():
    data = minimal()
    data["databases"].append(dict(data["databases"][0]))
    data["network"]["subnet_ids"] = ["subnet-0a1b2c3d", "subnet-0a1b2c3d"]
    data["storage"] = {"archive_after_days": 7, "archive_storage_class": "STANDARD_IA"}
    assert set(problems(data)) == {"databases[1].name", "network.subnet_ids[1]", "storage.archive_after_days"}


def test_a_replica_in_the_plans_own_region_or_with_a_foreign_key_is_refused_with_its_line():
    from smokejumper.plan import PlanError, load_plan_text

    text = REPO.joinpath("plans", "example.yaml").read_text() + ("\n# appended by the test\n")
    document = yaml.safe_load(text)
    document["storage"]["replica"] = {
        "region": "eu-west-1",
        "kms_key": "arn:aws:kms:eu-central-1:222222222222:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f",
        "bucket_name": "Not_A_Bucket",
    }
    with pytest.raises(PlanError) as refused:
        load_plan_text(yaml.safe_dump(document, sort_keys=False))
    said = {problem.location: problem.message for problem in refused.value.problems}
    assert said["storage.replica.region"].startswith("the replica must be in another region than the plan's own")
    assert said["storage.replica.bucket_name"] == "not a valid S3 bucket name: 'Not_A_Bucket'"
    assert all(problem.line is not None for problem in refused.value.problems), refused.value
    document["storage"]["replica"] = {
        "region": "eu-central-1",
        "kms_key": "arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f",
    }
    with pytest.raises(PlanError, match="the key is in eu-west-1, the copies in eu-central-1"):
        load_plan_text(yaml.safe_dump(document, sort_keys=False))
    document["storage"]["replica"] = {"region": "eu-central-1"}
    plan = load_plan_text(yaml.safe_dump(document, sort_keys=False))
    assert plan.storage.replica is not None
    assert plan.storage.replica.expiry_days(plan.retention) == 6 * 31 + 31


def test_a_replica_in_another_account_needs_a_key_of_that_account_by_arn():
    from smokejumper.plan import PlanError, load_plan_text

    document = yaml.safe_load(REPO.joinpath("plans", "example.yaml").read_text())
    vault_key = "arn:aws:kms:eu-central-1:222222222222:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f"

    def refused(replica: dict) -> dict[str, str]:
        document["storage"]["replica"] = replica
        with pytest.raises(PlanError) as error:
            load_plan_text(yaml.safe_dump(document, sort_keys=False))
        assert all(problem.line is not None for problem in error.value.problems), error.value
        return {problem.location: problem.message for problem in error.value.problems}

    said = refused({"region": "eu-central-1", "account": "222222222222"})  # kms_key: create by default
    assert said == {
        "storage.replica.kms_key": "a replica in another account (222222222222) needs the ARN of a key there, "
        "not 'create'"
    }
    said = refused({"region": "eu-central-1", "account": "333333333333", "kms_key": vault_key})
    assert said["storage.replica.kms_key"] == "the key belongs to account 222222222222, the replica is in 333333333333"
    said = refused({"region": "eu-central-1", "account": "2222"})
    assert list(said) == ["storage.replica.account"]
    document["storage"]["replica"] = {"region": "eu-central-1", "account": "222222222222", "kms_key": vault_key}
    plan = load_plan_text(yaml.safe_dump(document, sort_keys=False))
    assert plan.storage.replica is not None
    assert plan.storage.replica.is_cross_account(plan.deployment.account or "")
    assert plan.storage.replica.late_after == 240
    # The plan's own account named explicitly: the same account, where 'create' works.
    own = plan.deployment.account
    document["storage"]["replica"] = {"region": "eu-central-1", "account": own}
    plan = load_plan_text(yaml.safe_dump(document, sort_keys=False))
    assert plan.storage.replica is not None
    assert not plan.storage.replica.is_cross_account(own or "")

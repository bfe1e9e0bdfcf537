"""The restore input: its schema, its checks against the plan, and the README's examples (read from the README)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from smokejumper.plan import load_plan
from smokejumper.restores import input_schema, plan_problems

REPO = Path(__file__).resolve().parents[2]


def readme_examples() -> list[dict]:
    """Every JSON block of the README's section on restores, parsed (a block that is not JSON fails here)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Restores from one input", 1)[1].split("\n## ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)]


def test_the_readmes_examples_are_valid_inputs_for_the_example_plan() -> None:
    examples = readme_examples()
    assert len(examples) == 4  # a new database; a table back; the etcd kit; everything after a smoking hole
    plan = load_plan(REPO / "plans" / "example.yaml")
    schema = input_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for example in examples:
        jsonschema.validate(example, schema)  # what an editor checks with `restore input-schema`
        assert plan_problems(plan, example) == [], example
    components = [set(example) - {"run"} for example in examples]
    assert components[-1] == {"databases", "etcd", "volumes"}


def test_the_checks_name_each_mistake_where_it_is() -> None:
    plan = load_plan(REPO / "plans" / "example.yaml")
    live = {"host": "cf-prod-pg.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com", "database": "cloud_controller"}
    problems = plan_problems(
        plan,
        {
            "databases": [
                {"name": "ccdb", "target": live},  # the live database, without clean
                {"name": "ccdb", "target": {**live, "database": "x; DROP"}},
                {"name": "credhub", "target": {**live, "port": 3306}},  # a PostgreSQL host for MySQL
                {
                    "name": "ccdb",
                    "target": {
                        **live,
                        "database": "y",
                        "credentials_secret_arn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:other-AbCdEf",
                    },
                },
            ],
            "volumes": [{"pvc": "no-slash"}],
            "extra": 1,
        },
    )
    text = "\n".join(problems)
    for expected in ("volumes[0].pvc", "extra"):
        assert expected in text, text
    fixed = plan_problems(
        plan,
        {
            "databases": [
                {"name": "ccdb", "target": live},
                {"name": "ccdb", "target": {**live, "database": "x; DROP"}},
                {"name": "credhub", "target": {**live, "port": 3306}},
                {
                    "name": "ccdb",
                    "target": {
                        **live,
                        "database": "y",
                        "credentials_secret_arn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:other-AbCdEf",
                    },
                },
            ],
        },
    )
    assert [problem.split(":")[0] for problem in fixed] == [
        "databases[0].target",
        "databases[1].target.database",
        "databases[2].target",
        "databases[3].target.credentials_secret_arn",
    ], fixed
    assert "the live database cloud_controller itself" in fixed[0]


@pytest.mark.parametrize(
    ("run", "message"),
    [("latest-before:yesterday", "has no ISO time"), ("latest-before:2026-12-07T09:00", "time zone")],
)
def test_a_run_selector_that_cannot_be_read_says_why(run: str, message: str, tmp_path: Path) -> None:
    from smokejumper.restores import RestoreInputError, prepare
    from smokejumper.store import open_store

    plan = load_plan(REPO / "plans" / "example.yaml")
    with pytest.raises(RestoreInputError, match=message):
        prepare(
            plan,
            open_store(str(tmp_path)),
            {"run": run, "etcd": [{"cluster": "eks-cf-prod", "members": {"a": "https://10.0.0.1:2380"}}]},
        )

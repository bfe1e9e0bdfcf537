"""The source registry: one protocol, found by engine; artifacts of another engine refused with the right command."""

from __future__ import annotations

import pytest
from smokejumper.errors import UsageError
from smokejumper.sources.base import ENGINES, check_engine, source_class, source_for


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_has_a_source_with_the_one_signature(engine):
    source = source_for(engine)
    assert source.engine == engine
    assert source.component in ("databases", "etcd", "volumes")
    for method in ("backup", "restore"):
        assert callable(getattr(source, method))
    assert source_class(engine) is type(source)


def test_an_unknown_engine_names_the_known_ones():
    with pytest.raises(UsageError, match="no source for engine 'oracle'") as caught:
        source_for("oracle")
    assert caught.value.hint == "known engines: postgres, mysql, etcd, ebs"


@pytest.mark.parametrize(
    ("record_engine", "engine", "hint"),
    [
        ("mysql", "postgres", "it is restored with `smokejumper restore mysql`"),
        ("postgres", "mysql", "it is restored with `smokejumper restore postgres`"),
        ("etcd", "postgres", "an etcd snapshot is restored with `smokejumper etcd restore-kit --from ...`"),
        # Never a command that does not exist (it used to say `smokejumper restore sample`).
        ("sample", "postgres", "smokejumper has no restore for 'sample' artifacts"),
    ],
)
def test_an_artifact_of_another_engine_is_refused_with_the_command_that_restores_it(record_engine, engine, hint):
    check_engine(engine, engine, "here")
    with pytest.raises(UsageError) as caught:
        check_engine(record_engine, engine, "s3://b/p/runs/x/databases/ccdb")
    assert (
        caught.value.message == f"s3://b/p/runs/x/databases/ccdb holds a {record_engine} artifact, not a {engine} one"
    )
    assert caught.value.hint == hint


def test_the_readme_documents_every_error_type_as_it_is():
    from pathlib import Path

    from smokejumper.failures import ERROR_TYPES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `") and line.count("|") == 4]
    documented = {row.split("`")[1]: row for row in rows if row.split("`")[1] in ERROR_TYPES}
    assert set(documented) == set(ERROR_TYPES)
    for name, error in ERROR_TYPES.items():
        assert documented[name] == f"| `{name}` | {'yes' if error.transient else 'no'} | {error.meaning} |"

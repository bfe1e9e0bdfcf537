"""The Lambda layer, built once per session as `cdk synth` builds it, then run with Python 3.12.

The build downloads wheels (about 40 MiB) and takes 8-15 s here; every test reads the same
layer. Python 3.12 is pyenv's (what Lambda's python3.12 runtime runs): without it the layer
cannot be built, so these tests fail, saying how to get it, rather than skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.layer import ARCHITECTURE, RUNTIME, SmokejumperLayer
from layers import build_layer

REPO = Path(__file__).resolve().parents[2]
MiB = 2**20
LAMBDA_UNZIPPED_LIMIT = 250 * MiB  # a function's code and all its layers, unzipped
FUNCTIONS_ALLOWANCE = 50 * MiB  # left for the functions' own code (a few KiB today) and anything added later

# A CDK app holding only the layer, synthesized as `cdk synth` does (bundling on), in its own process.
SYNTH = """
import sys
import aws_cdk as cdk
from infra.layer import SmokejumperLayer
app = cdk.App(outdir=sys.argv[1])
SmokejumperLayer(cdk.Stack(app, "LayerOnly"), "Layer")
app.synth()
"""

# Run by Python 3.12 with -I -S: only the layer and the standard library can be imported.
PROBE = """
import importlib.metadata, json, os, sys
sys.path.insert(0, sys.argv[1])  # where Lambda puts /opt/python
sys.path.insert(0, sys.argv[2])  # the functions' code, as Lambda's task root
import start_run, backup_item, commit_run  # every handler module, as Lambda imports it
import smokejumper, smokejumper.runs
import smokejumper.sources.postgres.source, smokejumper.sources.mysql.source, smokejumper.sources.etcd.source
from smokejumper.sources.postgres import _copyframe
from smokejumper.sources.postgres.copy import row_cutter
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities import parser
import boto3, yaml, zstandard
Logger(service="probe"); Metrics(namespace="probe"); Tracer(service="probe")
boto3.client("s3", region_name="eu-west-1")
try:
    import numpy
except ModuleNotFoundError:
    numpy = None
print(json.dumps({
    "compiled_cutter": row_cutter() is _copyframe.cut_rows,
    "extension": _copyframe.__file__,
    "numpy": numpy and numpy.__file__,
    "zstandard_backend": zstandard.backend,
    "libyaml": yaml.__with_libyaml__,
    "versions": {name: importlib.metadata.version(name) for name in ("smokejumper", "boto3", "aws-lambda-powertools")},
    "parser": parser.__name__,
    "stdlib": os.path.dirname(os.__file__),
    "files": sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)}),
}))
"""


@dataclass(frozen=True)
class BuiltLayer:
    outdir: Path  # the cdk.out it was synthesized into
    python_dir: Path  # what Lambda mounts as /opt/python
    template: dict
    python312: build_layer.Python312


# An index nothing answers on: with the wheelhouse `make setup` fills, synthesis needs no network.
NO_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": ""}


def synth_layer_app(outdir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **NO_INDEX,
        "PYTHONPATH": str(REPO),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    done = subprocess.run(
        [sys.executable, "-c", SYNTH, str(outdir)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        pytest.fail(f"synthesizing the layer failed:\n{done.stderr[-4000:]}")
    return done


@pytest.fixture(scope="session")
def python312() -> build_layer.Python312:
    try:
        return build_layer.find_python312()
    except build_layer.LayerBuildError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def built(python312: build_layer.Python312, tmp_path_factory: pytest.TempPathFactory) -> BuiltLayer:
    build_layer.download_wheels()  # done by `make setup` already; here for a test run on its own
    outdir = tmp_path_factory.mktemp("layer-cdk.out")
    done = synth_layer_app(outdir)
    assert "no network needed" in done.stderr, "the layer is built from the wheelhouse: cdk synth works offline"
    python_dirs = list(outdir.glob("asset.*/python"))
    assert len(python_dirs) == 1, python_dirs
    template = json.loads((outdir / "LayerOnly.template.json").read_text())
    return BuiltLayer(outdir=outdir, python_dir=python_dirs[0], template=template, python312=python312)


def layer_version(template: dict) -> dict:
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    return resource["Properties"]


def test_the_layer_imports_on_python_312_with_its_c_extension_and_without_numpy(built: BuiltLayer):
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run(
        [built.python312.executable, "-I", "-S", "-c", PROBE, str(built.python_dir), str(REPO / "functions")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["compiled_cutter"], "the COPY reader would fall back to numpy, which the layer leaves out"
    assert found["extension"] == str(built.python_dir / build_layer.EXTENSION_IN_LAYER)
    assert found["numpy"] is None
    assert found["zstandard_backend"] == "cext"  # its C backend survived the stripping
    assert found["libyaml"]
    assert found["versions"] == {"smokejumper": "0.2.0", "boto3": "1.44.5", "aws-lambda-powertools": "3.37.0"}
    allowed = (str(built.python_dir), found["stdlib"], str(REPO / "functions"))
    strays = [f for f in found["files"] if not f.startswith(allowed)]
    assert strays == [], "imported from outside the layer and the standard library"


def test_the_layer_leaves_room_for_the_functions(built: BuiltLayer):
    size, files = build_layer.tree_size(built.python_dir)
    assert size <= LAMBDA_UNZIPPED_LIMIT - FUNCTIONS_ALLOWANCE, (
        f"the layer is {size / MiB:.1f} MiB unzipped ({files} files): Lambda allows 250 MiB for a function's "
        f"code and all its layers, and {FUNCTIONS_ALLOWANCE / MiB:.0f} MiB are kept for the functions' code"
    )


def test_the_c_extension_needs_nothing_newer_than_glibc_2_17(built: BuiltLayer):
    extension = built.python_dir / build_layer.EXTENSION_IN_LAYER
    needed = build_layer.required_symbol_versions(extension)
    glibc = {v for versions in needed.values() for v in versions if v.startswith("GLIBC_")}
    assert set(needed) == {"libc.so.6"}
    assert glibc, "no GLIBC symbol version read: the ELF parsing is wrong"
    assert build_layer.glibc_versions_beyond_baseline(extension) == []
    objdump = shutil.which("objdump")
    if objdump:  # binutils comes with gcc; the reading above needs no tool, this only cross-checks it
        shown = subprocess.run([objdump, "-p", str(extension)], capture_output=True, text=True, check=True).stdout
        assert set(re.findall(r"\bGLIBC_[0-9][0-9.]*[0-9]\b", shown)) == glibc


def test_every_module_has_unchecked_bytecode_for_cpython_312(built: BuiltLayer):
    magic = subprocess.run(
        [built.python312.executable, "-I", "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    sources = list(built.python_dir.rglob("*.py"))
    missing = [s for s in sources if not (s.parent / "__pycache__" / f"{s.stem}.cpython-312.pyc").exists()]
    assert missing == []
    compiled = list(built.python_dir.rglob("*.pyc"))
    assert len(compiled) == len(sources)
    wrong = []
    for pyc in compiled:
        header = pyc.read_bytes()[:8]
        # flags 0b01: hash-based and never checked against the source (/opt is read-only anyway)
        if ".cpython-312." not in pyc.name or header[:4].hex() != magic or int.from_bytes(header[4:8], "little") != 1:
            wrong.append(pyc)
    assert wrong == []


def test_the_layer_declares_python_312_on_x86_64(built: BuiltLayer):
    properties = layer_version(built.template)
    assert properties["CompatibleRuntimes"] == [RUNTIME.name] == ["python3.12"]
    assert properties["CompatibleArchitectures"] == [ARCHITECTURE.name] == ["x86_64"]


def test_a_second_synth_builds_nothing(built: BuiltLayer):
    """CDK skips bundling when cdk.out holds the asset of that hash: the hash must not change by itself."""
    again = synth_layer_app(built.outdir)
    assert "Bundling asset" not in again.stderr, (
        "the layer was built again: its asset hash changed without its inputs changing (or a file of the "
        "library was edited while the tests ran)"
    )
    assert layer_version(json.loads((built.outdir / "LayerOnly.template.json").read_text())) == layer_version(
        built.template
    )


def test_the_tests_synthesize_the_layer_without_building_it(fresh_app: cdk.App, monkeypatch: pytest.MonkeyPatch):
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the layer was built although bundling is off")

    monkeypatch.setattr(build_layer, "build", refuse)
    stack = cdk.Stack(fresh_app, "LayerOnly")
    SmokejumperLayer(stack, "Layer")
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::LayerVersion", {"CompatibleRuntimes": ["python3.12"]}
    )


def test_the_asset_hash_covers_what_the_layer_is_built_from():
    inputs = {path.relative_to(REPO).as_posix() for path in build_layer.layer_inputs()}
    library = "layers/smokejumper"
    for expected in (
        f"{library}/pyproject.toml",
        f"{library}/setup.py",
        f"{library}/src/smokejumper/sources/postgres/_copyframe.c",
        f"{library}/src/smokejumper/runs.py",
        "layers/lambda-requirements.txt",
        "layers/build_layer.py",
        "constraints.txt",
    ):
        assert expected in inputs
    products = [p for p in inputs if p.endswith((".so", ".pyc")) or "__pycache__" in p or ".egg-info" in p]
    assert products == []
    assert build_layer.input_digest() == build_layer.input_digest()


def test_the_layer_pins_what_the_library_and_the_handlers_are_tested_with():
    requirements = build_layer.layer_requirements()
    names = {re.split(r"[\[=]", r)[0].lower() for r in requirements}
    assert "numpy" not in names
    tested = (REPO / "requirements.txt").read_text().splitlines()
    for requirement in requirements:
        if requirement.lower().startswith("aws-lambda-powertools"):
            assert requirement in tested, "lambda-requirements.txt and requirements.txt pin powertools differently"

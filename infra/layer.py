"""The Lambda layer every smokejumper function runs on, built on this machine without Docker.

What it holds (layers/build_layer.py builds it; the reasons are kept here):
- The smokejumper library (layers/smokejumper), its pinned runtime dependencies
  except numpy, and aws-lambda-powertools[tracer] (layers/lambda-requirements.txt),
  every transitive dependency pinned by constraints.txt. numpy is only the
  fallback of the COPY reader's C extension; the layer ships the extension, so
  numpy would be 36 MiB that never loads. boto3 and botocore are in it too,
  pinned: the runtime's own version is whatever AWS last put there, and the
  tests ran against ours.
- The COPY reader's C extension (`_copyframe.abi3.so`), cross-compiled with zig
  for glibc 2.17 (manylinux2014, which Lambda's Amazon Linux 2023 exceeds) against
  the stable ABI of Python 3.11: one binary serves 3.11 and later, and the build
  refuses one that needs a newer glibc symbol.
- Bytecode written by Python 3.12: /opt is read-only, so without it every cold
  start would compile each module it imports (imports took 1.2 s against 0.5 s).
- Debug information is stripped from the wheels' shared objects: 23 MiB, of
  which 21 MiB in zstandard's two backends, 2.2 MiB in PyYAML's and 0.5 MiB in
  wrapt's. Everything else stays, dist-info included (importlib.metadata reads
  it). Built, the layer is 81 MiB unzipped (39 MiB zipped) of Lambda's 250 MiB
  for a function and its layers.

Runtime Python 3.12, architecture x86_64. x86_64 because the layer can be
proven here: the tests import it with Python 3.12 and load its C extension on
this x86_64 machine, and the README's throughput figures were measured on
x86_64. arm64 (Graviton, about 20% cheaper per GB-second) is an option left
documented, not taken: every pinned dependency has manylinux2014 aarch64 wheels
and zig cross-compiles the extension for aarch64-linux-gnu.2.17, but nothing
here can run the result. A layer built for 3.12 does not import on 3.13
(pydantic-core is compiled per version): RUNTIME is the only one it declares.

The asset hash is layers/build_layer.py's `input_digest()`: the library's
source, pyproject.toml, setup.py and the C file, lambda-requirements.txt,
constraints.txt, the build script and the ziglang version. CDK skips bundling
when cdk.out already holds the asset of that hash, so a second `cdk synth` with
nothing changed builds nothing; with the context `aws:cdk:bundling-stacks: []`
(the tests) nothing is built at all.
"""

from __future__ import annotations

from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from smokejumper import __version__

from layers import build_layer

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64

LAYERS = Path(__file__).resolve().parents[1] / "layers"


@jsii.implements(ILocalBundling)
class _BuildHere:
    """CDK's local bundler: builds the layer with layers/build_layer.py (no Docker image is ever used)."""

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        build_layer.build(output_dir)
        return True


class SmokejumperLayer(Construct):
    """The layer (`layer`) holding the library and everything it and the handlers import at run time."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        code = lambda_.Code.from_asset(
            str(LAYERS),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=build_layer.input_digest(),
            bundling=BundlingOptions(
                # Never pulled: the local bundler always builds, or fails saying why.
                image=DockerImage.from_registry("local-bundling-only"),
                local=_BuildHere(),
            ),
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"smokejumper {__version__} and its dependencies ({RUNTIME.name}, {ARCHITECTURE.name})",
            license="Apache-2.0",
        )

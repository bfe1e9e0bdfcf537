#!/usr/bin/env python3
"""Build smokejumper's Lambda layer into a directory, without Docker.

    .venv/bin/python layers/build_layer.py OUT_DIR     # OUT_DIR/python/ is what /opt/python holds

CDK calls `build` from the layer's local bundler (infra/layer.py, which says what the
layer is for and why it is built this way); tests/infra/test_layer.py builds it once per
session and runs it on Python 3.12. The steps:

1. Python 3.12 with its headers is found (pyenv's, or the one SMOKEJUMPER_PYTHON312
   names): its headers compile the C extension and it writes the bytecode. Without it
   the build stops before downloading anything, saying how to get it.
2. pip installs, as CPython 3.12 manylinux2014 x86_64 wheels only (`--platform`,
   `--only-binary=:all:`), the library's pinned dependencies (pyproject.toml) except
   those in LEFT_OUT, and lambda-requirements.txt; constraints.txt pins what they pull
   in. Meanwhile the library itself is installed (`--no-deps`) from a clean copy of its
   source.
3. The COPY reader's C extension is cross-compiled by zig (the pinned `ziglang`
   package) for glibc 2.17, the manylinux2014 baseline, against the stable ABI, in place
   of whatever the build machine's compiler made for its own glibc; then the symbol
   versions it needs are read from its ELF header and any newer than GLIBC_2.17 fails
   the build.
4. Trimmed: debug information is stripped from the wheels' shared objects (23 MiB,
   nearly all of it in zstandard's two backends and PyYAML's; binutils' `strip`, which
   comes with gcc); console scripts (bin/: their shebang names the build machine's interpreter)
   and the copy's direct_url.json (a temporary path) are dropped. dist-info directories
   stay: importlib.metadata reads them. The RECORD hashes of the files changed here are
   the wheels' own: nothing at run time reads them.
5. Byte-compiled by Python 3.12 (unchecked-hash .pyc): /opt is read-only in Lambda, and
   without bytecode every cold start compiles each module it imports (1.2 s against
   0.5 s, measured).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PYTHON_VERSION = "3.12"
PLATFORM = "manylinux2014_x86_64"
ZIG_TARGET = "x86_64-linux-gnu.2.17"  # manylinux2014 is glibc 2.17
GLIBC_BASELINE = (2, 17)
LIMITED_API = "0x030B0000"  # the stable ABI of Python 3.11, as setup.py builds it
# Dependencies of the library that the layer leaves out, and why.
LEFT_OUT = {
    "numpy": "only the fallback of the COPY reader's C extension, which the layer ships (about 36 MiB)",
}

LAYERS = Path(__file__).resolve().parent
REPO = LAYERS.parent
LIBRARY = LAYERS / "smokejumper"
LAMBDA_REQUIREMENTS = LAYERS / "lambda-requirements.txt"
CONSTRAINTS = REPO / "constraints.txt"
EXTENSION_SOURCE = LIBRARY / "src" / "smokejumper" / "sources" / "postgres" / "_copyframe.c"
EXTENSION_IN_LAYER = Path("smokejumper/sources/postgres/_copyframe.abi3.so")

# What a build or a test run leaves in the library's tree: never an input of the layer.
_PRODUCT_DIRS_AT_TOP = {"build", "dist"}
_PRODUCT_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".mypy_cache"}
_PRODUCT_SUFFIXES = (".so", ".pyc", ".pyo", ".o", ".egg-info")

_SHT_GNU_VERNEED = 0x6FFFFFFE


class LayerBuildError(RuntimeError):
    """The layer cannot be built; the message says why and what to do."""


@dataclass(frozen=True)
class Python312:
    executable: Path
    include: Path  # the directory holding Python.h


@dataclass(frozen=True)
class LayerReport:
    python_dir: Path  # OUT_DIR/python
    unzipped_bytes: int
    files: int
    stripped_bytes: int  # debug information removed from the wheels' shared objects
    seconds: float


def _log(message: str) -> None:
    print(f"layer: {message}", file=sys.stderr, flush=True)


# --- inputs -------------------------------------------------------------------------------------


def _is_product(name: str) -> bool:
    return name in _PRODUCT_NAMES or name.endswith(_PRODUCT_SUFFIXES)


def library_files() -> Iterator[Path]:
    """The library's source tree as the layer installs it: no build products, caches or compiled objects."""
    for root, dirs, files in os.walk(LIBRARY):
        at_top = Path(root) == LIBRARY
        dirs[:] = sorted(d for d in dirs if not _is_product(d) and not (at_top and d in _PRODUCT_DIRS_AT_TOP))
        for name in sorted(files):
            if not _is_product(name):
                yield Path(root) / name


def layer_inputs() -> list[Path]:
    """Every file whose content decides the layer's bytes (with the pinned ziglang, see input_digest)."""
    return [*library_files(), LAMBDA_REQUIREMENTS, CONSTRAINTS, Path(__file__).resolve()]


def input_digest() -> str:
    """A sha256 of the layer's inputs: the asset hash, so an unchanged layer is not built again."""
    digest = hashlib.sha256()
    for path in layer_inputs():
        data = path.read_bytes()
        digest.update(f"{path.relative_to(REPO).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    try:
        zig = importlib.metadata.version("ziglang")
    except importlib.metadata.PackageNotFoundError:
        zig = "missing"
    digest.update(f"ziglang {zig}".encode())
    return digest.hexdigest()


def _canonical_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    if match is None:
        raise LayerBuildError(f"cannot read the requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def layer_requirements() -> list[str]:
    """The pinned requirements pip installs into the layer (the library itself aside)."""
    project = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    library = [r for r in project["dependencies"] if _canonical_name(r) not in LEFT_OUT]
    extra = [line.split("#", 1)[0].strip() for line in LAMBDA_REQUIREMENTS.read_text().splitlines()]
    requirements = library + [line for line in extra if line]
    unpinned = [r for r in requirements if not re.search(r"==[^,;*]+$", r.split(";", 1)[0].strip())]
    if unpinned:
        raise LayerBuildError(f"every requirement of the layer must be pinned exactly (==): {', '.join(unpinned)}")
    return requirements


# --- tools --------------------------------------------------------------------------------------

_PROBE = (
    "import sys, sysconfig; print(sys.implementation.name, *sys.version_info[:2]); print(sysconfig.get_path('include'))"
)


def _pyenv_pythons() -> list[Path]:
    """pyenv's Python 3.12 interpreters, newest first."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        found = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        root = found.stdout.strip() if found.returncode == 0 else None
    versions = Path(root or Path.home() / ".pyenv") / "versions"
    releases = []
    for directory in versions.glob("3.12.*"):
        match = re.fullmatch(r"3\.12\.(\d+)", directory.name)
        if match and (directory / "bin" / "python3.12").exists():
            releases.append((int(match.group(1)), directory / "bin" / "python3.12"))
    return [path for _, path in sorted(releases, reverse=True)]


def find_python312() -> Python312:
    """CPython 3.12 with its headers: SMOKEJUMPER_PYTHON312 if set, else pyenv's, else python3.12 on the PATH."""
    explicit = os.environ.get("SMOKEJUMPER_PYTHON312")
    if explicit:
        candidates = [Path(explicit)]
    else:
        on_path = shutil.which("python3.12")
        candidates = [*_pyenv_pythons(), *([Path(on_path)] if on_path else [])]
    problems = []
    for executable in candidates:
        try:
            probe = subprocess.run([executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60)
        except OSError as error:
            problems.append(f"{executable}: {error}")
            continue
        lines = probe.stdout.split("\n")
        if probe.returncode != 0 or len(lines) < 2 or lines[0] != "cpython 3 12":
            problems.append(
                f"{executable}: not a working CPython 3.12 ({(probe.stderr or probe.stdout).strip()[:200]})"
            )
            continue
        include = Path(lines[1])
        if not (include / "Python.h").exists():
            problems.append(f"{executable}: no headers ({include / 'Python.h'} is missing)")
            continue
        return Python312(executable=executable, include=include)
    raise LayerBuildError(
        "the Lambda layer needs CPython 3.12 with its headers (Lambda's python3.12 runtime: they compile the "
        "COPY reader's C extension and the layer's bytecode), and none was found"
        + (f" ({'; '.join(problems)})" if problems else "")
        + ". Install it with `pyenv install 3.12` (pyenv's Python 3.12 is found by itself), or set "
        "SMOKEJUMPER_PYTHON312 to a python3.12 interpreter whose Python.h is installed."
    )


def _zig() -> list[str]:
    try:
        importlib.metadata.version("ziglang")
    except importlib.metadata.PackageNotFoundError:
        raise LayerBuildError(
            f"the `ziglang` package is missing from {sys.executable}'s environment: it cross-compiles the C "
            "extension for Lambda's glibc (pinned in requirements.txt: run `make setup`)"
        ) from None
    return [sys.executable, "-m", "ziglang"]


def _strip() -> str:
    strip = shutil.which("strip")
    if strip is None:
        raise LayerBuildError("`strip` is missing: install binutils (gcc depends on it)")
    return strip


def _run(command: list[str], what: str) -> None:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        # pip's warnings about configured index locations that do not exist are noise here.
        output = [line for line in output if "is ignored: it is neither a file nor a directory" not in line]
        raise LayerBuildError(
            f"{what} failed (exit {done.returncode}): {' '.join(map(str, command))}\n" + "\n".join(output[-40:])
        )


def _pip_install(arguments: list[str], what: str) -> None:
    quiet = ["--quiet", "--no-input", "--no-compile", "--disable-pip-version-check", "--no-warn-script-location"]
    _run([sys.executable, "-m", "pip", "install", *quiet, *arguments], what)


# --- ELF ----------------------------------------------------------------------------------------


def _elf_sections(data: bytes) -> list[tuple[str, int, int, int, int, int]]:
    """(name, type, offset, size, link, info) of each section of a 64-bit little-endian ELF file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    raw = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_offset = raw[shstrndx][4]

    def name(offset: int) -> str:
        start = names_offset + offset
        return data[start : data.index(b"\0", start)].decode()

    return [(name(s[0]), s[1], s[4], s[5], s[6], s[7]) for s in raw]


def required_symbol_versions(path: Path) -> dict[str, set[str]]:
    """The symbol versions a shared object needs, by library (its .gnu.version_r, as `objdump -p` shows)."""
    data = path.read_bytes()
    sections = _elf_sections(data)
    needed: dict[str, set[str]] = {}
    for _, kind, offset, _, link, count in sections:
        if kind != _SHT_GNU_VERNEED:
            continue
        strings = sections[link][2]

        def string(at: int, strings: int = strings) -> str:
            return data[strings + at : data.index(b"\0", strings + at)].decode()

        for _ in range(count):
            _, aux_count, file, aux, following = struct.unpack_from("<HHIII", data, offset)
            versions = needed.setdefault(string(file), set())
            entry = offset + aux
            for _ in range(aux_count):
                _, _, _, version_name, next_aux = struct.unpack_from("<IHHII", data, entry)
                versions.add(string(version_name))
                entry += next_aux
            offset += following
    return needed


def glibc_versions_beyond_baseline(path: Path) -> list[str]:
    """The GLIBC_* versions `path` needs that glibc 2.17 (manylinux2014, Lambda's baseline) lacks."""
    too_new = []
    for versions in required_symbol_versions(path).values():
        for version in versions:
            match = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", version)
            if version == "GLIBC_PRIVATE" or (match and (int(match[1]), int(match[2])) > GLIBC_BASELINE):
                too_new.append(version)
    return sorted(too_new)


def _has_debug_info(path: Path) -> bool:
    try:
        return any(name.startswith(".debug_") for name, *_ in _elf_sections(path.read_bytes()))
    except (ValueError, struct.error):
        return False


# --- steps --------------------------------------------------------------------------------------


def _copy_library(destination: Path) -> Path:
    for source in library_files():
        target = destination / source.relative_to(LIBRARY)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


def _drop_scripts(target: Path) -> None:
    shutil.rmtree(target / "bin", ignore_errors=True)
    for direct_url in target.glob("*.dist-info/direct_url.json"):
        direct_url.unlink()


def _merge(source: Path, target: Path) -> None:
    for entry in sorted(source.iterdir()):
        if (target / entry.name).exists():
            raise LayerBuildError(f"{entry.name} is both a dependency of the layer and part of the library")
        shutil.move(str(entry), target / entry.name)


# --- the wheelhouse: what makes `cdk synth` work offline ---------------------------------------

WHEELHOUSE = REPO / ".layer-wheels"
# What building the library from its source needs (its pyproject.toml's build-system), pinned, so that
# the library installs from the wheelhouse too.
BUILD_REQUIREMENTS = ["setuptools==84.2.1", "wheel==0.48.0"]
_PLATFORM_OPTIONS = ["--platform", PLATFORM, "--only-binary=:all:", "--python-version", PYTHON_VERSION]


def _wheelhouse_stamp(requirements: list[str]) -> str:
    digest = hashlib.sha256("\n".join([*requirements, *BUILD_REQUIREMENTS]).encode())
    digest.update(CONSTRAINTS.read_bytes())
    return digest.hexdigest()


def wheelhouse_ready(requirements: list[str] | None = None) -> bool:
    """Whether the wheelhouse holds exactly what the layer's pins name (then the build needs no network)."""
    stamp = WHEELHOUSE / ".stamp"
    return stamp.is_file() and stamp.read_text() == _wheelhouse_stamp(requirements or layer_requirements())


def download_wheels(log: Callable[[str], None] = _log) -> None:
    """Fill the wheelhouse from the package index (`make setup` does, with the rest of the set-up)."""
    requirements = layer_requirements()
    if wheelhouse_ready(requirements):
        log(f"the wheelhouse {WHEELHOUSE} is up to date")
        return
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    quiet = ["--quiet", "--no-input", "--disable-pip-version-check"]
    download = [sys.executable, "-m", "pip", "download", *quiet, "--dest", str(WHEELHOUSE)]
    _run(
        [*download, *_PLATFORM_OPTIONS, "--implementation", "cp", "-c", str(CONSTRAINTS), *requirements],
        "downloading the layer's wheels",
    )
    _run([*download, "--only-binary=:all:", *BUILD_REQUIREMENTS], "downloading the library's build requirements")
    (WHEELHOUSE / ".stamp").write_text(_wheelhouse_stamp(requirements))
    log(f"the wheelhouse {WHEELHOUSE} holds the layer's {len(requirements)} pinned requirements")


def _install_packages(target: Path, requirements: list[str], log: Callable[[str], None] = _log) -> None:
    if wheelhouse_ready(requirements):
        source = ["--no-index", "--find-links", str(WHEELHOUSE)]
        log(f"from the wheelhouse {WHEELHOUSE}: no network needed")
    else:
        source = []
        log("from the package index (`make setup` fills a wheelhouse that makes this offline)")
    with tempfile.TemporaryDirectory(prefix="smokejumper-layer-") as scratch:
        copy = _copy_library(Path(scratch) / "smokejumper")
        library_target = Path(scratch) / "library"
        with ThreadPoolExecutor(max_workers=2) as pool:
            dependencies = pool.submit(
                _pip_install,
                [*source, *_PLATFORM_OPTIONS, "--implementation", "cp", "--target", str(target),
                 "-c", str(CONSTRAINTS), *requirements],
                "installing the layer's dependencies",
            )  # fmt: skip
            library = pool.submit(
                _pip_install,
                [*source, "--no-deps", "--target", str(library_target), str(copy)],
                "installing smokejumper",
            )
            dependencies.result()
            library.result()
        _drop_scripts(target)
        _drop_scripts(library_target)
        _merge(library_target, target)


def _compile_extension(target: Path, python312: Python312, zig: list[str]) -> Path:
    extension = target / EXTENSION_IN_LAYER
    for built_here in extension.parent.glob("_copyframe*.so"):
        built_here.unlink()  # compiled by pip for this machine's Python and glibc: not Lambda's
    _run(
        [
            *zig,
            "cc",
            "-target",
            ZIG_TARGET,
            "-shared",
            "-fPIC",
            "-O2",
            "-s",
            "-DNDEBUG",
            f"-DPy_LIMITED_API={LIMITED_API}",
            f"-I{python312.include}",
            str(EXTENSION_SOURCE),
            "-o",
            str(extension),
        ],
        "cross-compiling the COPY reader's C extension with zig",
    )
    too_new = glibc_versions_beyond_baseline(extension)
    if too_new:
        raise LayerBuildError(f"{extension.name} needs {', '.join(too_new)}: Lambda guarantees glibc 2.17 only")
    return extension


def _strip_debug_info(target: Path, strip: str) -> int:
    objects = [path for path in sorted(target.rglob("*.so*")) if path.is_file() and _has_debug_info(path)]
    if not objects:
        return 0
    before = sum(path.stat().st_size for path in objects)
    _run([strip, "--strip-debug", *map(str, objects)], "stripping debug information")
    return before - sum(path.stat().st_size for path in objects)


def _compile_bytecode(target: Path, python312: Python312) -> None:
    _run(
        [
            python312.executable,
            "-I",
            "-m",
            "compileall",
            "-q",
            "-j0",
            "--invalidation-mode",
            "unchecked-hash",
            str(target),
        ],
        f"byte-compiling the layer with {python312.executable}",
    )


def tree_size(directory: Path) -> tuple[int, int]:
    """Bytes and files under `directory`, as Lambda counts a layer unzipped."""
    sizes = [path.lstat().st_size for path in directory.rglob("*") if path.is_file() or path.is_symlink()]
    return sum(sizes), len(sizes)


def build(output_dir: Path | str, *, log: Callable[[str], None] = _log) -> LayerReport:
    """Build the layer into `output_dir`/python (created; it must not hold anything yet)."""
    started = time.monotonic()
    target = Path(output_dir) / "python"
    if target.exists() and any(target.iterdir()):
        raise LayerBuildError(f"{target} is not empty")
    python312, zig, strip = find_python312(), _zig(), _strip()
    requirements = layer_requirements()
    target.mkdir(parents=True, exist_ok=True)

    log(f"installing smokejumper and {len(requirements)} pinned requirements for CPython {PYTHON_VERSION} {PLATFORM}")
    _install_packages(target, requirements, log)
    log(f"cross-compiling {EXTENSION_IN_LAYER.name} for {ZIG_TARGET}")
    _compile_extension(target, python312, zig)
    stripped = _strip_debug_info(target, strip)
    log(f"byte-compiling with {python312.executable}")
    _compile_bytecode(target, python312)

    size, files = tree_size(target)
    report = LayerReport(
        python_dir=target,
        unzipped_bytes=size,
        files=files,
        stripped_bytes=stripped,
        seconds=time.monotonic() - started,
    )
    log(
        f"built in {report.seconds:.1f} s: {size / 2**20:.1f} MiB unzipped in {files} files "
        f"({stripped / 2**20:.1f} MiB of debug information stripped)"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "output_dir", type=Path, nargs="?", help="where to build (the layer's content goes to OUTPUT_DIR/python)"
    )
    parser.add_argument("--download", action="store_true", help="only fill the wheelhouse (.layer-wheels/)")
    arguments = parser.parse_args(argv)
    if not arguments.download and arguments.output_dir is None:
        parser.error("give OUTPUT_DIR, or --download")
    try:
        if arguments.download:
            download_wheels()
        else:
            build(arguments.output_dir)
    except LayerBuildError as error:
        print(f"layer: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

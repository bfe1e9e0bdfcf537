"""The one thing pyproject.toml cannot say: the optional C extension of the COPY reader.

`optional=True`: where it cannot be compiled (no compiler, no Python
headers), the package installs without it and the COPY reader frames rows
with numpy instead, at about four times the CPU.

It is built against the stable ABI of Python 3.11 (`Py_LIMITED_API`), as the
Lambda layer's build (layers/build_layer.py) compiles it for Python 3.12: the
tests then run the same code the layer ships, and one `_copyframe.abi3.so`
serves 3.11 and later.
"""

from setuptools import Extension, setup

LIMITED_API = "0x030B0000"  # Python 3.11: the oldest this package supports (requires-python)

setup(
    ext_modules=[
        Extension(
            "smokejumper.sources.postgres._copyframe",
            ["src/smokejumper/sources/postgres/_copyframe.c"],
            define_macros=[("Py_LIMITED_API", LIMITED_API)],
            py_limited_api=True,
            optional=True,
        )
    ],
    # A wheel holding the extension is tagged cp311-abi3, which is what the .so is.
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)

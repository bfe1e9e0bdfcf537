"""The one thing pyproject.toml cannot say: the optional C extension of the COPY reader.

`optional=True`: where it cannot be compiled (no compiler, no Python
headers), the package installs without it and the COPY reader frames rows
with numpy instead, at about four times the CPU.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "smokejumper.sources.postgres._copyframe",
            ["src/smokejumper/sources/postgres/_copyframe.c"],
            optional=True,
        )
    ]
)

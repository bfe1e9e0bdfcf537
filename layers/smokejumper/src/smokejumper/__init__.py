"""smokejumper: backups from which a platform can be rebuilt after a smoking hole."""

# The one place the version is written (pyproject.toml reads it from here): looking it up with
# importlib.metadata cost 45 ms of every CLI start and Lambda cold start.
__version__ = "0.2.0"

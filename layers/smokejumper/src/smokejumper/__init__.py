"""smokejumper: backups from which a platform can be rebuilt after a smoking hole."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("smokejumper")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

"""The installed package's version (kept apart so that modules can name it without importing the package)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aedetect")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

"""The installed distribution's version: recorded with every audited card."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    SERVICE_VERSION = version("trial-screen")
except PackageNotFoundError:  # running from a source tree that was never installed
    SERVICE_VERSION = "0+unknown"

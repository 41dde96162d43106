"""Session fixtures: the SEKMET FHIR R4 test server, plain and with bearer auth (bench/fhir_server.py).

Set FHIR_BASE_URL to run the plain-server tests against another, already running FHIR server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fhir_server import (
    INSTALL_HINT,
    FhirServerError,
    RunningServer,
    sekmet_bin,
    start_fhir_server,
)

BEARER_TOKEN = "a-test-token"


def _start(tmp: Path, *, bearer_token: str | None = None, absolute_references: bool = False) -> RunningServer:
    executable = sekmet_bin()
    if not executable.is_file():
        pytest.fail(f"SEKMET FHIR test server not installed (no {executable}): {INSTALL_HINT}", pytrace=False)
    try:
        return start_fhir_server(tmp, bearer_token=bearer_token, absolute_references=absolute_references)
    except FhirServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a FHIR server without auth."""
    external = os.environ.get("FHIR_BASE_URL")
    if external:
        yield external.rstrip("/")
        return
    server = _start(tmp_path_factory.mktemp("sekmet-plain"))
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fhir_server_bearer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a FHIR server that requires `Authorization: Bearer a-test-token`."""
    server = _start(tmp_path_factory.mktemp("sekmet-bearer"), bearer_token=BEARER_TOKEN)
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fhir_server_absolute(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a FHIR server answering with absolute references (as e.g. Firely does)."""
    server = _start(tmp_path_factory.mktemp("sekmet-absolute"), absolute_references=True)
    try:
        yield server.base_url
    finally:
        server.stop()

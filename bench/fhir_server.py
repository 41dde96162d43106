"""Start the SEKMET FHIR R4 test server (its own venv) for integration tests, and seed it.

No pytest here: `.ci/` scripts can use it too. See /work/shared/design/fhir-test-server.md.
SEKMET is only ever talked to over HTTP; nothing here imports it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEKMET_BIN = REPO_ROOT / ".fhir-venv" / "bin" / "sekmet"
INSTALL_HINT = "run `.ci/run` (or `bash .ci/install-fhir-server`) to install the SEKMET FHIR test server"
READY_TIMEOUT_S = 30.0
# SEKMET reads these from the environment over the settings file; the child must not inherit them.
_SEKMET_ENV_OVERRIDES = ("SEKMET_CONFIG", "SEKMET_BASE_URL", "SEKMET_DB", "SEKMET_PUBLIC_URL", "SEKMET_PORT")


class FhirServerError(RuntimeError):
    """The test server could not be found, started, or seeded."""


def sekmet_bin() -> Path:
    """The `sekmet` executable: env SEKMET_BIN, else `<repo>/.fhir-venv/bin/sekmet`."""
    configured = os.environ.get("SEKMET_BIN")
    return Path(configured) if configured else DEFAULT_SEKMET_BIN


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    bearer_token: str | None = None
    _stopped: bool = field(default=False, repr=False)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate (SIGTERM to its process group), wait; kill if it does not exit in time."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def write_settings(
    directory: Path, port: int, *, bearer_token: str | None = None, absolute_references: bool = False
) -> Path:
    """settings.yaml as fhir-test-server.md prescribes."""
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "base_url": f"http://127.0.0.1:{port}/fhir",
        "data_dir": str(directory / "data"),
        "db_path": ":memory:",
        "simulator": {"enabled": False},
        "log_inbound": False,
        "validation": {"inbound": "strict"},
        "server_auth": ({"types": ["bearer"], "tokens": [bearer_token]} if bearer_token else {"types": ["none"]}),
    }
    if absolute_references:
        settings["server_behaviour"] = {"absolute_references": True}
    path = directory / "settings.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def start_fhir_server(
    tmp_dir: str | os.PathLike[str],
    port: int | None = None,
    *,
    bearer_token: str | None = None,
    absolute_references: bool = False,
) -> RunningServer:
    """Start `sekmet serve -c settings.yaml` in ``tmp_dir`` and wait until ``{base}/metadata`` answers 200."""
    executable = sekmet_bin()
    if not executable.is_file() or not os.access(executable, os.X_OK):
        raise FhirServerError(f"SEKMET executable not found at {executable}: {INSTALL_HINT}")
    directory = Path(tmp_dir)
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    settings = write_settings(directory, port, bearer_token=bearer_token, absolute_references=absolute_references)
    log_path = directory / "sekmet.log"
    env = {k: v for k, v in os.environ.items() if k not in _SEKMET_ENV_OVERRIDES}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve", "-c", str(settings)],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    server = RunningServer(
        base_url=f"http://127.0.0.1:{port}/fhir",
        port=port,
        process=process,
        log_path=log_path,
        bearer_token=bearer_token,
    )
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: RunningServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise FhirServerError(
                    f"SEKMET exited with code {server.process.returncode} before it was ready; "
                    f"log tail:\n{server.log_tail()}"
                )
            try:
                response = http.get(f"{server.base_url}/metadata")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise FhirServerError(
        f"SEKMET at {server.base_url} not ready after {READY_TIMEOUT_S:g} s ({last}); log tail:\n{server.log_tail()}"
    )


def _outcome_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:2000]
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        parts = [
            " ".join(
                str(x)
                for x in (
                    issue.get("severity"),
                    issue.get("code"),
                    issue.get("diagnostics") or issue.get("details", {}).get("text"),
                    issue.get("expression") or issue.get("location") or "",
                )
                if x
            )
            for issue in body.get("issue", [])
        ]
        return "; ".join(parts) or "OperationOutcome without issues"
    return response.text[:2000]


def seed_transaction(
    base_url: str, bundle_json: Mapping[str, Any], token: str | None = None, *, timeout: float = 120.0
) -> dict[str, Any]:
    """POST a transaction (or batch) Bundle to ``base_url``; returns the response Bundle."""
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(base_url.rstrip("/"), json=dict(bundle_json), headers=headers, timeout=timeout)
    if response.status_code >= 400:
        raise FhirServerError(
            f"transaction to {base_url} failed with HTTP {response.status_code}: {_outcome_text(response)}"
        )
    result: dict[str, Any] = response.json()
    # A batch answers 200 even when entries fail: look at each entry's status.
    failures = [
        f"entry {index}: {entry.get('response', {}).get('status')}"
        for index, entry in enumerate(result.get("entry", []))
        if not str(entry.get("response", {}).get("status", "200")).startswith(("1", "2", "3"))
    ]
    if failures:
        raise FhirServerError(f"{len(failures)} entries failed at {base_url}: {'; '.join(failures[:5])}")
    return result


def created_id(response_bundle: Mapping[str, Any], request_bundle: Mapping[str, Any], resource_type: str) -> str:
    """The server id of the first ``resource_type`` entry of a transaction, from its response location."""
    for request_entry, response_entry in zip(
        request_bundle.get("entry", []), response_bundle.get("entry", []), strict=False
    ):
        if request_entry.get("resource", {}).get("resourceType") != resource_type:
            continue
        location = response_entry.get("response", {}).get("location", "")
        path = location.split("/_history/", 1)[0]
        marker = f"{resource_type}/"
        if marker in path:
            return str(path.rsplit(marker, 1)[1])
        resource = response_entry.get("resource") or {}
        if resource.get("id"):
            return str(resource["id"])
    raise FhirServerError(f"no {resource_type} in the transaction response")

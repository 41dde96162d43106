"""Every curl line of the README runs against `trial-screen serve --demo`, so the README cannot rot."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
README_LINES = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
CURL_LINES = [line.strip() for line in README_LINES if line.strip().startswith("curl ")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}
    env["TRIAL_SCREEN_DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('readme')}/audit.sqlite3"
    executable = Path(sys.executable).with_name("trial-screen")
    process = subprocess.Popen(
        [str(executable), "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/cds-services", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            process.kill()
            log = process.stderr.read().decode()[-2000:] if process.stderr else ""
            raise AssertionError(f"demo server did not start: {log}")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_readme_has_curl_lines() -> None:
    assert len(CURL_LINES) >= 5


@pytest.mark.parametrize("line", CURL_LINES, ids=[f"curl-{i}" for i in range(len(CURL_LINES))])
def test_readme_curl_line(line: str, demo_server: str) -> None:
    command = shlex.split(line.replace("http://127.0.0.1:8000", demo_server))
    command[1:1] = ["-w", "\n%{http_code}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    body, _, status = done.stdout.rpartition("\n")
    payload = json.loads(body)
    if "/feedback" in line:
        assert status == "404"
        assert payload["error"] == "unknown-card"
        return
    assert status == "200", body
    if line.endswith("/cds-services"):
        assert payload["services"][0]["id"] == "trial-prescreen"
    elif "/cds-services/trial-prescreen" in line:
        assert isinstance(payload["cards"], list)
        if "demo-sle-eligible" in line:
            assert payload["cards"], "the demo SLE patient should get at least one card"
    else:
        assert {t["id"] for t in payload["trials"]} >= {"uwd-cd19-aid"}

"""Browser-test fixtures: a real `trial-screen serve` subprocess and Debian's chromium driven by Playwright.

Shared by the demo and audit browser tests. `service_factory(demo=..., env=...)` starts one service per call on a
free port with its own SQLite audit store and stops it at the end of the session; `browser` is one headless
chromium per session. Screenshots go to <repo>/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bench.fhir_server import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_SECONDS = 60.0


@dataclass
class RunningService:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _executable() -> str:
    beside = Path(sys.executable).parent / "trial-screen"
    return str(beside) if beside.is_file() else "trial-screen"


def start_service(folder: Path, *, demo: bool = True, env: Mapping[str, str] | None = None) -> RunningService:
    """`trial-screen serve [--demo] --port <free>` with a SQLite audit store in `folder`; waits for discovery."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}
    child_env["TRIAL_SCREEN_DATABASE_URL"] = f"sqlite:///{folder / 'audit.sqlite3'}"
    child_env.update(env or {})
    command = [_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if demo:
        command.append("--demo")
    log_path = folder / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=folder, env=child_env, stdout=log, stderr=subprocess.STDOUT)
    service = RunningService(base_url, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"trial-screen exited with {process.returncode}:\n{service.log()}")
        try:
            if httpx.get(f"{base_url}/cds-services", timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.stop()
    raise RuntimeError(
        f"trial-screen did not answer /cds-services within {START_TIMEOUT_SECONDS:.0f} s:\n{service.log()}"
    )


@pytest.fixture(scope="session")
def service_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningService]]:
    """Start services on demand: `service_factory(demo=True, env={"TRIAL_SCREEN_AUDIT_TOKEN": "t"})`."""
    started: list[RunningService] = []

    def start(*, demo: bool = True, env: Mapping[str, str] | None = None) -> RunningService:
        service = start_service(tmp_path_factory.mktemp("trial-screen"), demo=demo, env=env)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def demo_service(service_factory: Callable[..., RunningService]) -> RunningService:
    """One `serve --demo` for the session."""
    return service_factory(demo=True)


@pytest.fixture(scope="module")  # the sync Playwright loop must end before async tests run
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get update -qq && apt-get install -y -qq chromium)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[Any] = []

    def on_error(error: Any) -> None:
        errors.append(error)

    tab.on("pageerror", on_error)
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

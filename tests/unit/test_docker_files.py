"""docker/: no Docker engine runs here, so check the files' structure: services, images, ports, env names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"
ENV_NAME = re.compile(r"TRIAL_SCREEN_[A-Z0-9_]+")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """Instructions with continuation lines joined, comments dropped."""
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_has_the_four_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"trial-screen", "postgres", "hapi", "load-demo"}


def test_trial_screen_service_builds_from_the_repo_and_publishes_8000(compose: dict[str, Any]) -> None:
    service = compose["services"]["trial-screen"]
    assert service["build"]["context"] == ".."
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / ".." / service["build"]["dockerfile"]).resolve().is_file()
    assert "8000:8000" in [str(p) for p in service["ports"]]
    env = _env(service)
    assert env["TRIAL_SCREEN_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["TRIAL_SCREEN_DATABASE_URL"]
    assert env["TRIAL_SCREEN_ALLOWED_FHIR_SERVERS"] == "http://hapi:8080/fhir"
    assert re.fullmatch(r"\$\{TRIAL_SCREEN_AUDIT_TOKEN(:?[?-].*)?\}", env["TRIAL_SCREEN_AUDIT_TOKEN"])
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_postgres_and_hapi_images(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "healthcheck" in postgres
    assert postgres["healthcheck"]["test"]
    user = _env(postgres)["POSTGRES_USER"]
    database = _env(postgres)["POSTGRES_DB"]
    url = _env(compose["services"]["trial-screen"])["TRIAL_SCREEN_DATABASE_URL"]
    assert url.startswith(f"postgresql+psycopg://{user}:")
    assert url.endswith(f"/{database}")
    hapi = compose["services"]["hapi"]
    assert hapi["image"] == "hapiproject/hapi:latest"
    assert "8080:8080" in [str(p) for p in hapi["ports"]]


def test_load_demo_is_a_one_shot_on_the_same_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    loader = services["load-demo"]
    assert loader["image"] == services["trial-screen"]["image"]
    command = loader["command"]
    command = command if isinstance(command, list) else command.split()
    assert command == ["trial-screen", "load-demo", "--fhir-server", "http://hapi:8080/fhir"]
    assert "hapi" in loader["depends_on"]
    assert loader.get("restart", "no") in ("no", "on-failure") or str(loader["restart"]).startswith("on-failure")
    assert "ports" not in loader


def test_every_trial_screen_env_name_is_a_setting(compose: dict[str, Any]) -> None:
    fields = {f"TRIAL_SCREEN_{name.upper()}" for name in Settings.model_fields}
    used: set[str] = set()
    for service in compose["services"].values():
        for key, value in _env(service).items():
            used |= set(ENV_NAME.findall(key)) | set(ENV_NAME.findall(value))
    used |= set(ENV_NAME.findall((DOCKER / "Dockerfile").read_text(encoding="utf-8")))
    assert used, "the compose file wires nothing through TRIAL_SCREEN_ variables"
    assert used - fields == set()


def test_dockerfile_is_slim_non_root_with_a_healthcheck(dockerfile: list[str]) -> None:
    assert dockerfile[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0", "0:0")
    healthchecks = [line for line in dockerfile if line.startswith("HEALTHCHECK ")]
    assert len(healthchecks) == 1
    assert "urllib" in healthchecks[0]
    assert "/cds-services" in healthchecks[0]
    assert "python" in healthchecks[0]
    installs = [line for line in dockerfile if "pip install" in line]
    assert installs
    assert all("[dev]" not in line and "-e " not in line for line in installs)
    assert any(re.search(r"pip install \.(\s|$)", line) for line in installs)
    cmd = next(line for line in reversed(dockerfile) if line.startswith("CMD "))
    assert '"trial-screen", "serve", "--host", "0.0.0.0"' in cmd
    user_index = max(i for i, line in enumerate(dockerfile) if line.startswith("USER "))
    assert all(not line.startswith("RUN ") for line in dockerfile[user_index:])  # nothing runs as root after

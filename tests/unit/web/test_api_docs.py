"""/docs works on a network with no internet: Swagger UI's assets come from this service, not a CDN."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def test_the_docs_page_loads_only_local_assets(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path}/a.sqlite3"))) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources
        assert all(s.startswith("/docs/assets/") for s in sources), sources
        for source in sources:
            assert client.get(source).status_code == 200, source
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
        assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN

"""The demo page's static files: served when known, a JSON 404 (decided in app.py) when not."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def test_unknown_static_file_is_a_json_404(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'audit.db'}", demo=True, require_jwt=False))
    with TestClient(app) as client:
        assert client.get("/demo/static/demo.js").status_code == 200
        missing = client.get("/demo/static/nope.js")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not-found", "reason": "no such file"}

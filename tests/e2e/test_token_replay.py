"""A hook JWT is good for one call: another worker process on the same audit database, or the service after a
restart, refuses it again; a token valid for longer than the maximum lifetime is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from tests.e2e.conftest import Ehr
from tests.e2e.test_hostile_inputs import CALL, HOOK
from tests.jwt_keys import hook_claims, sign_token

BODY = orjson.dumps(CALL)


def test_a_token_used_on_one_worker_is_refused_on_another_and_after_a_restart(
    make_client: Callable[..., TestClient], ehr: Ehr, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path}/shared-audit.sqlite3"
    worker_1, worker_2 = make_client(database_url=database), make_client(database_url=database)
    headers = ehr.headers()
    assert worker_1.post(HOOK, content=BODY, headers=headers).status_code == 200
    replay = worker_2.post(HOOK, content=BODY, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["reason"] == "token replayed"
    assert worker_2.post(HOOK, content=BODY, headers=ehr.headers()).status_code == 200  # a fresh token is fine
    worker_1.close()
    worker_2.close()
    restarted = make_client(database_url=database)
    assert restarted.post(HOOK, content=BODY, headers=headers).json()["reason"] == "token replayed"


def test_a_token_valid_for_ten_years_is_refused(make_client: Callable[..., TestClient], ehr: Ehr) -> None:
    client = make_client()
    long_lived = sign_token(
        ehr.rsa, hook_claims(ehr.issuer, client.app.state.settings.hook_url, lifetime=10 * 365 * 86400)
    )  # type: ignore[attr-defined]
    response = client.post(HOOK, content=BODY, headers={"Authorization": f"Bearer {long_lived}"})
    assert response.status_code == 401
    assert response.json()["reason"] == "token lifetime too long"
    shorter = make_client(jwt_max_lifetime_seconds=60)
    assert shorter.post(HOOK, content=BODY, headers=ehr.headers()).json()["reason"] == "token lifetime too long"

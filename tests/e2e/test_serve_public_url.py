"""`trial-screen serve` with JWT checks on and no TRIAL_SCREEN_PUBLIC_URL: the audience is where it listens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.jwt_keys import hook_claims, jwks, make_rsa_keypair, serve_jwks, sign_token

ISSUER = "https://ehr.example.org"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_token_for_the_listening_url_is_accepted(tmp_path: Path) -> None:
    key = make_rsa_keypair()
    port = _free_port()
    hook_url = f"http://127.0.0.1:{port}/cds-services/trial-prescreen"
    body = {
        "hook": "patient-view",
        "hookInstance": "e2e-public-url",
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "gender": "female"}},
    }
    with serve_jwks({"/jwks": jwks(key)}) as issuer_keys:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}
        env["TRIAL_SCREEN_DATABASE_URL"] = f"sqlite:///{tmp_path}/audit.sqlite3"
        env["TRIAL_SCREEN_TRUSTED_ISSUERS"] = json.dumps({ISSUER: issuer_keys.url("/jwks")})
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("trial-screen")), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            good = sign_token(key, hook_claims(ISSUER, hook_url))
            answer = httpx.post(hook_url, json=body, headers={"Authorization": f"Bearer {good}"}, timeout=30)
            assert answer.status_code == 200, answer.text
            wrong = sign_token(key, hook_claims(ISSUER, "http://127.0.0.1:8000/cds-services/trial-prescreen"))
            refused = httpx.post(hook_url, json=body, headers={"Authorization": f"Bearer {wrong}"}, timeout=30)
            assert refused.status_code == 401
            assert refused.json()["reason"] == "audience mismatch"
        finally:
            process.terminate()
            process.wait(timeout=10)

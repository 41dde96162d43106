"""The app's HTTP client makes its transport (TLS context, pool) at the first request, once, and exactly as httpx
would when the environment names a proxy."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from service.fhir_access import http_client as module


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The transports the module makes: each a MockTransport answering 200, with the options it was given."""
    options: list[dict[str, Any]] = []

    def transport(**kwargs: Any) -> httpx.MockTransport:
        options.append(kwargs)
        return httpx.MockTransport(lambda _request: httpx.Response(200, json={"ok": True}))

    monkeypatch.setattr(module.httpx, "AsyncHTTPTransport", transport)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return options


async def test_the_transport_is_made_at_the_first_request_and_only_once(made: list[dict[str, Any]]) -> None:
    client = module.http_client(3.0)
    assert made == []
    responses = await asyncio.gather(*(client.get(f"https://fhir.example/Patient/{i}") for i in range(5)))
    assert [r.json() for r in responses] == [{"ok": True}] * 5
    assert made == [{"limits": httpx.Limits(max_connections=50, max_keepalive_connections=20)}]
    assert client.timeout == httpx.Timeout(3.0)
    assert not client.follow_redirects
    await client.aclose()


async def test_a_client_never_used_closes_without_making_it(made: list[dict[str, Any]]) -> None:
    await module.http_client(3.0).aclose()
    assert made == []


async def test_with_a_proxy_in_the_environment_httpx_makes_its_transports_as_ever(
    made: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx mounts the environment's proxies only beside a transport it makes itself: then it makes them all."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    client = module.http_client(3.0)
    assert made == []  # not the first-use transport: httpx's own, proxies included
    assert client.trust_env
    await client.aclose()

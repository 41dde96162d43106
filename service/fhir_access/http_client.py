"""The app's one outgoing HTTP client (FHIR servers, the JWT issuers' key sets), made cheap to make: unless the
environment names a proxy, its connection pool and TLS context are made at its first request. The TLS context
loads the CA bundle, ~35 ms of every start otherwise, and a service without FHIR server or JWT checks never needs
it."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import httpx


def http_client(timeout_seconds: float) -> httpx.AsyncClient:
    """No redirects followed; at most 50 connections, 20 kept alive."""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
    timeout = httpx.Timeout(timeout_seconds)
    if urllib.request.getproxies():  # httpx mounts the environment's proxies only beside a transport it makes
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False, limits=limits)
    transport = _FirstUseTransport(lambda: httpx.AsyncHTTPTransport(limits=limits))
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=transport)


class _FirstUseTransport(httpx.AsyncBaseTransport):
    """The transport httpx would have made, made at the first request. Requests run on the event loop's thread
    and nothing is awaited between the test and the assignment: one transport, whatever runs at once."""

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._transport: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = self._make()
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()

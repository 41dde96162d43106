"""A FHIR server that answers with a gzip bomb (about 100 KB that inflate to 100 MB): the client inflates it itself
with the response cap applied to the output, so the bomb is a FhirResponseError after at most the cap in memory;
an honest gzip answer next to it is read as usual. A loopback HTTP server plays the FHIR server."""

from __future__ import annotations

import gzip
import http.server
import threading
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest

from service.fhir_access.client import MAX_RESPONSE_BYTES, FhirClient
from service.fhir_access.errors import FhirResponseError

PATIENT = orjson.dumps({"resourceType": "Patient", "id": "p1"})


def _bomb(inflated_bytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b" " * (1024 * 1024)
    parts = [packer.compress(b'{"resourceType": "Patient", "id": "p1", "text": "')]
    parts += [packer.compress(block) for _ in range(inflated_bytes // len(block))]
    parts.append(packer.compress(b'"}') + packer.flush())
    return b"".join(parts)


BOMB = _bomb(5 * MAX_RESPONSE_BYTES)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {"/fhir/Patient/bomb": BOMB, "/fhir/Patient/p1": gzip.compress(PATIENT)}[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[FhirClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield FhirClient(http, [base_url])


async def test_a_gzip_bomb_is_refused_at_the_cap(client: FhirClient, base_url: str) -> None:
    assert len(BOMB) < MAX_RESPONSE_BYTES // 50
    tracemalloc.start()
    try:
        with pytest.raises(FhirResponseError, match="exceeds"):
            await client.read(base_url, "Patient", "bomb", None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # at most the cap (and change) in memory; inflating whole 64 KB network chunks would take ~64 MB at once
    assert peak < 1.5 * MAX_RESPONSE_BYTES


async def test_an_honest_gzip_answer_is_read(client: FhirClient, base_url: str) -> None:
    assert await client.read(base_url, "Patient", "p1", None) == {"resourceType": "Patient", "id": "p1"}

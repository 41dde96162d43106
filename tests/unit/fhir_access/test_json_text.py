"""`has_escaped_nul`: a NUL character written as `\\u0000` is found, whatever else the text holds."""

from __future__ import annotations

import pytest

from service.fhir_access.json_text import has_escaped_nul


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (rb'{"a": "plain text, no escape at all: 0000 u0000"}', False),
        (rb'{"a": "x\u0000y"}', True),
        (rb'{"a": "\\u0000 is a backslash then u0000"}', False),
        (rb'{"a": "\\\u0000"}', True),
        (rb'{"a": "\"quoted\" \u00e9"}', False),
        (rb'{"a": "\"quoted\"", "b": "\u0000"}', True),
    ],
)
def test_escaped_nul(text: bytes, expected: bool) -> None:
    assert has_escaped_nul(text) is expected

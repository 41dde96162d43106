"""A property of JSON text worth knowing before it is parsed."""

from __future__ import annotations


def has_escaped_nul(body: bytes) -> bool:
    r"""Whether the JSON text holds a NUL character (``\u0000``; a raw one is not valid JSON). No audit row can
    keep one (PostgreSQL refuses it in text and JSONB), so a record holding one is refused where it comes in.
    In ``\\u0000`` the escaped character is a backslash, not a NUL."""
    if b"\\" not in body:  # one byte: memchr, ~25x faster than the six-byte search on ~100 KB of JSON
        return False
    start = body.find(rb"\u0000")
    while start != -1:
        before = start
        while before > 0 and body[before - 1] == 0x5C:  # backslashes in front of this one
            before -= 1
        if (start - before) % 2 == 0:
            return True
        start = body.find(rb"\u0000", start + 1)
    return False

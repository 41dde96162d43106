"""Paths that may be local or fsspec URLs (s3://, gs://, abfs://…), and writes a retried task can repeat safely."""

from __future__ import annotations

import posixpath
import uuid
from typing import Any

import fsspec


def filesystem(path: str) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for a local path or a URL."""
    fs, inner = fsspec.core.url_to_fs(path)
    return fs, inner


def join(base: str, *parts: str) -> str:
    return posixpath.join(base.rstrip("/"), *parts)


def parent(path: str) -> str:
    head = posixpath.dirname(path.rstrip("/"))
    return head or "."


def write_replacing(path: str, *chunks: bytes | bytearray) -> None:
    """Write `path` whole (the chunks one after the other): first under a unique temporary name, then moved.

    A task that is retried (its worker died) writes the same name again, so its output replaces, never appends,
    and a reader never sees a half-written file.
    """
    fs, inner = filesystem(path)
    fs.makedirs(posixpath.dirname(inner), exist_ok=True)
    temporary = f"{inner}.tmp-{uuid.uuid4().hex}"
    with fs.open(temporary, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    fs.mv(temporary, inner)


def remove_tree(path: str) -> None:
    fs, inner = filesystem(path)
    if fs.exists(inner):
        fs.rm(inner, recursive=True)

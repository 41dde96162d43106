"""The trials' generated functions compiled once and kept as code objects (`marshal`) in the cache directory,
beside their parse trees: compiling the ~4,100 generated lines took ~60 ms of every start.

An entry is keyed by what its code objects are made of: each function's text and first line, the file name they
are compiled under, and the interpreter's bytecode version and optimisation level. A changed trial, code
generator or Python therefore never reads an old entry; a missing, unreadable or foreign entry is compiled again,
never an error. The same trust as the parse trees' cache: only this user writes there."""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import sys
from collections.abc import Sequence
from types import CodeType

from service.cache_dir import through_cache


def compile_functions(functions: Sequence[tuple[int, str]], filename: str, *, kept: bool) -> list[CodeType]:
    """Each (first line, text) compiled at its own lines under `filename`; `kept`: through the cache (the trial
    files loaded at every start, not the many texts of tests)."""
    if not kept:
        return _compile(functions, filename)
    return through_cache(
        lambda: f"trial-code-{_key(functions, filename)}.marshal",
        lambda data: _code_objects(data, len(functions)),
        lambda: _compile(functions, filename),
        marshal.dumps,
    )


def _code_objects(data: bytes, count: int) -> list[CodeType] | None:
    found = marshal.loads(data)  # noqa: S302 - our own cache directory (service/cache_dir.py)
    if isinstance(found, list) and len(found) == count and all(isinstance(code, CodeType) for code in found):
        return found
    return None


def _compile(functions: Sequence[tuple[int, str]], filename: str) -> list[CodeType]:
    # one function at a time, at its own lines: compiling a whole trial at once took ~6 MB more memory at its peak
    return [compile("\n" * (first - 1) + text, filename, "exec") for first, text in functions]


def _key(functions: Sequence[tuple[int, str]], filename: str) -> str:
    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + f"{sys.flags.optimize}\0{filename}".encode())
    for first, text in functions:
        digest.update(f"\0{first}\0{text}".encode())
    return digest.hexdigest()

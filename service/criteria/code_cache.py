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

from service.cache_dir import cache_dir, keep


def compile_functions(functions: Sequence[tuple[int, str]], filename: str, *, kept: bool) -> list[CodeType]:
    """Each (first line, text) compiled at its own lines under `filename`; `kept`: through the cache (the trial
    files loaded at every start, not the many texts of tests)."""
    if not kept:
        return _compile(functions, filename)
    try:
        entry = cache_dir() / f"trial-code-{_key(functions, filename)}.marshal"
    except (OSError, RuntimeError):  # no home directory (a container's arbitrary user): nowhere to keep it
        return _compile(functions, filename)
    try:
        found = marshal.loads(entry.read_bytes())  # noqa: S302 - our own cache directory (service/cache_dir.py)
    except Exception:  # missing, partial, or written by other code: compile again
        found = None
    if isinstance(found, list) and len(found) == len(functions) and all(isinstance(c, CodeType) for c in found):
        return found
    codes = _compile(functions, filename)
    keep(entry, marshal.dumps(codes))
    return codes


def _compile(functions: Sequence[tuple[int, str]], filename: str) -> list[CodeType]:
    # one function at a time, at its own lines: compiling a whole trial at once took ~6 MB more memory at its peak
    return [compile("\n" * (first - 1) + text, filename, "exec") for first, text in functions]


def _key(functions: Sequence[tuple[int, str]], filename: str) -> str:
    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + f"{sys.flags.optimize}\0{filename}".encode())
    for first, text in functions:
        digest.update(f"\0{first}\0{text}".encode())
    return digest.hexdigest()

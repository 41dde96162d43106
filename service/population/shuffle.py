"""Pass 1 (map side of the shuffle): one partition of the export → one map file with a section per bucket.

A line is copied unchanged into the section of the bucket its patient hashes to, grouped by patient: each patient
of the partition once, `<patient id>\\t<byte count>\\n`, then their lines in the file's order (pass 2 takes them
in one slice). Its patient is read from its bytes where an exporter's compact form makes that unambiguous (one
top-level looking `"subject":{"reference":"…"}`, else one `"patient":{…}`): such a line is not parsed here but
marked (a leading tab), and pass 2, which parses every line anyway, checks that the parse gives the same
patient; if any does not (or is not JSON), the run is done again with every line parsed here (`strict`), so what is
reported never depends on the shortcut. The lines after such a line that name the same patient are taken with it
as a run, found by a few counts over the block's bytes (_run_after) rather than line by line, and checked the
same way. Other lines are parsed here. Medication resources belong to no patient and
go to an extra last section that every bucket reads. The map file starts with the offsets of its sections, so a
bucket reads only its own bytes and the coordinator holds no offsets (its memory stays flat however large the
export).
It is written whole (storage.write_replacing): a partition retried after its worker died replaces its file.
Lines that cannot be screened go to a rejects file with their line number within the partition (the
coordinator adds the lines of the partitions before it).
"""

from __future__ import annotations

import array
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import orjson

from service.fhir_access.resource_types import READ_TYPES, ResourceType
from service.population.plan import Partition, read_blocks
from service.population.storage import filesystem, join, write_replacing

_WANTED = frozenset({ResourceType.PATIENT, *READ_TYPES})
SHARED_TYPE = ResourceType.MEDICATION
_NAMED_PATIENT = re.compile(rb'"reference"\s*:\s*"(?:[^"]*/)?Patient/([^"/\\]+)"')
_UNREAD_PREFIX = re.compile(rb'\{"resourceType":"(?!(?:%s)")[A-Za-z]+"[,}]' % "|".join(sorted(_WANTED)).encode())
OWNED_TYPES = frozenset(_WANTED - {ResourceType.PATIENT, SHARED_TYPE})  # the types whose patient is scanned
_OWNED_PREFIXES = tuple(b'{"resourceType":"%s",' % kind.encode() for kind in sorted(OWNED_TYPES))
_SUBJECT_FIELD = b'"subject":'
_PATIENT_FIELD = b'"patient":'
_REFERENCE = b'{"reference":"'
_CLOSING_BRACE = ord("}")
_FIELD_BYTES, _REFERENCE_BYTES = len(_SUBJECT_FIELD), len(_REFERENCE)  # both fields are as long (one constant)
_UNSEEN: list[bytes] = []  # a scanned reference not looked up yet (a patient's lines are never this object)
RUN_WINDOW = 64 * 1024  # bytes of a block searched at once for the end of a run of one patient's lines
UNVERIFIED = b"\t"  # starts the payload of a line whose patient was read from its bytes, not from its parse


@dataclass(frozen=True, slots=True)
class SplitResult:
    """What the coordinator keeps of a partition: counts (the sections stay in the map file)."""

    partition: Partition
    lines: int  # every line, blank ones included (line numbers count them)
    patients: int  # Patient resources
    unread: int  # resources of a type screening does not read (Encounter, Claim…)
    rejected: int
    rejects_file: str | None


def bucket_of(key: bytes, buckets: int) -> int:
    return zlib.crc32(key) % buckets


def patient_key(resource: dict[str, Any]) -> str | None:
    """The id of the patient a resource belongs to: Patient.id, or its subject / patient reference."""
    if resource.get("resourceType") == ResourceType.PATIENT:
        ident = resource.get("id")
        return ident if isinstance(ident, str) and ident and "\t" not in ident else None
    ref = resource.get("subject")
    if ref is None:
        ref = resource.get("patient")
    reference = ref.get("reference") if isinstance(ref, dict) else None
    return _key_of_reference(reference) if isinstance(reference, str) else None


def _key_of_reference(reference: str) -> str | None:
    reference = reference.split("/_history/", 1)[0]
    if "Patient/" not in reference:
        return None
    key = reference.rsplit("Patient/", 1)[1]
    return key if key and "\t" not in key else None


def is_unread_type(line: bytes) -> bool:
    """Whether an exporter's line (`{"resourceType":"Claim",…}`) holds a type screening does not read.

    Such lines (Claims, Encounters… most of an export's bytes) are not parsed: they would be ignored anyway.
    A line that does not start that way is parsed in full, so one that is not JSON is still reported.
    """
    return line.endswith(b"}") and _UNREAD_PREFIX.match(line) is not None


def scanned_reference(line: bytes) -> bytes | None:
    """The patient reference of an exporter's compact line of a type screening reads, from its bytes; None:
    parse it.

    Only where the bytes leave one candidate: a single `"subject":` (patient_key reads subject first), or none
    and a single `"patient":`, followed by a reference without escapes. Pass 2 checks it against the parse.
    """
    if line[-1:] != b"}" or not line.startswith(_OWNED_PREFIXES):  # a slice: endswith parses its arguments
        return None
    field = _SUBJECT_FIELD
    at = line.find(field)
    if at < 0:
        field = _PATIENT_FIELD
        at = line.find(field)
    start = at + _FIELD_BYTES
    if at < 0 or line.find(field, start) >= 0 or not line.startswith(_REFERENCE, start):
        return None
    start += _REFERENCE_BYTES
    end = line.find(b'"', start)
    reference = line[start:end]
    return reference if end > 0 and b"\\" not in reference else None


def reference_key(reference: bytes) -> str | None:
    """The patient id of a scanned reference (`Patient/<id>`); None if it names none (then the line is parsed)."""
    try:
        return _key_of_reference(reference.decode())
    except UnicodeDecodeError:  # not JSON either: the parse reports it
        return None


def _reject_reason(line: bytes) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """(patient id, reason it is rejected, the resource); reason None and key None: a type not read."""
    if is_unread_type(line):
        return None, None, None
    try:
        resource = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, "not JSON", None
    return classify(resource)


def classify(resource: Any) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """What _reject_reason says of a line that parsed to `resource`."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return None, "not a FHIR resource (no resourceType)", None
    kind = resource["resourceType"]
    if kind not in _WANTED:
        return None, None, None
    if kind == SHARED_TYPE:
        return None, None, resource
    key = patient_key(resource)
    if key is None:
        reason = "Patient without an id" if kind == "Patient" else "no patient (no subject or patient reference)"
        return None, reason, None
    return key, None, resource


def split_partition(partition: Partition, work: str, buckets: int, strict: bool = False) -> SplitResult:
    """`strict`: every line parsed (the run again, when pass 2 found a line whose bytes misled the scan)."""
    # Per bucket: patient id (encoded) → their lines of this partition, in the file's order, as the pieces to write
    # (not joined: a buffer grown by a run at a time was copied again at each growth, ~70 k instructions a patient).
    groups: list[dict[bytes, list[bytes]]] = [{} for _ in range(buckets)]
    shared = bytearray()
    rejects = bytearray()
    # Scanned reference → its patient's lines, or None when it names no patient: a partition's lines name few
    # patients, each many times (a patient's key is decoded and hashed once).
    targets: dict[bytes, list[bytes] | None] = {}
    number = patients = unread = rejected = 0
    for block, end in read_blocks(partition):
        position = 0
        runs_from = 0  # where a run may be looked for again after one was not taken whole
        while position <= end:
            newline = block.find(b"\n", position, end)
            if newline < 0:
                newline = end
            line = block[position:newline].strip()  # also a "\r" before the newline
            position = newline + 1
            number += 1
            if not line:
                continue
            reference = None if strict else scanned_reference(line)
            if reference is not None:
                lines = targets.get(reference, _UNSEEN)
                if lines is _UNSEEN:
                    lines = targets[reference] = _lines_of(reference, groups)
                if lines is not None:
                    lines += (UNVERIFIED, line, b"\n")
                    if newline < runs_from:
                        continue
                    stop, count, taken = _run_after(block, newline, end, line, reference)
                    if count:
                        lines += (UNVERIFIED, taken, b"\n")
                        number += count
                        position = stop + 1
                    else:  # lines one by one for a while: in an export not grouped by patient, most of them
                        runs_from = newline + (RUN_WINDOW if stop < 0 else RUN_WINDOW // 16)
                    continue
            key, reason, resource = _reject_reason(line)
            if reason is not None:
                rejected += 1
                text = line.decode("utf-8", errors="replace")
                reject = {"file": partition.name, "line": number, "reason": reason, "text": text}
                named = _NAMED_PATIENT.search(line)
                if named is not None:  # a damaged line may still say whose record it was part of
                    reject["patient"] = named.group(1).decode("utf-8", errors="replace")
                rejects += orjson.dumps(reject) + b"\n"
            elif resource is None:
                unread += 1
            elif key is None:
                shared += line + b"\n"
            else:
                patients += resource["resourceType"] == ResourceType.PATIENT
                encoded = key.encode()
                lines = groups[bucket_of(encoded, buckets)].setdefault(encoded, [])
                lines += (line, b"\n")
    pieces: list[bytes | bytearray] = []
    offsets = array.array("Q", [0])
    size = 0
    for group in groups:
        for encoded, lines in group.items():
            length = sum(map(len, lines))
            head = b"%s\t%d\n" % (encoded, length)
            pieces.append(head)
            pieces += lines
            size += len(head) + length
        offsets.append(size)
    pieces.append(shared)
    offsets.append(size + len(shared))
    header = array.array("Q", (offset + offsets.itemsize * len(offsets) for offset in offsets))
    write_replacing(map_file(work, partition.index), header.tobytes(), *pieces)
    rejects_file = None
    if rejects:
        rejects_file = join(work, "rejects", f"part-{partition.index:05d}.ndjson")
        write_replacing(rejects_file, rejects)
    return SplitResult(partition, number, patients, unread, rejected, rejects_file)


def _run_after(block: bytes, newline: int, end: int, line: bytes, reference: bytes) -> tuple[int, int, bytes]:
    """(Where it ends, how many lines, their bytes marked): the run of lines after `line` (ending at `newline`)
    taken for its patient's as they are, by counting over their bytes (a few scans in C) instead of scanning each
    line; count 0: none (stop -1: the next line names the patient too but no run could be taken: look for one
    again further on). The lines' count is read off the marking (it adds a byte a line): a count of newlines
    beside it was one more pass over the run's bytes, byte by byte (~0.2 M instructions per bench patient).

    Exporters write a patient's resources of a type one after another. The run goes up to the last line of the
    window that names `reference` as `line` does (else of a quarter of that span, and so on); it is taken if
    each of its lines starts with `line`'s type, the lines before each of them end with "}" (the last too), and
    they name `reference` so as many times as they are. Like a scanned line's, each line's patient is checked
    against its parse in pass 2.
    """
    field = _SUBJECT_FIELD if _SUBJECT_FIELD in line else _PATIENT_FIELD
    named = field + _REFERENCE + reference + b'"'
    following = block.find(b"\n", newline + 1, end)
    next_end = following if following >= 0 else end
    if block.find(named, newline, next_end) < 0:
        return newline, 0, b""  # the next line is another patient's
    boundary = b"}\n" + line[: line.find(b'",') + 2]  # a line's end, the next one's start: `{"resourceType":"X",`
    # The window grows from a sixteenth while the patient is still named just past it: a short run (a few
    # Conditions) is not searched back for from 64 kB of other patients' lines (~0.27 M instructions a patient).
    span = RUN_WINDOW // 16
    while span < RUN_WINDOW and block.find(named, newline + span, min(end, newline + span + span // 4)) >= 0:
        span *= 2
    limit = min(end, newline + span)
    while True:
        last = block.rfind(named, newline, limit)
        if last < 0:  # the next line is longer than the window
            return -1, 0, b""
        stop = block.find(b"\n", last, end)
        if stop < 0:
            stop = end
        count = block.count(named, newline, stop)
        if block[stop - 1] == _CLOSING_BRACE and block.count(boundary, newline - 1, stop) == count:
            taken = block[newline + 1 : stop].replace(b"\n", b"\n" + UNVERIFIED)
            if len(taken) - (stop - newline - 1) + 1 == count:  # the lines' count: one more than the newlines marked
                return stop, count, taken
        if stop == next_end:  # one line
            return -1, 0, b""
        limit = newline + (min(stop, limit) - newline) // 4  # other lines among them: a shorter run


def _lines_of(reference: bytes, groups: list[dict[bytes, list[bytes]]]) -> list[bytes] | None:
    """Where the lines a scanned reference names go: its patient's lines in their bucket."""
    key = reference_key(reference)
    if key is None:
        return None
    encoded = key.encode()
    return groups[bucket_of(encoded, len(groups))].setdefault(encoded, [])


def map_file(work: str, partition: int) -> str:
    return join(work, "map", f"part-{partition:05d}.bin")


def read_section(work: str, partition: int, section: int) -> bytes:
    """Section `section` of a map file: its header holds the byte offset of every section (uint64 each)."""
    fs, inner = filesystem(map_file(work, partition))
    bounds = array.array("Q")
    bounds.frombytes(fs.cat_file(inner, start=bounds.itemsize * section, end=bounds.itemsize * (section + 2)))
    return bytes(fs.cat_file(inner, start=bounds[0], end=bounds[1])) if bounds[1] > bounds[0] else b""


def patient_chunks(section: bytes) -> Iterator[tuple[bytes, list[bytes]]]:
    """(Patient id, their lines) of a bucket's section: `<id>\\t<byte count>\\n` then that many bytes of lines, each
    ending with a newline (a group holds at least one).

    Pass 2 takes a patient's lines of a partition by one C call over the section's own bytes (`readlines` stops at
    the line that reaches its byte count; a BytesIO shares a bytes object's buffer), not line by line and without
    a copy of their bytes (a patient's slice was ~0.1 M instructions); an id may hold any character but a tab
    (patient_key), a line any but a newline.
    """
    source = BytesIO(section)
    position = 0
    while position < len(section):
        tab = section.index(b"\t", position)
        newline = section.index(b"\n", tab)
        size = int(section[tab + 1 : newline])
        source.seek(newline + 1)
        yield section[position:tab], source.readlines(size)
        position = newline + 1 + size

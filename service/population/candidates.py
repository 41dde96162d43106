"""The coordinator's short list: one row per patient × trial × arm whose status was asked for, CSV or Parquet.

Read from each patient's answer per trial (trial_plan.py: its outcomes, or its report when one is written) plus
the patient's own resources (identifier, name, birth date, and the dates of the resources cited as evidence).
These rows carry PHI: they are written only where the user pointed.
"""

from __future__ import annotations

import csv
import functools
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from service.population.storage import filesystem
from service.population.trial_plan import Screened

if TYPE_CHECKING:
    import pyarrow as pa

COLUMNS = (
    "patient",
    "identifier",
    "name",
    "birth_date",
    "trial",
    "arm",
    "status",
    "missing_count",
    "missing",
    "latest_evidence",
    "rejected_lines",
)
DEFAULT_STATUSES = frozenset({"eligible", "possibly-eligible"})
# A row's values in the columns' order, in three groups: the patient's, the trial arm's answer, the rest.
_GROUPS = tuple(operator.itemgetter(*COLUMNS[start:end]) for start, end in ((0, 4), (4, 9), (9, None)))
_DATE_FIELDS = (
    "effectiveDateTime",
    "effectiveInstant",
    "issued",
    "onsetDateTime",
    "recordedDate",
    "authoredOn",
    "performedDateTime",
    "occurrenceDateTime",
    "dateAsserted",
)
_PERIOD_FIELDS = ("effectivePeriod", "performedPeriod", "onsetPeriod")


def _identifier(patient: Mapping[str, Any]) -> str:
    """The medical record number (identifier typed MR) when there is one, else the first identifier."""
    identifiers = [i for i in patient.get("identifier") or () if isinstance(i, dict) and i.get("value")]
    for ident in identifiers:
        codings = (ident.get("type") or {}).get("coding") or ()
        if any(isinstance(c, dict) and c.get("code") == "MR" for c in codings):
            return str(ident["value"])
    return str(identifiers[0]["value"]) if identifiers else ""


def _name(patient: Mapping[str, Any]) -> str:
    names = [n for n in patient.get("name") or () if isinstance(n, dict)]
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if chosen is None:
        return ""
    given = " ".join(str(g) for g in chosen.get("given") or ())
    family = str(chosen.get("family") or "")
    return ", ".join(part for part in (family, given) if part) or str(chosen.get("text") or "")


def resource_date(resource: Mapping[str, Any]) -> str | None:
    """The clinical date of a resource (YYYY-MM-DD), as far as its type records one."""
    for field in _DATE_FIELDS:
        value = resource.get(field)
        if isinstance(value, str) and value:
            return value[:10]
    for field in _PERIOD_FIELDS:
        period = resource.get(field)
        if isinstance(period, dict):
            value = period.get("end") or period.get("start")
            if isinstance(value, str) and value:
                return value[:10]
    return None


def _evidence_dates(cited: set[str], resources: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Reference ("Observation/abc") → clinical date, for the resources of `cited` (references)."""
    ids = {reference.partition("/")[2] for reference in cited}  # a resource's own type names have no "/"
    dates = {}
    for resource in resources:
        if str(resource.get("id")) not in ids:
            continue
        reference = f"{resource.get('resourceType')}/{resource.get('id')}"
        if reference in cited and (date := resource_date(resource)):
            dates[reference] = date
    return dates


def candidate_rows(
    reference: str,
    trials: Sequence[Screened],
    patient: Mapping[str, Any],
    resources: Sequence[Mapping[str, Any]],
    statuses: frozenset[str],
    rejected_lines: int = 0,
) -> list[dict[str, Any]]:
    """Rows of the patient `reference` ("Patient/<id>") from their answers, `trials`. `resources`: the
    patient's own, where the dates of the evidence the rows cite are read (only when there is a row).

    `rejected_lines`: lines of the export that name this patient but could not be read. The record screened is
    then incomplete (a missing diagnosis could hide an exclusion), so the row says so: check before acting.
    """
    arms = []  # per row: (answer, arm, status, missing items, references cited)
    for screened in trials:
        lines, unknown = screened.lines, None
        for arm, status in zip(screened.plan.arms, screened.arm_statuses, strict=True):
            if status not in statuses:
                continue
            if unknown is None:
                unknown = screened.unknown()
            decides = arm.decides
            missing = dict.fromkeys(m for i in unknown if decides[i] for m in lines[i].missing)
            cited = [e.reference for i in arm.criteria for e in lines[i].evidence]
            arms.append((screened, arm, status, missing, cited))
    if not arms:
        return []
    dates = _evidence_dates({r for *_, cited in arms for r in cited}, resources)
    who = {
        "patient": reference,
        "identifier": _identifier(patient),
        "name": _name(patient),
        "birth_date": str(patient.get("birthDate") or ""),
    }
    return [
        {
            **who,
            "trial": screened.plan.id,
            "arm": arm.id,
            "status": status,
            "missing_count": len(missing),
            "missing": " | ".join(missing),
            "latest_evidence": max(filter(None, map(dates.get, cited)), default=""),
            "rejected_lines": rejected_lines,
        }
        for screened, arm, status, missing, cited in arms
    ]


class _Lines(list[str]):
    """A csv writer's file: the lines it writes, kept."""

    write = list.append


def _csv_lines(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The csv module's lines of `rows`, each group of columns (_GROUPS) encoded once per distinct value.

    The module reads every character of a field twice (~200 instructions each), and most of a row's text repeats:
    the patient's columns in each of their rows, an arm's missing data in many patients'. A field's quoting depends
    on that field alone in a row of two fields or more (only a row of one empty field is written otherwise), so a
    row's line is its groups' lines, each made by the module, joined by the delimiter.
    """
    written = _Lines()
    writer = csv.writer(written, lineterminator="\n")
    known: dict[tuple[Any, ...], str] = {}
    for row in rows:
        texts = []
        for group in _GROUPS:
            values = group(row)
            text = known.get(values)
            if text is None:
                writer.writerow(values)
                text = known[values] = written.pop()[:-1]
            texts.append(text)
        yield ",".join(texts) + "\n"


@functools.cache
def _schema() -> pa.Schema:
    """The Parquet schema; pyarrow is imported only for Parquet (~0.1 s of every run's start otherwise)."""
    import pyarrow as pa

    return pa.schema([(c, pa.int64() if c in ("missing_count", "rejected_lines") else pa.string()) for c in COLUMNS])


def encode_rows(rows: Sequence[Mapping[str, Any]], fmt: str) -> bytes:
    """One part file's bytes: CSV without its header (parts are joined under one), or a Parquet file."""
    if fmt == "csv":
        return "".join(_csv_lines(rows)).encode()
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(list(rows), schema=_schema()), sink)
    return bytes(sink.getvalue().to_pybytes())


def join_parts(parts: Iterable[str], target: str, fmt: str) -> None:
    """The workers' part files → the one file the user asked for, streamed part by part."""
    fs, inner = filesystem(target)
    fs.makedirs(fs._parent(inner), exist_ok=True)
    if fmt == "csv":
        with fs.open(inner, "wb") as out:
            out.write((",".join(COLUMNS) + "\n").encode())
            for part in parts:
                part_fs, part_inner = filesystem(part)
                out.write(part_fs.cat_file(part_inner))
        return
    import pyarrow.parquet as pq

    with fs.open(inner, "wb") as out, pq.ParquetWriter(out, _schema()) as writer:
        for part in parts:
            part_fs, part_inner = filesystem(part)
            with part_fs.open(part_inner, "rb") as source:
                table = pq.read_table(source)
            if table.num_rows:
                writer.write_table(table)

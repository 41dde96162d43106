"""A card's report as stored: on SQLite, what varies from patient to patient, beside its trial's skeleton.

A report is ~14 KB of JSON, two thirds of it the trial's own wording (ids, titles, criterion texts), the same in
every report of that trial version; making that JSON and writing it (SQLite's CPU per write grows with the bytes)
were most of the audit writer's CPU. So on SQLite a row holds in ``report_compact`` only what varies, ~4 KB: the
trial's and cohorts' statuses and each criterion's result, evidence and missing data, as JSON arrays in the
skeleton's order. ``report_skeleton`` names the rest (``audit_report_skeleton``): a report of that trial version as
JSON with those parts blanked, so it holds no patient data and is kept when cards are purged (a few KB per trial
version). A report whose fixed parts are not its skeleton's is stored whole, so a reader always gets back exactly
the JSON ``TrialReport.to_json`` gave. PostgreSQL keeps ``report`` whole as JSONB: it compresses large values
itself (TOAST), and JSONB stays queryable.

Readers take ``report`` unless it is null and ``report_compact`` is set: rows written before revision 0004, and on
PostgreSQL, read as they always did.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from sqlalchemy import Connection, insert, select

from service.audit.errors import AuditRejectedError
from service.audit.tables import audit_report_skeleton
from service.criteria import Evidence
from service.screening.contract import TrialReport
from service.screening.prescreen import CardRecord

# The keys `TrialReport.to_json` gives, in its order: the compact form stores the varying ones and rebuilds the rest.
_TRIAL_KEYS: Final = ("id", "title", "registryId", "status", "cohorts", "criteria")
_COHORT_KEYS: Final = ("id", "title", "status")
_CRITERION_KEYS: Final = ("id", "cohort", "kind", "text", "result", "evidence", "missing")
# Evidence goes to the compact form as an object with these keys, as orjson would write the dataclass: built here
# as a dict it is written faster (orjson reads a slotted dataclass field by field), ~0.02 ms per hook call.
_EVIDENCE_FIELDS: Final = ("reference", "display")
_NUL: Final = b"\\u0000"  # how JSON text holds a NUL, which PostgreSQL refuses and SQLite would take

TrialKey = tuple[str, str]  # (trial id, trial version)


@dataclass(frozen=True, slots=True)
class Skeleton:
    id: int
    fixed: tuple[Any, ...]  # the report's fixed parts (`fixed_parts`) a report must have to be stored compact


class ReportCodec:
    """The skeletons by trial version (writing) and by id (reading), learned once per process: they never change."""

    def __init__(self, *, compact: bool) -> None:
        self.compact = compact and tuple(f.name for f in dataclasses.fields(Evidence)) == _EVIDENCE_FIELDS
        self._by_trial: dict[TrialKey, Skeleton] = {}
        self._by_id: dict[int, dict[str, Any]] = {}

    def columns(self, conn: Connection, card: CardRecord, used: dict[TrialKey, Skeleton]) -> dict[str, Any]:
        """The report's columns in `card`'s row. A skeleton first needed now is stored in the transaction of `conn`
        and put in `used`, to `learn` once that transaction is committed. Raises AuditRejectedError for a NUL."""
        trial = card.trial
        if self.compact:
            key = (card.trial_id, card.trial_version)
            skeleton = used.get(key) or self._by_trial.get(key)
            if skeleton is None:
                skeleton = used[key] = _stored_skeleton(conn, trial)
            if skeleton.fixed == fixed_parts(trial):
                # evidence as objects of `_EVIDENCE_FIELDS` (the empty tuple as it is: most criteria have none),
                # built inline: a function call per criterion was half of this list's cost (~0.03 ms per hook call)
                packed = orjson.dumps(
                    [
                        trial.status,
                        [cohort.status for cohort in trial.cohorts],
                        [
                            (
                                c.result,
                                [{"reference": e.reference, "display": e.display} for e in evidence]
                                if (evidence := c.evidence)
                                else evidence,
                                c.missing,
                            )
                            for c in trial.criteria
                        ],
                    ]
                )
                if _NUL in packed:
                    raise AuditRejectedError("report holds a NUL character")
                return {"report": None, "report_compact": packed, "report_skeleton": skeleton.id}
        return {**whole(orjson.dumps(trial.to_json())), "report_compact": None, "report_skeleton": None}

    def learn(self, used: Mapping[TrialKey, Skeleton]) -> None:
        self._by_trial.update(used)

    def report(self, conn: Connection, report: Any, compact: bytes | None, skeleton_id: int | None) -> Any:
        """The stored report as JSON data, whichever form the row holds it in."""
        if report is not None or compact is None or skeleton_id is None:
            return report
        skeleton = self._by_id.get(skeleton_id)
        if skeleton is None:
            content = conn.execute(
                select(audit_report_skeleton.c.content).where(audit_report_skeleton.c.id == skeleton_id)
            ).scalar_one()
            skeleton = self._by_id[skeleton_id] = orjson.loads(content)
        status, cohort_statuses, criteria = orjson.loads(compact)
        return {
            "id": skeleton["id"],
            "title": skeleton["title"],
            "registryId": skeleton["registryId"],
            "status": status,
            "cohorts": [
                {"id": c["id"], "title": c["title"], "status": s}
                for c, s in zip(skeleton["cohorts"], cohort_statuses, strict=True)
            ],
            "criteria": [
                {
                    "id": c["id"],
                    "cohort": c["cohort"],
                    "kind": c["kind"],
                    "text": c["text"],
                    "result": result,
                    "evidence": evidence,
                    "missing": missing,
                }
                for c, (result, evidence, missing) in zip(skeleton["criteria"], criteria, strict=True)
            ],
        }


def whole(report: bytes) -> dict[str, Any]:
    """The `report` column holding the whole report's JSON (checked for NUL), as the column's serializer takes it."""
    if _NUL in report:
        raise AuditRejectedError("report holds a NUL character")
    return {"report": orjson.Fragment(report)}


def fixed_parts(trial: TrialReport) -> tuple[Any, ...]:
    """What every report of the trial version repeats (compared by identity first: the same strings, fast)."""
    return (
        trial.id,
        trial.title,
        trial.registry_id,
        tuple([(c.id, c.title) for c in trial.cohorts]),
        tuple([(c.id, c.cohort, c.kind, c.text) for c in trial.criteria]),
    )


def skeleton_json(trial: TrialReport) -> bytes | None:
    """The report's JSON without the patient: statuses and results "unknown", no evidence, nothing missing. None
    when the report has keys the compact form does not know (then it is stored whole)."""
    data = trial.to_json()
    if (
        tuple(data) != _TRIAL_KEYS
        or any(tuple(c) != _COHORT_KEYS for c in data["cohorts"])
        or any(tuple(c) != _CRITERION_KEYS for c in data["criteria"])
    ):
        return None
    return orjson.dumps(
        {
            **data,
            "status": "unknown",
            "cohorts": [{**cohort, "status": "unknown"} for cohort in data["cohorts"]],
            "criteria": [
                {**criterion, "result": "unknown", "evidence": [], "missing": []} for criterion in data["criteria"]
            ],
        }
    )


def _stored_skeleton(conn: Connection, trial: TrialReport) -> Skeleton:
    """The skeleton's row (by its digest), stored now if no process stored it before. A report the compact form
    cannot hold gets a skeleton that matches no report (id 0), so that it is stored whole."""
    content = skeleton_json(trial)
    if content is None or _NUL in content:
        return Skeleton(0, ())
    digest = hashlib.sha256(content).hexdigest()
    found = conn.execute(select(audit_report_skeleton.c.id).where(audit_report_skeleton.c.digest == digest)).scalar()
    if found is None:
        found = conn.execute(
            insert(audit_report_skeleton).values(digest=digest, content=content).returning(audit_report_skeleton.c.id)
        ).scalar_one()
    return Skeleton(found, fixed_parts(trial))

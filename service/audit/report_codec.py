"""A card's report as stored: compressed on SQLite against a dictionary of its trial's own wording.

A report is ~14 KB of JSON, most of it the trial's criterion texts, the same in every report of that trial version.
SQLite stores text as it is, and its CPU per write grows with the bytes (the write-ahead log, then the checkpoint):
so on SQLite the report goes to ``report_z`` as raw DEFLATE (zlib level 1) primed with a *dictionary* of the
trial's wording (``audit_report_dict``), ~1.5 KB instead of ~14 KB, and ``report`` holds JSON ``null``. The
dictionary is the report's skeleton: ids, titles and criterion texts, every result "unknown", no evidence and
nothing missing, so it holds no patient data and is kept when cards are purged (one per trial version, a few KB).
PostgreSQL keeps ``report`` as JSONB: it compresses large values itself (TOAST), and JSONB stays queryable.

Readers take ``report`` unless it is null and ``report_z`` is set, so rows written before revision 0004 (or on
PostgreSQL) read as they always did, and every reader gets the same JSON back.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from service.audit.tables import audit_report_dict
from service.screening.contract import TrialReport
from service.screening.prescreen import CardRecord

_LEVEL = 1  # the fastest: ~50 µs per report, ~9x smaller with the dictionary
_RAW_DEFLATE = -15  # no zlib header or checksum: the row's own bytes are all there is to check


@dataclass(frozen=True, slots=True)
class Dictionary:
    id: int
    content: bytes


TrialKey = tuple[str, str]  # (trial id, trial version)


class ReportCodec:
    """The dictionaries by id and by trial version, learned once per process (they never change)."""

    def __init__(self, *, compress: bool) -> None:
        self.compress = compress
        self._by_trial: dict[TrialKey, Dictionary] = {}
        self._by_id: dict[int, bytes] = {}

    def compact(
        self, conn: Connection, cards: Sequence[CardRecord], reports: Sequence[bytes], rows: list[dict[str, Any]]
    ) -> dict[TrialKey, Dictionary]:
        """Put each row's report in its stored form, in the transaction of `conn` (which stores any dictionary not
        yet in the database); return the dictionaries used, to `learn` once that transaction is committed."""
        if not self.compress:
            return {}
        used: dict[TrialKey, Dictionary] = {}
        for card, report, row in zip(cards, reports, rows, strict=True):
            key = (card.trial_id, card.trial_version)
            dictionary = used.get(key) or self._by_trial.get(key) or _stored_dictionary(conn, skeleton(card.trial))
            used[key] = dictionary
            packer = zlib.compressobj(_LEVEL, zlib.DEFLATED, _RAW_DEFLATE, zdict=dictionary.content)
            row.update(report=None, report_z=packer.compress(report) + packer.flush(), report_dict=dictionary.id)
        return used

    def learn(self, used: Mapping[TrialKey, Dictionary]) -> None:
        for key, dictionary in used.items():
            self._by_trial[key] = dictionary
            self._by_id[dictionary.id] = dictionary.content

    def report(self, conn: Connection, report: Any, report_z: bytes | None, report_dict: int | None) -> Any:
        """The stored report as JSON data, whichever form the row holds it in."""
        if report is not None or report_z is None or report_dict is None:
            return report
        content = self._by_id.get(report_dict)
        if content is None:
            content = conn.execute(
                select(audit_report_dict.c.content).where(audit_report_dict.c.id == report_dict)
            ).scalar_one()
            self._by_id[report_dict] = content
        unpacker = zlib.decompressobj(_RAW_DEFLATE, zdict=content)
        return orjson.loads(unpacker.decompress(report_z) + unpacker.flush())


def skeleton(trial: TrialReport) -> bytes:
    """A report of this trial without the patient: what every report of it repeats."""
    data = trial.to_json()
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


def _stored_dictionary(conn: Connection, content: bytes) -> Dictionary:
    """The dictionary's row (by its digest), stored now if no process stored it before."""
    digest = hashlib.sha256(content).hexdigest()
    found = conn.execute(select(audit_report_dict.c.id).where(audit_report_dict.c.digest == digest)).scalar()
    if found is None:
        found = conn.execute(
            insert(audit_report_dict).values(digest=digest, content=content).returning(audit_report_dict.c.id)
        ).scalar_one()
    return Dictionary(found, content)

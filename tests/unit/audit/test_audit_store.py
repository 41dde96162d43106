"""AuditStore contract, run against SQLite and (marked integration) a real PostgreSQL."""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import io
import threading
import uuid
from zoneinfo import ZoneInfo

import pytest

from service.audit.store import AuditedCard, AuditError, AuditStore, CardFilter, Page
from service.screening.prescreen import CardRecord
from tests.unit.audit.audit_helpers import T0, make_card, make_feedback


def audited(card: CardRecord, feedback: list | None = None) -> AuditedCard:  # type: ignore[type-arg]
    """The card as the store gives it back: its trial report in the contract's JSON form."""
    fields = {f.name: getattr(card, f.name) for f in dataclasses.fields(CardRecord) if f.name != "trial"}
    report = card.trial.to_json()
    return AuditedCard(
        **fields, trial_id=card.trial_id, trial_status=card.trial_status, report=report, feedback=feedback or []
    )


def all_pages(store: AuditStore, flt: CardFilter, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = store.list_cards(flt, limit=limit, cursor=cursor)
        pages.append([c.card_uuid for c in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


# -- migrations --------------------------------------------------------------------------------------


def test_migrate_is_idempotent(store: AuditStore) -> None:
    store.migrate()
    store.migrate()
    assert store.list_cards(CardFilter()) == Page([], None)


# -- cards -------------------------------------------------------------------------------------------


def test_card_round_trip(store: AuditStore) -> None:
    card = make_card(fhir_server=None, user_ref=None)
    store.record_cards([card])
    assert store.get_card(card.card_uuid) == audited(card)


def test_created_at_comes_back_as_the_same_instant_in_utc(store: AuditStore) -> None:
    berlin = dt.datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    card = make_card(created_at=berlin)
    store.record_cards([card])
    got = store.get_card(card.card_uuid)
    assert got is not None
    assert got.created_at == berlin
    assert got.created_at.tzinfo == dt.UTC
    assert got.created_at.hour == 12


def test_unknown_card_is_none(store: AuditStore) -> None:
    assert store.get_card("no-such-card") is None


def test_record_cards_is_one_transaction_and_duplicate_uuid_is_an_error(store: AuditStore) -> None:
    first = make_card()
    store.record_cards([first])
    fresh = make_card()
    with pytest.raises(AuditError):
        store.record_cards([fresh, make_card(card_uuid=first.card_uuid)])
    assert store.get_card(fresh.card_uuid) is None
    with pytest.raises(AuditError):
        store.record_cards([fresh, fresh])
    assert store.counts(CardFilter())["CASTLE"]["cards"] == 1


def test_empty_batches_are_no_ops(store: AuditStore) -> None:
    store.record_cards([])
    assert store.record_feedback([]) == []


def test_naive_datetimes_are_refused(store: AuditStore) -> None:
    naive = dt.datetime(2026, 1, 1)
    with pytest.raises(AuditError):
        store.record_cards([make_card(created_at=naive)])
    card = make_card()
    store.record_cards([card])
    with pytest.raises(AuditError):
        store.record_feedback([make_feedback(card.card_uuid, outcome_timestamp=naive)])
    with pytest.raises(AuditError):
        store.list_cards(CardFilter(start=naive))
    with pytest.raises(AuditError):
        store.purge(naive)


# -- feedback ----------------------------------------------------------------------------------------


def test_feedback_is_joined_to_its_card_oldest_first(store: AuditStore) -> None:
    card, other = make_card(), make_card()
    store.record_cards([card, other])
    late = make_feedback(
        card.card_uuid,
        outcome="overridden",
        override_reason_code="patient-declined",
        override_reason_display="Patient declined",
        user_comment="discussed at visit",
        outcome_timestamp=T0 + dt.timedelta(hours=2),
    )
    early = make_feedback(card.card_uuid, accepted_suggestions=["s1", "s2"])
    assert store.record_feedback([late, early]) == []
    assert store.get_card(card.card_uuid) == audited(card, [early, late])
    assert store.get_card(other.card_uuid) == audited(other)
    page = store.list_cards(CardFilter(patient=card.patient_ref))
    assert {c.card_uuid: c.feedback for c in page.items} == {
        card.card_uuid: [early, late],
        other.card_uuid: [],
    }


def test_feedback_for_unknown_cards_is_returned_and_the_rest_stored(store: AuditStore) -> None:
    card = make_card()
    store.record_cards([card])
    known = make_feedback(card.card_uuid)
    unknown = ["ghost-1", "ghost-2"]
    result = store.record_feedback(
        [make_feedback(unknown[0]), known, make_feedback(unknown[1]), make_feedback(unknown[0])]
    )
    assert result == unknown
    got = store.get_card(card.card_uuid)
    assert got is not None
    assert got.feedback == [known]


def test_invalid_outcome_is_refused(store: AuditStore) -> None:
    card = make_card()
    store.record_cards([card])
    with pytest.raises(AuditError):
        store.record_feedback([make_feedback(card.card_uuid, outcome="ignored")])


# -- filters, pagination, counts ---------------------------------------------------------------------


@pytest.fixture
def corpus(store: AuditStore) -> dict[str, CardRecord]:
    """Six cards over three days, two patients, two trials; feedback on some."""
    cards = {
        "a": make_card(patient_ref="Patient/p1", trial_id="CASTLE", created_at=T0),
        "b": make_card(
            patient_ref="Patient/p1",
            trial_id="KYSA",
            trial_status="eligible",
            created_at=T0 + dt.timedelta(days=1),
        ),
        "c": make_card(patient_ref="Patient/p2", trial_id="CASTLE", created_at=T0 + dt.timedelta(days=1)),
        "d": make_card(
            patient_ref="Patient/p2",
            trial_id="KYSA",
            trial_status="eligible",
            created_at=T0 + dt.timedelta(days=2),
        ),
        "e": make_card(patient_ref="Patient/p2", trial_id="CASTLE", created_at=T0 + dt.timedelta(days=2)),
        "f": make_card(patient_ref="Patient/p3", trial_id="KYSA", created_at=T0 + dt.timedelta(days=2, hours=1)),
    }
    store.record_cards(list(cards.values()))
    store.record_feedback(
        [
            make_feedback(cards["a"].card_uuid, outcome="accepted"),
            make_feedback(cards["b"].card_uuid, outcome="overridden", override_reason_code="not-interested"),
            # c: overridden first, accepted later -> its outcome is "accepted"
            make_feedback(cards["c"].card_uuid, outcome="overridden", outcome_timestamp=T0 + dt.timedelta(days=1)),
            make_feedback(cards["c"].card_uuid, outcome="accepted", outcome_timestamp=T0 + dt.timedelta(days=3)),
            make_feedback(cards["d"].card_uuid, outcome="overridden"),
        ]
    )
    return cards


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (CardFilter(), "fedcba"),  # newest first; ties (d, e) broken by id, later insert first
        (CardFilter(patient="Patient/p1"), "ba"),
        (CardFilter(patient="Patient/none"), ""),
        (CardFilter(trial="KYSA"), "fdb"),
        (CardFilter(status="eligible"), "db"),
        (CardFilter(outcome="accepted"), "ca"),
        (CardFilter(outcome="overridden"), "db"),
        (CardFilter(outcome="none"), "fe"),
        (CardFilter(start=T0 + dt.timedelta(days=1)), "fedcb"),
        (CardFilter(end=T0 + dt.timedelta(days=2)), "cba"),  # end is exclusive
        (CardFilter(start=T0 + dt.timedelta(days=1), end=T0 + dt.timedelta(days=2)), "cb"),
        (CardFilter(patient="Patient/p2", trial="CASTLE", outcome="none"), "e"),
        (CardFilter(start=T0.astimezone(ZoneInfo("America/New_York")) + dt.timedelta(days=2)), "fed"),
    ],
)
def test_filters(store: AuditStore, corpus: dict[str, CardRecord], flt: CardFilter, expected: str) -> None:
    names = {card.card_uuid: name for name, card in corpus.items()}
    page = store.list_cards(flt)
    assert "".join(names[c.card_uuid] for c in page.items) == expected
    assert page.next_cursor is None


def test_invalid_filter_outcome_is_refused(store: AuditStore) -> None:
    with pytest.raises(AuditError):
        store.list_cards(CardFilter(outcome="maybe"))


def test_counts_per_trial_and_outcome(store: AuditStore, corpus: dict[str, CardRecord]) -> None:
    assert store.counts(CardFilter()) == {
        "CASTLE": {"cards": 3, "accepted": 2, "overridden": 0, "no-feedback": 1},
        "KYSA": {"cards": 3, "accepted": 0, "overridden": 2, "no-feedback": 1},
    }
    assert store.counts(CardFilter(patient="Patient/p2")) == {
        "CASTLE": {"cards": 2, "accepted": 1, "overridden": 0, "no-feedback": 1},
        "KYSA": {"cards": 1, "accepted": 0, "overridden": 1, "no-feedback": 0},
    }
    assert store.counts(CardFilter(patient="Patient/none")) == {}


@pytest.mark.parametrize("limit", [1, 3, 7, 50])
def test_cursor_pagination_has_no_duplicates_or_omissions(store: AuditStore, limit: int) -> None:
    # 25 cards, many sharing a timestamp, so pages split inside groups of equal created_at
    cards = [make_card(created_at=T0 + dt.timedelta(seconds=i // 4)) for i in range(25)]
    store.record_cards(cards[:10])
    store.record_cards(cards[10:])
    pages = all_pages(store, CardFilter(), limit)
    seen = [u for page in pages for u in page]
    assert len(seen) == 25
    assert set(seen) == {c.card_uuid for c in cards}
    assert all(len(page) == limit for page in pages[:-1])
    assert len(pages) == -(-25 // limit)
    # newest first; equal timestamps newest insert first
    assert seen == [c.card_uuid for c in reversed(cards)]


def test_cursor_pagination_with_a_filter(store: AuditStore) -> None:
    cards = [
        make_card(trial_id="CASTLE" if i % 3 else "KYSA", created_at=T0 + dt.timedelta(minutes=i)) for i in range(20)
    ]
    store.record_cards(cards)
    seen = [u for page in all_pages(store, CardFilter(trial="KYSA"), 2) for u in page]
    assert seen == [c.card_uuid for c in reversed(cards) if c.trial_id == "KYSA"]


def test_cursor_stays_valid_when_newer_cards_arrive(store: AuditStore) -> None:
    old = [make_card(created_at=T0 + dt.timedelta(minutes=i)) for i in range(6)]
    store.record_cards(old)
    first = store.list_cards(CardFilter(), limit=3)
    store.record_cards([make_card(created_at=T0 + dt.timedelta(days=1))])
    second = store.list_cards(CardFilter(), limit=3, cursor=first.next_cursor)
    assert [c.card_uuid for c in first.items + second.items] == [c.card_uuid for c in reversed(old)]
    assert second.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !!",
        "e30",  # {}
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(b'{"v":1,"t":"yesterday","i":1}').decode(),
        base64.urlsafe_b64encode(b'{"v":1,"t":"2026-01-01T00:00:00","i":1}').decode(),  # naive
        base64.urlsafe_b64encode(b'{"v":1,"t":"2026-01-01T00:00:00+00:00","i":"1"}').decode(),
        base64.urlsafe_b64encode(b'{"v":2,"t":"2026-01-01T00:00:00+00:00","i":1}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_invalid_cursor_is_an_error(store: AuditStore, cursor: str) -> None:
    with pytest.raises(AuditError):
        store.list_cards(CardFilter(), cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_limit_is_bounded(store: AuditStore, limit: int) -> None:
    with pytest.raises(AuditError):
        store.list_cards(CardFilter(), limit=limit)


# -- CSV -----------------------------------------------------------------------------------------------

HEADER = [
    "card_uuid",
    "created_at",
    "patient_ref",
    "trial_id",
    "trial_status",
    "trial_version",
    "hook_instance",
    "fhir_server",
    "user_ref",
    "outcome",
    "override_reason",
    "outcome_timestamp",
    "evidence_refs",
]


def test_export_csv(store: AuditStore, corpus: dict[str, CardRecord]) -> None:
    lines = list(store.export_csv(CardFilter(trial="KYSA")))
    assert all(line.endswith("\r\n") for line in lines)
    rows = list(csv.reader(io.StringIO("".join(lines))))
    assert rows[0] == HEADER
    assert [r[0] for r in rows[1:]] == [corpus[n].card_uuid for n in "fdb"]
    b = dict(zip(HEADER, rows[3], strict=True))
    card = corpus["b"]
    assert b == {
        "card_uuid": card.card_uuid,
        "created_at": "2026-03-02T12:00:00+00:00",
        "patient_ref": "Patient/p1",
        "trial_id": "KYSA",
        "trial_status": "eligible",
        "trial_version": card.trial_version,
        "hook_instance": card.hook_instance,
        "fhir_server": "https://fhir.example.org/r4",
        "user_ref": "Practitioner/u1",
        "outcome": "overridden",
        "override_reason": "not-interested",
        "outcome_timestamp": "2026-03-01T12:05:00+00:00",
        "evidence_refs": "Condition/c1 Observation/o1",
    }
    f = dict(zip(HEADER, rows[1], strict=True))
    assert (f["outcome"], f["override_reason"], f["outcome_timestamp"]) == ("", "", "")


def test_export_csv_quotes_and_neutralises_formulas(store: AuditStore) -> None:
    card = make_card(patient_ref='Patient/"x",y', user_ref="=HYPERLINK(1)")
    store.record_cards([card])
    store.record_feedback(
        [
            make_feedback(
                card.card_uuid,
                outcome="overridden",
                override_reason_code="c",
                override_reason_display="Line one\nline two",
            )
        ]
    )
    (row,) = list(csv.DictReader(io.StringIO("".join(store.export_csv(CardFilter())))))
    assert row["patient_ref"] == 'Patient/"x",y'
    assert row["user_ref"] == "'=HYPERLINK(1)"
    assert row["override_reason"] == "Line one\nline two"


def test_export_csv_of_nothing_is_the_header(store: AuditStore) -> None:
    assert list(store.export_csv(CardFilter())) == [",".join(HEADER) + "\r\n"]


def test_export_csv_can_be_abandoned(store: AuditStore) -> None:
    store.record_cards([make_card() for _ in range(5)])
    stream = store.export_csv(CardFilter())
    next(stream)
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    store.record_cards([make_card()])  # the connection went back to the pool, no lock left behind
    assert sum(1 for _ in store.export_csv(CardFilter())) == 7


# -- purge -----------------------------------------------------------------------------------------


def test_purge_deletes_old_cards_and_their_feedback(store: AuditStore, corpus: dict[str, CardRecord]) -> None:
    assert store.purge(T0 + dt.timedelta(days=2)) == 3  # a, b, c
    remaining = {c.card_uuid for c in store.list_cards(CardFilter()).items}
    assert remaining == {corpus[n].card_uuid for n in "def"}
    assert store.get_card(corpus["c"].card_uuid) is None
    # the purged cards' feedback is gone too: feedback for them now counts as unknown
    assert store.record_feedback([make_feedback(corpus["a"].card_uuid)]) == [corpus["a"].card_uuid]
    assert store.counts(CardFilter(outcome="overridden")) == {
        "KYSA": {"cards": 1, "accepted": 0, "overridden": 1, "no-feedback": 0}
    }
    assert store.purge(T0) == 0


# -- concurrency ---------------------------------------------------------------------------------------


def test_concurrent_writers_lose_nothing(store: AuditStore) -> None:
    threads, per_thread = 8, 50
    recorded: list[list[str]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                card = make_card(trial_id=f"T{n % 2}", created_at=dt.datetime.now(dt.UTC), hook_instance=f"{n}-{i}")
                store.record_cards([card])
                recorded[n].append(card.card_uuid)
                if i % 10 == 0:  # readers and feedback in the mix
                    store.record_feedback([make_feedback(card.card_uuid)])
                    store.list_cards(CardFilter(), limit=5)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    returned = [u for uuids in recorded for u in uuids]
    stored = [u for page in all_pages(store, CardFilter(), 1000) for u in page]
    assert len(stored) == threads * per_thread == 400
    assert sorted(stored) == sorted(returned)
    assert len(set(stored)) == 400
    totals = store.counts(CardFilter())
    assert sum(t["cards"] for t in totals.values()) == 400
    assert sum(t["accepted"] for t in totals.values()) == threads * 5


def test_two_stores_on_one_database_lose_nothing(database_url: str) -> None:
    """Two engines (as two worker processes would have) writing at once."""
    stores = [AuditStore(database_url), AuditStore(database_url)]
    for s in stores:
        s.migrate()
    uuids = [[str(uuid.uuid4()) for _ in range(60)] for _ in range(4)]

    def work(n: int) -> None:
        s = stores[n % 2]
        for u in uuids[n]:
            s.record_cards([make_card(card_uuid=u, created_at=dt.datetime.now(dt.UTC))])

    pool = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    stored = [u for page in all_pages(stores[0], CardFilter(), 1000) for u in page]
    assert sorted(stored) == sorted(u for us in uuids for u in us)
    for s in stores:
        s.close()


def test_the_csv_export_waits_for_queued_cards(store: AuditStore) -> None:
    card = make_card()
    assert store.submit_cards([card])
    assert card.card_uuid in "".join(store.export_csv(CardFilter()))


def test_a_malformed_card_in_the_queue_is_skipped_without_holding_up_the_rest(store: AuditStore) -> None:
    naive = make_card(created_at=T0.replace(tzinfo=None))
    good = make_card()
    assert store.submit_cards([naive, good])
    assert store.flush(timeout=5)
    assert store.get_card(good.card_uuid) is not None
    assert store.get_card(naive.card_uuid) is None

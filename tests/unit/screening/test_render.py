"""Text a person reads: shortened at word boundaries, and the criteria that decide each trial, in one line."""

from __future__ import annotations

import datetime as dt

import pytest

from service.demo.patients import load_demo_patients
from service.screening.contract import CriterionResult, Status
from service.screening.render import clip, deciding_criteria, render_summary, render_text
from service.screening.screen import load_screener

ON = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "limit", "clipped"),
    [
        (
            "No colony-stimulating factor within 2 weeks before screening",
            50,
            "No colony-stimulating factor within 2 weeks…",
        ),
        ("short enough", 20, "short enough"),
        ("abc def ghi", 8, "abc def…"),
        ("Supercalifragilisticexpialidocious", 10, "Supercali…"),  # one word longer than the room: cut it
        ("Platelets ≥ 75 × 10^9/L, ANC ≥ 1.0", 26, "Platelets ≥ 75 × 10^9/L…"),
    ],
)
def test_clip_cuts_at_a_word_boundary(text: str, limit: int, clipped: str) -> None:
    assert clip(text, limit) == clipped
    assert len(clipped) <= limit


def _report(key: str):  # type: ignore[no-untyped-def]
    patient = next(p for p in load_demo_patients(ON) if p.key == key)
    return load_screener().screen(patient.record, on=ON)


def test_the_summary_gives_a_ruled_out_patient_the_reason() -> None:
    summary = render_summary(_report("demo-sle-pregnant")).splitlines()
    assert len(summary) == 5  # one line per trial
    anhui = next(line for line in summary if line.startswith("bcma-cd19-aid-anhui"))
    assert "ineligible" in anhui
    assert "Applies: (10) Pregnant or lactating females." in anhui
    assert "Pregnancy test (hCG) positive" in anhui


def test_the_summary_of_the_favourable_patient_names_what_is_still_needed() -> None:
    lines = {line.split()[0]: line for line in render_summary(_report("demo-sle-eligible")).splitlines()}
    assert "eligible " in lines["cd19-cart-active-sle"]
    assert "ineligible" not in lines["cd19-cart-active-sle"]
    assert "possibly-eligible" in lines["uwd-cd19-aid"]
    assert "(needs: " in lines["uwd-cd19-aid"]


def test_deciding_criteria_follow_the_status() -> None:
    for trial in _report("demo-sle-eligible").trials:
        deciding = deciding_criteria(trial)
        if trial.status is Status.ELIGIBLE:
            assert deciding == ()
        elif trial.status is Status.POSSIBLY_ELIGIBLE:
            assert deciding
            assert all(c.result is CriterionResult.UNKNOWN for c in deciding)
        else:
            assert deciding
            assert all(c.is_disqualifying for c in deciding)


def test_the_text_report_cuts_no_word() -> None:
    report = _report("demo-sle-eligible")
    text = render_text(report)
    for trial in report.trials:
        for criterion in trial.criteria:
            shown = clip(criterion.text, 90)
            assert shown in text
            if shown.endswith("…"):
                kept = shown[:-1]
                assert criterion.text.startswith(kept)
                assert not criterion.text[len(kept)].isalnum(), (shown, criterion.text)  # the cut is between words

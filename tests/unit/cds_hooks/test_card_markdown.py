"""Record text in a card's markdown is shown as text: no link, no image, no HTML, no markup, whatever it holds.

The card is rendered as an EHR would (CommonMark with GFM strikethrough, by markdown-it-py) and the HTML checked.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from cds_hooks import markdown
from cds_hooks.cards import card_for, warning_card
from service.screening.contract import TrialReport
from service.screening.prescreen import TrialToShow

PHISH = "kg [Re-verify login](https://evil.example/phish) <img src=x onerror=alert(1)>"
HOSTILE = [
    PHISH,
    "![x](https://evil.example/p.png)",
    "<script>alert(1)</script>",
    "**bold** _em_ `code` ~~gone~~ &lt;",
    "line\n\n# heading\n- item",
    "- starts a list",
    "1. starts a numbered list",
    "see https://evil.example or www.evil.example or evil@evil.example",
    "<https://evil.example>",
    "[ref]: https://evil.example",
]
RENDER = MarkdownIt("commonmark").enable("strikethrough")


def _trial(display: str, unit_text: str = "Body weight 64 kg (2026-11-11)") -> TrialReport:
    return TrialReport.from_json(
        {
            "id": "t1",
            "title": "Trial one",
            "registryId": None,
            "status": "possibly-eligible",
            "cohorts": [{"id": "a", "title": f"Arm {display}", "status": "possibly-eligible"}],
            "criteria": [
                {
                    "id": "w",
                    "cohort": None,
                    "kind": "inclusion",
                    "text": ">40kg.",
                    "result": "met",
                    "evidence": [{"reference": "Observation/o1", "display": unit_text}],
                    "missing": [],
                },
                {
                    "id": "x",
                    "cohort": "a",
                    "kind": "inclusion",
                    "text": display,
                    "result": "unknown",
                    "evidence": [],
                    "missing": [display],
                },
            ],
        }
    )


def _html(trial: TrialReport) -> str:
    card = card_for(TrialToShow("u1", trial, "summary"), "Patient/p1", lambda u: f"https://svc.example/reports/{u}")
    assert card.detail is not None
    return RENDER.render(card.detail)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_record_text_renders_as_text(hostile: str) -> None:
    html = _html(_trial(hostile, f"Body weight 64 {hostile} (2026-11-11)"))
    for markup in ("<a ", "<img", "<script", "<em>", "<code>", "<s>", "<h1>", "<ol", "<strong>bold"):
        assert markup not in html
    assert html.count("<li>") == 2  # the met criterion and the unknown one, no list made by the text
    visible = html.replace("\u200b", "")
    assert "evil.example" not in hostile or "evil.example" in visible  # shown, not hidden


def test_the_favourable_card_next_to_them_reads_as_before() -> None:
    html = _html(_trial("Anti-dsDNA positive"))
    assert "<li>&gt;40kg. (Body weight 64 kg (2026-11-11))</li>" in html
    assert "<strong>Anti-dsDNA positive</strong>, for: [Arm Anti-dsDNA positive] Anti-dsDNA positive" in html


def test_warning_card_problems_are_text() -> None:
    card = warning_card([f"Observation: server said {PHISH}"])
    assert card.detail is not None
    html = RENDER.render(card.detail)
    assert "<a " not in html
    assert "<img" not in html


def test_the_helper_keeps_plain_text_readable() -> None:
    assert markdown.text("Hemoglobin 11.8 g/dL (2026-11-11)") == "Hemoglobin 11.8 g/dL (2026-11-11)"
    assert markdown.text("ANC 3.1 10*3/uL") == "ANC 3.1 10\\*3/uL"


def _text_by_regexes(value: str) -> str:
    """`markdown.text` as it was written first (four regular expressions): the reference for the faster one."""
    one_line = " ".join(value.split())
    escaped = re.sub(r"([\\`*_\[\]<>#~&])", r"\\\1", one_line)
    escaped = re.sub(r"^(\d+)([.)])", r"\1\\\2", re.sub(r"^([-+])", r"\\\1", escaped))
    return re.sub(r"(?i)(?<=[a-z0-9])\.(?=[a-z])|:(?=//)|@", lambda m: m.group(0) + "\u200b", escaped)


_PIECES = st.sampled_from(
    ["-", "+", "1.", "١)", "²", "x.y", "a.B", "http://", "a@b", " ", "\n", "K.k", "ſ.x", *"\\`*_[]<>#~&.:@"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=4), max_size=8).map("".join))
def test_text_escapes_as_the_regexes_did(value: str) -> None:
    assert markdown.text(value) == _text_by_regexes(value)


@pytest.mark.parametrize("value", [*HOSTILE, "", "  - 12. x", "3) y", "www.x.org", "a:b", "mailto:x@y"])
def test_text_escapes_known_pieces_as_the_regexes_did(value: str) -> None:
    assert markdown.text(value) == _text_by_regexes(value)


def test_the_space_is_the_only_printable_whitespace() -> None:
    """`markdown.text` leaves a printable piece with single inner spaces as it is: `str.split()` would not cut it."""
    characters = map(chr, range(0x110000))
    assert [c for c in characters if c.isspace() and c.isprintable()] == [" "]

"""The candidate list's CSV lines are the csv module's, whatever the values hold (encode_rows joins most rows
itself)."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.population.candidates import COLUMNS, encode_rows

_COUNTS = ("missing_count", "rejected_lines")
_TEXT = st.text(alphabet=st.sampled_from(["a", "é", " ", ",", '"', "\n", "\r", "|", "\t", "😀"]), max_size=6)


def _csv_module(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    csv.DictWriter(buffer, COLUMNS, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


_ROW = st.fixed_dictionaries({c: st.integers(0, 10**6) if c in _COUNTS else _TEXT for c in COLUMNS})


@given(st.lists(_ROW, max_size=4))
def test_rows_are_written_as_the_csv_module_writes_them(rows: list[dict[str, Any]]) -> None:
    assert encode_rows(rows, "csv") == _csv_module(rows)


def test_plain_and_comma_rows_take_the_joined_lines() -> None:
    plain = dict.fromkeys(COLUMNS, "x") | {"name": "Okafor, Adaeze", "missing": "a, b | c", "missing_count": 2}
    assert encode_rows([plain, plain], "csv") == _csv_module([plain, plain])
    assert encode_rows([], "csv") == b""

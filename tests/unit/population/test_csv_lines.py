"""The candidate CSV's lines, made a group of columns at a time and each group once, are the csv module's lines of
the whole rows, whatever the text (quotes, delimiters, line breaks, blanks) and however values repeat."""

from __future__ import annotations

import csv
import io
import operator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.population.candidates import COLUMNS, encode_rows

_TEXT = st.sampled_from(["", " ", "a", "Doe, Jane", 'say "x"', "two\nlines", "cr\r", "é ü", "a | b"]) | st.text()
_COUNTS = ("missing_count", "rejected_lines")
_ROW = st.fixed_dictionaries({c: st.integers(0, 12) if c in _COUNTS else _TEXT for c in COLUMNS})


@settings(max_examples=300, deadline=None)
@given(st.lists(_ROW, max_size=8).flatmap(lambda rows: st.permutations(rows + rows[: len(rows) // 2])))
def test_the_lines_are_the_csv_modules(rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(map(operator.itemgetter(*COLUMNS), rows))
    assert encode_rows(rows, "csv") == buffer.getvalue().encode()

"""The language's input values."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields

import pytest

from service.criteria.inputs import Evidence


def test_evidence_made_by_of_is_the_dataclass_and_as_frozen() -> None:
    """`Evidence.of` sets the slots itself: the value equals the constructor's, field for field, hash included."""
    made = Evidence.of("Observation/abc", "Hemoglobin 112 g/L (2026-11-01)")
    expected = Evidence("Observation/abc", "Hemoglobin 112 g/L (2026-11-01)")
    assert made == expected
    assert hash(made) == hash(expected)
    assert type(made) is Evidence
    assert [getattr(made, f.name) for f in fields(made)] == [getattr(expected, f.name) for f in fields(expected)]
    with pytest.raises(FrozenInstanceError):
        made.display = "changed"  # type: ignore[misc]

"""Units as people write them on evidence: display only, the value compared is the UCUM one."""

from __future__ import annotations

import pytest

from service.facts.measurements import Analyte, read
from service.facts.unit_text import ucum_text, unit_text

ANC = Analyte("anc", "Neutrophil count", "10*9/L", None, is_score=False)
ECOG = Analyte("ecog", "ECOG performance status", None, None, is_score=True)


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("10*3/uL", "× 10⁹/L"),
        ("10*9/L", "× 10⁹/L"),
        ("10*6/uL", "× 10¹²/L"),
        ("[IU]/mL", "IU/mL"),
        ("umol/L", "µmol/L"),
        ("mL/min/{1.73_m2}", "mL/min/1.73 m²"),
        ("mg/g{creat}", "mg/g"),
        ("mg/(24.h)", "mg/24 h"),
        ("{score}", ""),
        ("1", ""),
        ("g/dL", "g/dL"),
        ("U/L", "U/L"),
        ("Cel", "°C"),
    ],
)
def test_ucum_codes_are_written_out(code: str, shown: str) -> None:
    assert ucum_text(code) == shown


def test_the_labs_own_display_wins_over_the_code() -> None:
    assert unit_text("K/uL", "10*3/uL") == "K/uL"
    assert unit_text("10*3/uL", "10*3/uL") == "× 10⁹/L"  # a display that only repeats the code is written out
    assert unit_text(None, "[IU]/mL") == "IU/mL"
    assert unit_text(None, None) == ""


def test_evidence_shows_the_written_unit_and_keeps_the_ucum_value() -> None:
    quantity = {"value": 3.1, "unit": "10*3/uL", "system": "http://unitsofmeasure.org", "code": "10*3/uL"}
    reading = read({"valueQuantity": quantity}, ANC)
    assert not isinstance(reading, str)
    assert reading is not None
    assert reading.shown == "3.1 × 10⁹/L"
    assert (reading.value, reading.unit) == (3.1, "10*3/uL")  # what the comparison converts from


def test_a_score_shows_no_unit() -> None:
    quantity = {"value": 1, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"}
    reading = read({"valueQuantity": quantity}, ECOG)
    assert not isinstance(reading, str)
    assert reading is not None
    assert reading.shown == "1"

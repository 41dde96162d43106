"""mappings.units: UCUM conversion (cases in tests/spec/units/conversions.yaml)."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from mappings import units
from mappings.catalog import load_catalog
from mappings.schema import bundled_analytes
from mappings.units import NotConvertible, convert, is_commensurable

SPEC = Path(__file__).resolve().parents[2] / "spec" / "units" / "conversions.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["cases"]


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['value']} {case['from']} -> {case['to']} [{case.get('analyte')}]"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_conversion_cases(case: dict[str, Any]) -> None:
    result = convert(float(case["value"]), str(case["from"]), str(case["to"]), case.get("analyte"))
    if case["expect"] == "not-convertible":
        assert isinstance(result, NotConvertible), result
        assert result.reason
        assert not is_commensurable(str(case["from"]), str(case["to"]), case.get("analyte"))
    else:
        assert not isinstance(result, NotConvertible), result.reason
        assert math.isclose(result, float(case["expect"]), rel_tol=1e-9), result
        assert is_commensurable(str(case["from"]), str(case["to"]), case.get("analyte"))


def test_equal_strings_need_no_registry() -> None:
    assert convert(3.0, "whatever-unit", "whatever-unit") == 3.0


def test_not_convertible_is_a_value_with_a_reason() -> None:
    result = convert(1.0, "mg/dL", "umol/L")
    assert isinstance(result, NotConvertible)
    assert "analyte" in result.reason


def test_factor_is_computed_once_per_pair() -> None:
    convert(1.0, "g/dL", "g/L")
    before = units._factor.cache_info()
    for _ in range(100):
        convert(2.0, "g/dL", "g/L")
    after = units._factor.cache_info()
    assert after.misses == before.misses
    assert after.hits >= before.hits + 100


def test_warm_up_is_safe_from_threads() -> None:
    threads = [threading.Thread(target=units.warm_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert units._factor("mg/dL", "g/L", None) == 0.01


def test_every_canonical_unit_and_alias_target_parses() -> None:
    catalog = load_catalog()
    analytes = bundled_analytes()
    targets = set(analytes.unit_aliases.values())
    for spec in analytes.analytes.values():
        targets.update(spec.unit_aliases.values())
    for cid in catalog.concept_ids():
        unit = catalog.concept(cid).unit
        if unit is not None:
            targets.add(unit)
    for unit in sorted(targets):
        assert not isinstance(units._parse(unit), NotConvertible), unit


def test_seed_matches_the_live_registry() -> None:
    """The precomputed parses (mappings/ucum_seed.json) are exactly what the registry answers."""
    seed = units._seed()
    assert seed, "ucum_seed.json is missing or was made by other ucumvert/pint versions: regenerate it"
    for unit, parsed in seed.items():
        assert units._parse_live(unit) == parsed, unit

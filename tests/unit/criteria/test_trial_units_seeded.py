"""Every unit a bundled trial compares in is in the precomputed unit seed (mappings/ucum_seed.json), so checking
and screening with the bundled trials never builds the UCUM registry (seconds at start-up)."""

from __future__ import annotations

from mappings import units
from scripts.write_unit_seed import trial_units


def test_every_unit_a_trial_uses_is_seeded() -> None:
    used = trial_units()
    assert "mL/min" in used
    assert "10*9/L" in used
    seeded = units._seed()
    assert seeded, "the seed is missing or was written by other ucumvert / pint versions"
    unseeded = {
        unit: trial
        for unit, trial in used.items()
        if (bare := units._strip_annotations(units._canonical(unit, None))) != "1" and bare not in seeded
    }
    assert not unseeded, f"rewrite the seed (scripts/write_unit_seed.py): {unseeded}"

"""Every unit a bundled trial compares in is in the precomputed unit seed (mappings/ucum_seed.json), so checking
and screening with the bundled trials never builds the UCUM registry (seconds at start-up)."""

from __future__ import annotations

from collections.abc import Iterator

from mappings import units
from mappings.catalog import load_catalog
from service.criteria import ast
from service.screening.registry import bundled_trials_dir, load_trials, trial_files


def _units(expr: ast.Expr) -> Iterator[str]:
    if isinstance(expr, ast.Quantity):
        yield expr.unit
    elif isinstance(expr, ast.Call) and expr.unit not in (None, "ULN"):
        yield str(expr.unit)
    for name in ("left", "right", "operand", "value", "low", "high"):
        child = getattr(expr, name, None)
        if hasattr(child, "span"):  # a node (Number.value is a float)
            yield from _units(child)


def test_every_unit_a_trial_uses_is_seeded() -> None:
    used: dict[str, str] = {}
    for loaded in load_trials(trial_files(bundled_trials_dir()), load_catalog()):
        trial = loaded.compiled.trial
        exprs = [d.expr for d in trial.defines] + [c.expr for c in trial.criteria if c.expr is not None]
        used.update((unit, trial.id) for expr in exprs for unit in _units(expr))
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

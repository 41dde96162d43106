"""Rewrite `mappings/ucum_seed.json`, the precomputed parses of the units the catalog and trials use.

Run after changing a unit in `mappings/analytes.yaml`, a trial's quantities, or the ucumvert / pint pins:

    python scripts/write_unit_seed.py [EXTRA_UNIT ...]

Units the bundled trials compare in are included, so checking them at start-up needs no UCUM registry
(tests/unit/criteria/test_trial_units_seeded.py fails when one is missing).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from mappings import units
from mappings.catalog import load_catalog
from service.criteria import ast
from service.screening.registry import bundled_trials_dir, load_trials, trial_files


def trial_units() -> dict[str, str]:
    """Every unit a bundled trial compares in (a quantity literal or the unit a Latest is read in), with a trial
    that uses it."""
    used: dict[str, str] = {}
    for loaded in load_trials(trial_files(bundled_trials_dir()), load_catalog()):
        trial = loaded.compiled.trial
        exprs = [d.expr for d in trial.defines] + [c.expr for c in trial.criteria if c.expr is not None]
        used.update((unit, trial.id) for expr in exprs for unit in _units(expr))
    return used


def _units(expr: ast.Expr) -> Iterator[str]:
    if isinstance(expr, ast.Quantity):
        yield expr.unit
    elif isinstance(expr, ast.Call) and expr.unit not in (None, "ULN"):
        yield str(expr.unit)
    for name in ("left", "right", "operand", "value", "low", "high"):
        child = getattr(expr, name, None)
        if hasattr(child, "span"):  # a node (Number.value is a float)
            yield from _units(child)


def main(extra: list[str]) -> None:
    catalog = load_catalog()
    wanted = {unit for c in catalog.concept_ids() if (unit := catalog.concept(c).unit) is not None}
    wanted.update(trial_units())
    print(f"{units.write_seed(wanted | set(extra))} unit(s) written to mappings/ucum_seed.json")


if __name__ == "__main__":
    main(sys.argv[1:])

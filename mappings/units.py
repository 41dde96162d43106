"""UCUM unit conversion for measured concepts, through ucumvert's pint registry.

A conversion is `value * factor`; the factor of each (from_unit, to_unit, analyte) is computed once and
cached. A factor is the ratio of both units' magnitudes in SI base units, after checking that both have the
same dimensionality (ucumvert mis-scales numbers inside a *target* unit such as `g/(24.h)`, but each unit's
own base-unit magnitude is right). Rules, in order:

- Equal strings always convert with factor 1 (no registry needed).
- Spellings that are not UCUM are accepted only through the explicit alias tables of `analytes.yaml`
  (the analyte's own `unit_aliases` first, then the global `unit_aliases`). Nothing is guessed.
- Curly-brace annotations are unity (UCUM §4.4.2): `{score}` = 1, `{copies}/mL` = /mL, `mL/min/{1.73_m2}`
  = mL/min. An annotation right after a unit atom (`10*3{cells}/uL`) is dropped.
- Arbitrary units (`[IU]`, `[arb'U]`, ... UCUM "arbitrary" class) convert only to units with the same
  arbitrary atoms: `m[IU]/mL` -> `[IU]/L` works, `[IU]/mL` -> `/mL` does not.
- Mass <-> molar concentration only when the analyte fixes the factor (`molar_factor` in analytes.yaml:
  umol/L equal to 1 mg/dL).
- Affine units (Cel, [degF]) convert only to themselves.
- Clinical unit identities (`unit_identities` in analytes.yaml) replace UCUM's derived factor where the
  clinic defines a unit exactly: 1 Wood unit = 80 dyn.s.cm-5, not UCUM's 79.99 (mm[Hg] x 60 s / L).

Failures are values (`NotConvertible`), never exceptions.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mappings import schema
from service.cache_dir import cache_dir

__all__ = ["NotConvertible", "convert", "is_commensurable", "warm_up"]

# Parsed units (base magnitude, dimensionality) as the registry gives them, precomputed for the units the
# bundled catalog and trials use: checking trials at start then needs no registry (built lazily, ~2-6 s).
# Written by `python scripts/write_unit_seed.py`; ignored unless made by the installed ucumvert and pint;
# tests/unit/mappings/test_mappings_units.py checks every entry against the live registry.
_SEED_FILE = Path(__file__).resolve().parent / "ucum_seed.json"

# UCUM units of class "arbitrary" (ucum-essence.xml, isArbitrary="yes"), by their case-sensitive code.
_ARBITRARY = frozenset(
    {
        "[IU]", "[iU]", "[arb'U]", "[USP'U]", "[GPL'U]", "[MPL'U]", "[APL'U]", "[beth'U]", "[anti'Xa'U]",
        "[todd'U]", "[dye'U]", "[smgy'U]", "[bdsk'U]", "[ka'U]", "[knk'U]", "[mclg'U]", "[tb'U]",
        "[CCID_50]", "[TCID_50]", "[EID_50]", "[PFU]", "[FFU]", "[CFU]", "[IR]", "[BAU]", "[AU]",
        "[Amb'a'1'U]", "[PNU]", "[Lf]", "[D'ag'U]", "[FEU]", "[ELU]", "[EU]",
        "[hp'_X]", "[hp'_C]", "[hp'_M]", "[hp'_Q]", "[kp'_X]", "[kp'_C]", "[kp'_M]", "[kp'_Q]",
    }
)  # fmt: skip
_AFFINE = re.compile(r"Cel|\[degF\]|\[degRe\]")
_ANNOTATION_AFTER_ATOM = re.compile(r"(?<=[A-Za-z0-9\]\)'_])\{[^{}]*\}")
_ANNOTATION = re.compile(r"\{[^{}]*\}")
_BRACKET_ATOM = re.compile(r"\[[^\[\]]*\]")
_MASS_REFERENCE = "mg/dL"
_MOLAR_REFERENCE = "umol/L"


@dataclass(frozen=True, slots=True)
class NotConvertible:
    """Why a value could not be converted (shown in the report)."""

    reason: str


@dataclass(frozen=True, slots=True)
class _Parsed:
    base_magnitude: float  # magnitude of 1 <unit> in SI base units
    dimensionality: str  # pint's dimensionality, as a comparable string
    arbitrary: tuple[str, ...]  # arbitrary UCUM atoms, sorted


@dataclass(frozen=True, slots=True)
class _Tables:
    global_aliases: dict[str, str]
    analyte_aliases: dict[str, dict[str, str]]
    molar_factors: dict[str, float]
    identities: dict[str, tuple[float, str]]  # unit -> (factor, unit it is defined in)


_lock = threading.RLock()
_registry: Any = None


def _ureg() -> Any:
    """The ucumvert registry, built once on first use."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                from ucumvert import PintUcumRegistry

                try:  # pint's own cache of parsed definitions: ~0.75 s → ~0.07 s after the first build
                    _registry = PintUcumRegistry(cache_folder=cache_dir() / "pint")
                except (OSError, ValueError):
                    _registry = PintUcumRegistry()
    return _registry


def warm_up() -> None:
    """Read the alias tables and the seed now (call from a background thread at start-up).

    The registry (~0.4 s of CPU, ~20 MB) is built only when the seed is unusable: with the seed, the catalog's
    units need none, and building it anyway competed with the first hook call for the interpreter."""
    _tables()
    if not _seed():
        _ureg()
    _factor("mg/dL", "g/L", None)


def _library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"ucumvert": version("ucumvert"), "pint": version("pint")}


@functools.cache
def _seed() -> dict[str, _Parsed]:
    """The precomputed parses, or nothing when missing or made by other library versions."""
    try:
        data = json.loads(_SEED_FILE.read_text(encoding="utf-8"))
        if data.get("versions") != _library_versions():
            return {}
        return {
            unit: _Parsed(float(magnitude), str(dims), tuple(arbitrary))
            for unit, (magnitude, dims, arbitrary) in data["units"].items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write_seed(units: set[str]) -> int:
    """(Re)write the seed from the live registry: `units` (the catalog's, from scripts/write_unit_seed.py), the
    alias targets and the mass / molar references."""
    tables = _tables()
    wanted = {_MASS_REFERENCE, _MOLAR_REFERENCE, *tables.global_aliases.values(), *units}
    for aliases in tables.analyte_aliases.values():
        wanted.update(aliases.values())
    parsed: dict[str, list[Any]] = {}
    for unit in sorted(wanted):
        bare = _strip_annotations(_canonical(unit, None))
        result = _parse_live(bare)
        if isinstance(result, _Parsed):
            parsed[bare] = [result.base_magnitude, result.dimensionality, list(result.arbitrary)]
    lines = [f"  {json.dumps(unit, ensure_ascii=False)}: {json.dumps(value)}" for unit, value in sorted(parsed.items())]
    text = f'{{"versions": {json.dumps(_library_versions())},\n "units": {{\n' + ",\n".join(lines) + "\n}}\n"
    _SEED_FILE.write_text(text, encoding="utf-8")
    return len(parsed)


@functools.cache
def _tables() -> _Tables:
    data = schema.bundled_analytes()  # validated once, shared with the catalog
    return _Tables(
        dict(data.unit_aliases),
        {name: dict(spec.unit_aliases) for name, spec in data.analytes.items() if spec.unit_aliases},
        {name: spec.molar_factor for name, spec in data.analytes.items() if spec.molar_factor is not None},
        {unit: (identity.equals, identity.unit) for unit, identity in data.unit_identities.items()},
    )


def _canonical(unit: str, analyte: str | None) -> str:
    """Apply the explicit alias tables (analyte first) to a unit as written in the data."""
    tables = _tables()
    text = unit.strip()
    if analyte is not None:
        text = tables.analyte_aliases.get(analyte, {}).get(text, text)
    return tables.global_aliases.get(text, text)


def _strip_annotations(unit: str) -> str:
    text = _ANNOTATION_AFTER_ATOM.sub("", unit)
    text = _ANNOTATION.sub("1", text)
    return text if text else "1"


@functools.lru_cache(maxsize=1024)
def _parse(unit: str) -> _Parsed | NotConvertible:
    """Parse a canonical (aliased) UCUM string (from the seed when it is there, else with the registry)."""
    bare = _strip_annotations(unit)
    if bare == "1":
        return _Parsed(1.0, "dimensionless", ())
    seeded = _seed().get(bare)
    if seeded is not None:
        return seeded
    return _parse_live(bare, unit)


def _parse_live(bare: str, unit: str | None = None) -> _Parsed | NotConvertible:
    unit = bare if unit is None else unit
    arbitrary = tuple(sorted(a for a in _BRACKET_ATOM.findall(bare) if a in _ARBITRARY))
    if bare == "1":
        return _Parsed(1.0, "dimensionless", ())
    try:
        with _lock:
            quantity = _ureg().from_ucum(bare).to_base_units()
            magnitude = float(quantity.magnitude)
            dims = str(quantity.dimensionality)
    except Exception as exc:  # the parser raises many kinds; all mean "not a UCUM unit we can read"
        return NotConvertible(f"unit {unit!r} is not a UCUM unit ({type(exc).__name__})")
    if not math.isfinite(magnitude) or magnitude == 0:
        return NotConvertible(f"unit {unit!r} has no usable magnitude")
    return _Parsed(magnitude, dims, arbitrary)


def _round(factor: float) -> float:
    return float(f"{factor:.12g}")


@functools.lru_cache(maxsize=4096)
def _factor(from_unit: str, to_unit: str, analyte: str | None) -> float | NotConvertible:
    if from_unit == to_unit:
        return 1.0
    source, target = _canonical(from_unit, analyte), _canonical(to_unit, analyte)
    if source == target:
        return 1.0
    identities = _tables().identities
    if source in identities or target in identities:
        from_factor, source = identities.get(source, (1.0, source))
        to_factor, target = identities.get(target, (1.0, target))
        inner = 1.0 if source == target else _factor(source, target, analyte)
        return inner if isinstance(inner, NotConvertible) else _round(from_factor * inner / to_factor)
    if _AFFINE.search(source) or _AFFINE.search(target):
        return NotConvertible(f"{from_unit!r} -> {to_unit!r}: temperature units are not converted")
    parsed_from, parsed_to = _parse(source), _parse(target)
    if isinstance(parsed_from, NotConvertible):
        return parsed_from
    if isinstance(parsed_to, NotConvertible):
        return parsed_to
    if parsed_from.arbitrary != parsed_to.arbitrary:
        return NotConvertible(
            f"{from_unit!r} -> {to_unit!r}: arbitrary units ({', '.join(parsed_from.arbitrary + parsed_to.arbitrary)})"
            " convert only to the same arbitrary unit"
        )
    if parsed_from.dimensionality == parsed_to.dimensionality:
        return _round(parsed_from.base_magnitude / parsed_to.base_magnitude)
    return _molar_factor(from_unit, to_unit, analyte, parsed_from, parsed_to)


def _molar_factor(
    from_unit: str, to_unit: str, analyte: str | None, parsed_from: _Parsed, parsed_to: _Parsed
) -> float | NotConvertible:
    mass, molar = _parse(_MASS_REFERENCE), _parse(_MOLAR_REFERENCE)
    assert isinstance(mass, _Parsed)
    assert isinstance(molar, _Parsed)
    dims = (parsed_from.dimensionality, parsed_to.dimensionality)
    if dims not in {(mass.dimensionality, molar.dimensionality), (molar.dimensionality, mass.dimensionality)}:
        return NotConvertible(f"{from_unit!r} and {to_unit!r} measure different kinds of quantity")
    if analyte is None:
        return NotConvertible(f"{from_unit!r} -> {to_unit!r}: mass/molar conversion needs the analyte")
    factor = _tables().molar_factors.get(analyte)
    if factor is None:
        return NotConvertible(f"{from_unit!r} -> {to_unit!r}: no mass/molar factor is defined for {analyte!r}")
    if parsed_from.dimensionality == mass.dimensionality:
        # from -> mg/dL, x factor -> umol/L, -> to
        value = (parsed_from.base_magnitude / mass.base_magnitude) * factor
        return _round(value * molar.base_magnitude / parsed_to.base_magnitude)
    value = (parsed_from.base_magnitude / molar.base_magnitude) / factor
    return _round(value * mass.base_magnitude / parsed_to.base_magnitude)


def convert(value: float, from_unit: str, to_unit: str, analyte: str | None = None) -> float | NotConvertible:
    """`value` in `from_unit`, expressed in `to_unit`; `analyte` (a concept id) enables its aliases and
    mass <-> molar factor."""
    factor = _factor(from_unit, to_unit, analyte)
    if isinstance(factor, NotConvertible):
        return factor
    return value * factor


def is_commensurable(from_unit: str, to_unit: str, analyte: str | None = None) -> bool:
    """Whether values in `from_unit` can be converted to `to_unit` (for that analyte)."""
    return not isinstance(_factor(from_unit, to_unit, analyte), NotConvertible)

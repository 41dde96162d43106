"""A unit as people write it on a report: "× 10⁹/L", "IU/mL", "µmol/L", nothing for a score.

Display only: values are compared in UCUM (mappings.units); this module never takes part in a conversion.
"""

from __future__ import annotations

import functools
import re
from typing import Final

_SUPERSCRIPT: Final = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# cell counts per volume in the SI form haematology reports use (the values are equal: 10*3/uL = 10*9/L)
_COUNTS: Final = {
    "10*3/uL": "× 10⁹/L",
    "10*3/mm3": "× 10⁹/L",
    "10*9/L": "× 10⁹/L",
    "10*6/uL": "× 10¹²/L",
    "10*6/mm3": "× 10¹²/L",
    "10*12/L": "× 10¹²/L",
}
_SPECIAL: Final = {
    "Cel": "°C",
    "[degF]": "°F",
    "mm[Hg]": "mmHg",
    "[lb_av]": "lb",
    "[in_i]": "in",
    "[iU]": "IU",
    "(24.h)": "24 h",
}
_POWER: Final = re.compile(r"10[*^](-?\d+)")
_ANNOTATION: Final = re.compile(r"\{([^}]*)\}")
_QUALIFIER: Final = re.compile(r"(?<=[\w)\]])\{[^}]*\}")  # "mg/g{creat}": a note on the unit, not a unit
_BRACKETS: Final = re.compile(r"\[([^\]]*)\]")
_MICRO: Final = re.compile(r"(?<![A-Za-z])u(?=(?:g|L|l|mol|U|IU|m|s|eq)\b)")
_SQUARE: Final = re.compile(r"(?<=[a-z])2\b")


@functools.lru_cache(maxsize=1024)
def ucum_text(code: str) -> str:
    """A UCUM code written for people; "" for a unitless code (a score, "1", an annotation alone). Cached: every
    result shown writes out its unit, and a few units recur."""
    code = code.strip()
    if code in _COUNTS:
        return _COUNTS[code]
    if code in ("", "1") or _ANNOTATION.fullmatch(code):
        return ""
    for raw, shown in _SPECIAL.items():
        code = code.replace(raw, shown)
    text = _POWER.sub(lambda m: "× 10" + m.group(1).translate(_SUPERSCRIPT), code)
    text = _QUALIFIER.sub("", text)
    text = _ANNOTATION.sub(lambda m: m.group(1).replace("_", " "), text)
    text = _BRACKETS.sub(r"\1", text)
    return _SQUARE.sub("²", _MICRO.sub("µ", text))


def unit_text(written: object, code: str | None) -> str:
    """The lab's own unit display when it sent one that is not just the UCUM code; else the code written out."""
    if isinstance(written, str) and written.strip() and written.strip() != code:
        return written.strip()
    return ucum_text(code) if code else ""

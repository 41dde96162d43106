"""Quantities derived from several records of one patient, served through `PatientData.derived`.

The criteria language names them (`CreatinineClearance()`) but holds no formula and no concept id: they live here,
beside the facts they are computed from, and keep the language's rule that missing data makes them unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from service.criteria.inputs import Estimate, MeasurementQuery, Missing, PatientData

CREATININE = MeasurementQuery(frozenset({"serum-creatinine"}), "mg/dL")
WEIGHT = MeasurementQuery(frozenset({"body-weight"}), "kg")


def _years_between(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def cockcroft_gault(data: PatientData, on: dt.date) -> Estimate:
    """Creatinine clearance in mL/min from the latest serum creatinine, weight, age and sex (×0.85 female).

    An unrecorded sex spans both factors, a partial birth date both ages, same-day results that disagree their
    extremes: the clearance is then a range and a threshold inside it stays unknown.
    """
    creatinine = data.latest(CREATININE, on)
    weight = data.latest(WEIGHT, on)
    born = data.birth_date_range()
    sex = data.sex()
    age_missing: tuple[str, ...] = ()
    if isinstance(born, Missing):
        age_missing = (born.reason,)
    else:
        young, old = _years_between(born[1], on), _years_between(born[0], on)
        if young != old:
            age_missing = ("Complete date of birth (only part of it is recorded)",)
    missing = [m.reason for m in (creatinine, weight) if isinstance(m, Missing)]
    missing.extend(age_missing if isinstance(born, Missing) else ())
    if isinstance(sex, Missing) or sex not in ("female", "male"):
        factors = (0.85, 1.0)
        missing.append("Administrative sex")
    else:
        factors = (0.85, 0.85) if sex == "female" else (1.0, 1.0)
    if isinstance(creatinine, Missing) or isinstance(weight, Missing) or isinstance(born, Missing):
        return Estimate(None, None, (), tuple(missing))
    if creatinine.value <= 0:
        return Estimate(None, None, (creatinine.evidence,), ("A positive serum creatinine value",))
    creatinine_high, weight_high = creatinine.high or creatinine.value, weight.high or weight.value
    missing.extend(m.doubt for m in (creatinine, weight) if m.doubt)
    low = (140 - old) * weight.value / (72 * creatinine_high) * factors[0]
    high = (140 - young) * weight_high / (72 * creatinine.value) * factors[1]
    return Estimate(low, high, (creatinine.evidence, weight.evidence), (*missing, *age_missing))


ESTIMATES: Mapping[str, Callable[[PatientData, dt.date], Estimate]] = {
    "creatinine-clearance": cockcroft_gault,
}

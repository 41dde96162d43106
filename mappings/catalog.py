"""The concept catalog: codes -> concepts, and what the checker and the facts layer need about each concept.

Loaded once from the package's YAML files (`concepts.yaml`, `rxnorm_products.yaml`, `analytes.yaml`),
validated strictly by the models of `schema.py` (a bad file fails loudly with file and key), and indexed so
that the hot path, `concepts_for(system, code)`, is a dict lookup (plus a few prefix lookups for ICD-10-CM families).

`Catalog` implements `service.criteria.vocabulary.Vocabulary` structurally.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from mappings import schema, units
from mappings.schema import CVX, ICD10CM, RXNORM, CatalogError

__all__ = [
    "RESOURCE_KINDS",
    "Analyte",
    "Catalog",
    "CatalogError",
    "Concept",
    "Product",
    "load_catalog",
    "normalize_system",
]


# The criteria language's resource words -> code kinds that can be read from that resource.
RESOURCE_KINDS: Mapping[str, frozenset[str]] = {
    "Condition": frozenset({"condition"}),
    "Observation": frozenset({"observation", "score"}),
    "Medication": frozenset({"medication"}),
    "Procedure": frozenset({"procedure"}),
    "Immunization": frozenset({"immunization"}),
}
MEASURED_KINDS = frozenset({"observation", "score"})
ULN = "ULN"


@dataclass(frozen=True, slots=True)
class Concept:
    id: str
    label: str
    kinds: frozenset[str]
    unit: str | None
    lookback_days: int | None
    default_uln: float | None
    molar_factor: float | None  # umol/L per mg/dL-style factor when defined
    # Safety net of a closed list: the text of a record whose codes we do not map that names this concept
    # (a record matched so is never proof, only a reason to check).
    text_net: re.Pattern[str] | None = None
    # The longest elimination half-life of its drugs, in hours; None unless every medication code has one.
    half_life_hours: float | None = None
    # Every counted record of these code kinds belongs to the concept ("any vaccination"), coded or not,
    # except records carrying one of `except_codes` ((system, code): an immune globulin is no vaccine).
    every_record: frozenset[str] = frozenset()
    except_codes: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Analyte:
    """The measurement data of an observation/score concept (analytes.yaml)."""

    concept: str
    unit: str | None
    lookback_days: int | None
    lookback_note: str
    result: str  # quantitative | qualitative | either
    reference_range: bool
    default_uln: float | None
    uln_source: str | None
    uln_verified: bool
    molar_factor: float | None
    positivity: str = "reference"  # how a result reads positive: reference range / coded, "detected", yes/no "answer"
    positive_stands: str = "until-negative"  # "ever": a later negative does not erase a positive
    positive_lapses_days: int | None = None  # a positive older than this says nothing about now
    room_air_only: bool = False  # a reading on supplemental oxygen does not answer (SpO2)


@dataclass(frozen=True, slots=True)
class Product:
    """An RxNorm product code and the ingredient RxCUIs (of our concepts) it contains."""

    rxcui: str
    name: str
    tty: str | None
    route: str
    ingredients: tuple[str, ...]
    source: str
    verified: bool


@dataclass(frozen=True, slots=True)
class _PrefixRule:
    concept: str
    excepts: tuple[str, ...]


def normalize_system(system: str) -> str | None:
    """The canonical URI of a code system we know, or None."""
    return schema.SYSTEM_ALIASES.get(system.strip())


def _normalize_code(system: str, code: str) -> str:
    text = code.strip()
    if system == ICD10CM:
        return text.replace(".", "").upper()
    if system == CVX and text.isdigit():
        return str(int(text))  # "02" and "2" are the same CVX code
    return text


class Catalog:
    """Concepts and their codes; build with `Catalog.load()` or use `load_catalog()`."""

    __slots__ = (
        "_analytes",
        "_answers",
        "_by_coding",
        "_concepts",
        "_every",
        "_every_by_codings",
        "_half_lives",
        "_index",
        "_named",
        "_negative",
        "_nets",
        "_positive",
        "_prefix",
        "_products",
    )

    def __init__(
        self,
        concepts: Mapping[str, Concept],
        analytes: Mapping[str, Analyte],
        index: Mapping[tuple[str, str], frozenset[str]],
        prefix: Mapping[str, tuple[_PrefixRule, ...]],
        products: Mapping[str, Product],
        positive: frozenset[tuple[str, str]],
        negative: frozenset[tuple[str, str]],
        half_lives: Mapping[str, float],
        answers: Mapping[tuple[str, str], Literal["positive", "negative"]] | None = None,
    ) -> None:
        self._concepts = dict(concepts)
        self._analytes = dict(analytes)
        self._index = dict(index)
        self._prefix = dict(prefix)
        self._products = dict(products)
        self._positive = positive
        self._negative = negative
        self._half_lives = dict(half_lives)  # RxNorm ingredient -> elimination half-life in hours
        nets: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        every: dict[str, list[Concept]] = {}
        for concept in self._concepts.values():
            for kind in concept.kinds:
                if concept.text_net is not None:
                    nets.setdefault(kind, []).append((concept.id, concept.text_net))
                if kind in concept.every_record:
                    every.setdefault(kind, []).append(concept)
        # per kind: every net's words in one pattern (most texts name nothing: one search decides), then each net
        self._nets = {
            kind: (re.compile("|".join(f"(?:{n.pattern})" for _, n in found), re.IGNORECASE), tuple(found))
            for kind, found in nets.items()
        }
        self._named: dict[tuple[str, str], frozenset[str]] = {}  # texts repeat across records: answer each once
        self._by_coding: dict[str, dict[str, frozenset[str]]] = {}  # codes repeat too: normalise each once
        self._every = {kind: tuple(found) for kind, found in every.items()}
        # (kind, codings as written) -> `every_record_concepts`: every immunization asks, with one of a few vaccines
        self._every_by_codings: dict[tuple[str, tuple[tuple[str, str], ...]], frozenset[str]] = {}
        self._answers = dict(answers or {})

    # ---- loading ----

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalog:
        """Load and validate the YAML files of the package (or of `directory`, for tests)."""
        base = directory if directory is not None else schema.DIRECTORY
        if directory is None:
            analytes = schema.bundled_analytes()  # read once, shared with units.py
        else:
            analytes = schema.validated(schema.AnalytesFile, schema.read_document(base / schema.ANALYTES_FILE))
        return _build(
            schema.read_document(base / schema.CONCEPTS_FILE),
            schema.read_document(base / schema.PRODUCTS_FILE),
            (schema.ANALYTES_FILE, analytes),
        )

    # ---- lookups ----

    def concepts_for(self, system: str, code: str) -> frozenset[str]:
        """Concept ids of a coding; RxNorm products resolve to their ingredients' concepts. Memoised per coding
        as written (bounded): most records repeat a few codes, and normalising costs more than a dict read."""
        by_system = self._by_coding.get(code)
        found = None if by_system is None else by_system.get(system)
        if found is None:
            if by_system is None:
                if len(self._by_coding) >= 65536:
                    self._by_coding.clear()
                by_system = self._by_coding[code] = {}
            found = by_system[system] = self._concepts_for(system, code)
        return found

    @property
    def coding_memo(self) -> Mapping[str, Mapping[str, frozenset[str]]]:
        """`concepts_for`'s answers so far (read-only), by code then system as written, for a caller that reads
        many codings: two dict reads per coding it has seen (no key tuple to build and hash), the method call only
        for a new one."""
        return self._by_coding

    def _concepts_for(self, system: str, code: str) -> frozenset[str]:
        canonical = schema.SYSTEM_ALIASES.get(system.strip())
        if canonical is None:
            return frozenset()
        key = _normalize_code(canonical, code)
        found = self._index.get((canonical, key), frozenset())
        if canonical != ICD10CM or not self._prefix:
            return found
        matched: set[str] = set()
        for end in range(3, len(key) + 1):
            for rule in self._prefix.get(key[:end], ()):
                if not any(key.startswith(e) for e in rule.excepts):
                    matched.add(rule.concept)
        return found | matched if matched else found

    def named_by_text(self, kind: str, text: str) -> frozenset[str]:
        """Concepts of code kind `kind` whose safety net matches `text` (a record's code text and displays)."""
        found = self._named.get((kind, text))
        if found is None:
            found = _kept(self._named, (kind, text), self._name_by_text(kind, text), 8192)
        return found

    def _name_by_text(self, kind: str, text: str) -> frozenset[str]:
        nets = self._nets.get(kind)
        if nets is None or nets[0].search(text) is None or _NOT_THE_PATIENTS.search(text):
            return frozenset()
        return frozenset(cid for cid, net in nets[1] if net.search(text))

    def every_record_concepts(self, kind: str, codings: Iterable[tuple[str, str]]) -> frozenset[str]:
        """Concepts that hold every record of code kind `kind`, unless one of its `codings` is excepted."""
        candidates = self._every.get(kind)
        if not candidates:
            return frozenset()
        key = (kind, tuple(codings))
        found = self._every_by_codings.get(key)
        if found is None:
            found = _kept(self._every_by_codings, key, self._every_record(candidates, key[1]), 8192)
        return found

    @staticmethod
    def _every_record(candidates: tuple[Concept, ...], codings: tuple[tuple[str, str], ...]) -> frozenset[str]:
        keys = {(normalize_system(system) or system, _normalize_code(normalize_system(system) or "", code))
                for system, code in codings}  # fmt: skip
        return frozenset(c.id for c in candidates if c.except_codes.isdisjoint(keys))

    def drug_half_life_hours(self, codings: Iterable[tuple[str, str]]) -> float | None:
        """The longest half-life of the drugs a record's codings name (RxNorm ingredients or products)."""
        found: list[float] = []
        for system, code in codings:
            if normalize_system(system) != RXNORM:
                continue
            product = self._products.get(code.strip())
            for ingredient in product.ingredients if product is not None else (code.strip(),):
                if ingredient in self._half_lives:
                    found.append(self._half_lives[ingredient])
        return max(found) if found else None

    def concept(self, concept_id: str) -> Concept:
        """The concept; KeyError if unknown."""
        return self._concepts[concept_id]

    def analyte(self, concept_id: str) -> Analyte | None:
        """Measurement data of an observation/score concept (None for other concepts); KeyError if unknown."""
        if concept_id not in self._concepts:
            raise KeyError(concept_id)
        return self._analytes.get(concept_id)

    def product(self, rxcui: str) -> Product | None:
        return self._products.get(rxcui.strip())

    def concept_ids(self) -> frozenset[str]:
        return frozenset(self._concepts)

    def result_polarity(
        self, system: str, code: str, *, answer: bool = False
    ) -> Literal["positive", "negative"] | None:
        """Polarity of a coded qualitative result (valueCodeableConcept), per analytes.yaml.

        `answer`: the analyte is a yes/no question (breastfeeding status), so Yes / No codes count too.
        """
        canonical = normalize_system(system) or system.strip()
        key = (canonical, code.strip())
        if key in self._positive:
            return "positive"
        if key in self._negative:
            return "negative"
        return self._answers.get(key) if answer else None

    # ---- service.criteria.vocabulary.Vocabulary ----

    def has_concept(self, concept: str, kind: str) -> bool:
        found = self._concepts.get(concept)
        allowed = RESOURCE_KINDS.get(kind)
        return found is not None and allowed is not None and not found.kinds.isdisjoint(allowed)

    def concept_unit(self, concept: str) -> str | None:
        found = self._concepts.get(concept)
        return found.unit if found is not None else None

    def is_commensurable(self, concept: str, unit: str) -> bool:
        found = self._concepts.get(concept)
        if found is None:
            return False
        if unit == ULN:
            analyte = self._analytes.get(concept)
            return found.default_uln is not None or (analyte is not None and analyte.reference_range)
        if found.unit is None:
            return False
        return units.is_commensurable(found.unit, unit, analyte=concept)

    def label(self, concept: str) -> str:
        return self._concepts[concept].label

    def half_life_hours(self, concept: str) -> float | None:
        found = self._concepts.get(concept)
        return found.half_life_hours if found is not None else None


_Key = TypeVar("_Key", bound=tuple[object, ...])


def _kept(memo: dict[_Key, frozenset[str]], key: _Key, found: frozenset[str], bound: int) -> frozenset[str]:
    """`found`, remembered under `key` in a memo emptied when it reaches `bound` entries."""
    if len(memo) >= bound:
        memo.clear()
    memo[key] = found
    return found


@functools.cache
def load_catalog() -> Catalog:
    """The package's catalog, loaded once."""
    return Catalog.load()


# ---------------------------------------------------------------- loading and validation


@dataclass(slots=True)
class _RawConcept:
    label: str
    excluded_routes: frozenset[str]
    codes: list[tuple[str, str, str]]  # (kind, system, code)
    half_lives: dict[str, float]  # RxNorm code -> hours
    text_net: re.Pattern[str] | None = None
    every_record: frozenset[str] = frozenset()
    except_codes: frozenset[tuple[str, str]] = frozenset()


# Texts that name a condition without saying the patient has it: never a reason to doubt a closed list.
_NOT_THE_PATIENTS = re.compile(
    r"family history|screening|negative for|ruled out|exposure to|contact with|fear of|at risk|vaccin", re.IGNORECASE
)


def _fail(file: str, where: str, problem: str) -> CatalogError:
    return CatalogError(f"{file}: {where}: {problem}")


def _text_net(file: str, words: list[str] | None, where: str) -> re.Pattern[str] | None:
    if words is None:
        return None
    try:
        return re.compile("|".join(f"(?:{w})" for w in words), re.IGNORECASE)
    except re.error as exc:
        raise _fail(file, f"{where}.text_net", f"not a regular expression: {exc}") from exc


def _raw_concepts(file: str, doc: schema.ConceptsFile) -> dict[str, _RawConcept]:
    concepts: dict[str, _RawConcept] = {}
    for cid, spec in doc.concepts.items():
        where = f"concepts.{cid}"
        excepted: set[tuple[str, str]] = set()
        for i, entry in enumerate(spec.except_codes):
            system, _, code = entry.rpartition("|")
            if system not in schema.SYSTEMS:
                raise _fail(file, f"{where}.except_codes[{i}]", "expected 'system|code' with a known system")
            excepted.add((system, _normalize_code(system, code)))
        concepts[cid] = _RawConcept(
            spec.label,
            frozenset(spec.excluded_routes),
            [(c.kind, c.system, c.code) for c in spec.codes],
            {c.code: c.half_life_hours for c in spec.codes if c.half_life_hours is not None},
            _text_net(file, spec.text_net, where),
            frozenset(spec.every_record),
            frozenset(excepted),
        )
    return concepts


def _expand_range(low: str, high: str, file: str, where: str) -> list[str]:
    if low[0] != high[0] or low > high:
        raise _fail(file, where, f"range {low}-{high} must stay within one letter and be ascending")
    alphabet = string.digits + string.ascii_uppercase
    return [f"{low[0]}{d}{x}" for d in string.digits for x in alphabet if low <= f"{low[0]}{d}{x}" <= high]


def _prefix_rules(
    file: str, rules: list[schema.PrefixRuleSpec], concepts: Mapping[str, _RawConcept]
) -> dict[str, tuple[_PrefixRule, ...]]:
    table: dict[str, list[_PrefixRule]] = {}
    for i, rule in enumerate(rules):
        where = f"prefix_rules[{i}]"
        if rule.concept not in concepts:
            raise _fail(file, f"{where}.concept", f"unknown concept {rule.concept!r}")
        if not any(kind == "condition" for kind, _, _ in concepts[rule.concept].codes):
            raise _fail(file, f"{where}.concept", f"{rule.concept!r} has no condition codes")
        prefixes = [_normalize_code(ICD10CM, p) for p in rule.prefixes]
        if rule.range is not None:
            prefixes.extend(_expand_range(*rule.range, file, f"{where}.range"))
        if not prefixes:
            raise _fail(file, where, "needs prefixes or a range")
        for p in prefixes:
            if len(p) < 3:
                raise _fail(file, f"{where}.prefixes", f"prefix {p!r} is shorter than an ICD-10-CM category")
        entry = _PrefixRule(rule.concept, tuple(_normalize_code(ICD10CM, e) for e in rule.excepts))
        for p in prefixes:
            table.setdefault(p, []).append(entry)
    return {p: tuple(rs) for p, rs in table.items()}


def _products(file: str, doc: schema.ProductsFile, ingredient_codes: frozenset[str]) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for rxcui, spec in doc.products.items():
        for ingredient in spec.ingredients:
            if ingredient not in ingredient_codes:
                raise _fail(
                    file,
                    f"products.{rxcui}.ingredients",
                    f"{ingredient} is not an RxNorm medication code in concepts.yaml",
                )
        products[rxcui] = Product(
            rxcui, spec.name, spec.tty, spec.route, tuple(spec.ingredients), spec.source, spec.verified
        )
    return products


def _analytes(
    file: str, doc: schema.AnalytesFile, concepts: Mapping[str, _RawConcept]
) -> tuple[
    dict[str, Analyte],
    frozenset[tuple[str, str]],
    frozenset[tuple[str, str]],
    dict[tuple[str, str], Literal["positive", "negative"]],
]:
    analytes: dict[str, Analyte] = {}
    for cid, spec in doc.analytes.items():
        where = f"analytes.{cid}"
        if cid not in concepts:
            raise _fail(file, where, "unknown concept")
        if not any(kind in MEASURED_KINDS for kind, _, _ in concepts[cid].codes):
            raise _fail(file, where, "only observation/score concepts have analyte data")
        analytes[cid] = Analyte(
            concept=cid,
            unit=spec.unit,
            lookback_days=spec.lookback_days,
            lookback_note=spec.lookback_note,
            result=spec.result,
            reference_range=spec.reference_range,
            default_uln=spec.default_uln,
            uln_source=spec.uln_source,
            uln_verified=spec.uln_verified,
            molar_factor=spec.molar_factor,
            positivity=spec.positivity,
            positive_stands=spec.positive_stands,
            positive_lapses_days=spec.positive_lapses_days,
            room_air_only=spec.room_air_only,
        )
    for cid, raw in concepts.items():
        if any(kind in MEASURED_KINDS for kind, _, _ in raw.codes) and cid not in analytes:
            raise _fail(file, f"analytes.{cid}", "missing: every observation/score concept needs a unit and look-back")
    qualitative = doc.qualitative

    def codes(items: list[schema.Coding]) -> frozenset[tuple[str, str]]:
        return frozenset((item.system, item.code) for item in items)

    positive, negative = codes(qualitative.positive_codes), codes(qualitative.negative_codes)
    yes, no = codes(qualitative.answer_yes_codes), codes(qualitative.answer_no_codes)
    if positive & negative or yes & no:
        raise _fail(file, "qualitative", "a code is both positive and negative")
    answers: dict[tuple[str, str], Literal["positive", "negative"]] = dict.fromkeys(yes, "positive")
    answers.update(dict.fromkeys(no, "negative"))
    return analytes, positive, negative, answers


def _build(
    concepts_doc: tuple[str, Any], products_doc: tuple[str, Any], analytes_doc: tuple[str, schema.AnalytesFile]
) -> Catalog:
    concepts_file = concepts_doc[0]
    concepts_spec = schema.validated(schema.ConceptsFile, concepts_doc)
    raw = _raw_concepts(concepts_file, concepts_spec)
    prefix = _prefix_rules(concepts_file, concepts_spec.prefix_rules, raw)
    analytes, positive, negative, answers = _analytes(*analytes_doc, raw)

    index: dict[tuple[str, str], set[str]] = {}
    medication_codes: dict[str, set[str]] = {}  # RxCUI -> concepts with that medication code
    for cid, concept in raw.items():
        for kind, system, code in concept.codes:
            index.setdefault((system, _normalize_code(system, code)), set()).add(cid)
            if system == RXNORM and kind == "medication":
                medication_codes.setdefault(code, set()).add(cid)
    products = _products(
        products_doc[0], schema.validated(schema.ProductsFile, products_doc), frozenset(medication_codes)
    )
    for rxcui, product in products.items():
        resolved = {
            cid
            for ing in product.ingredients
            for cid in medication_codes[ing]
            if product.route not in raw[cid].excluded_routes
        }
        if resolved:
            index.setdefault((RXNORM, rxcui), set()).update(resolved)

    built: dict[str, Concept] = {}
    for cid, concept in raw.items():
        analyte = analytes.get(cid)
        built[cid] = Concept(
            id=cid,
            label=concept.label,
            kinds=frozenset(kind for kind, _, _ in concept.codes),
            unit=analyte.unit if analyte else None,
            lookback_days=analyte.lookback_days if analyte else None,
            default_uln=analyte.default_uln if analyte else None,
            molar_factor=analyte.molar_factor if analyte else None,
            text_net=concept.text_net,
            half_life_hours=_longest_half_life(concept),
            every_record=concept.every_record,
            except_codes=concept.except_codes,
        )
    frozen_index = {key: frozenset(value) for key, value in index.items()}
    half_lives = {code: hours for concept in raw.values() for code, hours in concept.half_lives.items()}
    return Catalog(built, analytes, frozen_index, prefix, products, positive, negative, half_lives, answers)


def _longest_half_life(concept: _RawConcept) -> float | None:
    drugs = [code for kind, system, code in concept.codes if kind == "medication" and system == RXNORM]
    if not drugs or any(code not in concept.half_lives for code in drugs):
        return None
    return max(concept.half_lives[code] for code in drugs)

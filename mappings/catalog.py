"""The concept catalog: codes -> concepts, and what the checker and the facts layer need about each concept.

Loaded once from the package's YAML files (`concepts.yaml`, `rxnorm_products.yaml`, `analytes.yaml`),
validated strictly (a bad file fails loudly with file and key), and indexed so that the hot path,
`concepts_for(system, code)`, is a dict lookup (plus a few prefix lookups for ICD-10-CM families).

`Catalog` implements `service.criteria.vocabulary.Vocabulary` structurally.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from mappings import units
from mappings.disk_cache import load_yaml

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

_DIR = Path(__file__).resolve().parent
CONCEPTS_FILE = "concepts.yaml"
PRODUCTS_FILE = "rxnorm_products.yaml"
ANALYTES_FILE = "analytes.yaml"

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CVX = "http://hl7.org/fhir/sid/cvx"
CPT = "http://www.ama-assn.org/go/cpt"
SCORE = "urn:trial-screen:score"

# Spellings of the same code system seen in FHIR data (canonical URI and HL7 OIDs).
_SYSTEM_ALIASES: dict[str, str] = {
    RXNORM: RXNORM,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    SNOMED: SNOMED,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    LOINC: LOINC,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    ICD10CM: ICD10CM,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    CVX: CVX,
    "urn:oid:2.16.840.1.113883.12.292": CVX,
    CPT: CPT,
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    SCORE: SCORE,
}
_SYSTEMS = frozenset(_SYSTEM_ALIASES.values())

CODE_KINDS = frozenset({"condition", "observation", "score", "medication", "procedure", "immunization"})
# The criteria language's resource words -> code kinds that can be read from that resource.
RESOURCE_KINDS: Mapping[str, frozenset[str]] = {
    "Condition": frozenset({"condition"}),
    "Observation": frozenset({"observation", "score"}),
    "Medication": frozenset({"medication"}),
    "Procedure": frozenset({"procedure"}),
    "Immunization": frozenset({"immunization"}),
}
MEASURED_KINDS = frozenset({"observation", "score"})
ROUTES = frozenset({"oral", "injection", "subcutaneous", "local", "unspecified"})
RESULT_TYPES = frozenset({"quantitative", "qualitative", "either"})
# analytes.yaml `positivity`: reference range / coded (default), nucleic acid detected, yes/no answer
POSITIVITY_READS = frozenset({"reference", "detected", "answer"})
POSITIVE_STANDS = frozenset({"until-negative", "ever"})
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ICD_CATEGORY = re.compile(r"^[A-Z][0-9][0-9A-Z]$")
ULN = "ULN"


class CatalogError(ValueError):
    """Bad mapping data: the message names the file and the key."""


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
    positivity: str = "reference"  # how a result reads as positive: POSITIVITY_READS
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
    return _SYSTEM_ALIASES.get(system.strip())


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
        "_concepts",
        "_every",
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
        self._every = {kind: tuple(found) for kind, found in every.items()}
        self._answers = dict(answers or {})

    # ---- loading ----

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalog:
        """Load and validate the YAML files of the package (or of `directory`, for tests)."""
        base = directory if directory is not None else _DIR
        return _build(
            _read(base / CONCEPTS_FILE),
            _read(base / PRODUCTS_FILE),
            _read(base / ANALYTES_FILE),
        )

    # ---- lookups ----

    def concepts_for(self, system: str, code: str) -> frozenset[str]:
        """Concept ids of a coding; RxNorm products resolve to their ingredients' concepts."""
        canonical = _SYSTEM_ALIASES.get(system.strip())
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
        key = (kind, text)
        found = self._named.get(key)
        if found is None:
            found = self._name_by_text(kind, text)
            if len(self._named) >= 8192:
                self._named.clear()
            self._named[key] = found
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


@functools.cache
def load_catalog() -> Catalog:
    """The package's catalog, loaded once."""
    return Catalog.load()


# ---------------------------------------------------------------- loading and validation


def _read(path: Path) -> tuple[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path.name}: cannot read ({exc.strerror})") from exc
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: not valid YAML: {exc}") from exc
    return path.name, data


class _Checker:
    """Typed access to one YAML file that reports `file: key.path: problem`."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, problem: str) -> CatalogError:
        return CatalogError(f"{self.file}: {where}: {problem}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where, f"key {key!r} is not a string")
        return value

    def seq(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, where: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def opt_text(self, value: Any, where: str) -> str | None:
        return None if value is None else self.text(value, where)

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {value!r}")
        return value

    def number(self, value: Any, where: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(where, f"expected a positive number, got {value!r}")
        return float(value)

    def days(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(where, f"expected a positive whole number of days or null, got {value!r}")
        return value

    def only(self, spec: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
        extra = set(spec) - set(allowed)
        if extra:
            raise self.fail(where, f"unknown key(s) {', '.join(sorted(extra))}")

    def version(self, data: Mapping[str, Any]) -> None:
        if data.get("version") != 1:
            raise self.fail("version", f"expected 1, got {data.get('version')!r}")


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


def _text_net(c: _Checker, spec: Mapping[str, Any], where: str) -> re.Pattern[str] | None:
    """`text_net`: words (regular expressions) any of which names the concept; matched case-insensitively."""
    if "text_net" not in spec:
        return None
    words = [c.text(w, f"{where}.text_net") for w in c.seq(spec["text_net"], f"{where}.text_net")]
    try:
        named = "|".join(f"(?:{w})" for w in words)
        return re.compile(named, re.IGNORECASE)
    except re.error as exc:
        raise c.fail(f"{where}.text_net", f"not a regular expression: {exc}") from exc


_CODE_KEYS = frozenset(
    {"kind", "system", "code", "display", "source", "verified", "notes", "half_life_hours", "half_life_source"}
)


def _parse_concepts(file: str, data: Any) -> tuple[dict[str, _RawConcept], list[dict[str, Any]]]:
    c = _Checker(file)
    root = c.mapping(data, "(top level)")
    c.version(root)
    c.only(root, {"version", "concepts", "prefix_rules"}, "(top level)")
    concepts: dict[str, _RawConcept] = {}
    for cid, spec in c.mapping(root.get("concepts"), "concepts").items():
        where = f"concepts.{cid}"
        if not _ID.match(cid):
            raise c.fail(where, "concept ids are kebab-case (a-z, 0-9, '-')")
        spec = c.mapping(spec, where)
        c.only(spec, {"label", "notes", "excluded_routes", "codes", "text_net", "every_record", "except_codes"}, where)
        label = c.text(spec.get("label"), f"{where}.label")
        if spec.get("notes") is not None:
            c.text(spec["notes"], f"{where}.notes")
        routes = frozenset(c.seq(spec.get("excluded_routes", []), f"{where}.excluded_routes"))
        if not routes <= ROUTES:
            raise c.fail(f"{where}.excluded_routes", f"unknown route(s) {sorted(routes - ROUTES)}")
        codes: list[tuple[str, str, str]] = []
        half_lives: dict[str, float] = {}
        seen: set[tuple[str, str, str]] = set()
        for i, entry in enumerate(c.seq(spec.get("codes"), f"{where}.codes")):
            at = f"{where}.codes[{i}]"
            entry = c.mapping(entry, at)
            c.only(entry, _CODE_KEYS, at)
            kind = c.text(entry.get("kind"), f"{at}.kind")
            if kind not in CODE_KINDS:
                raise c.fail(f"{at}.kind", f"{kind!r} is not one of {sorted(CODE_KINDS)}")
            system = c.text(entry.get("system"), f"{at}.system")
            if system not in _SYSTEMS:
                raise c.fail(f"{at}.system", f"unknown code system {system!r}")
            code = entry.get("code")
            if not isinstance(code, str) or not code.strip() or code != code.strip():
                raise c.fail(f"{at}.code", f"expected a code string without spaces around it, got {code!r}")
            c.text(entry.get("display"), f"{at}.display")
            c.opt_text(entry.get("source"), f"{at}.source")
            c.flag(entry.get("verified"), f"{at}.verified")
            hours = c.number(entry.get("half_life_hours"), f"{at}.half_life_hours")
            if hours is not None:
                if kind != "medication" or system != RXNORM:
                    raise c.fail(f"{at}.half_life_hours", "half-lives are for RxNorm medication codes")
                c.text(entry.get("half_life_source"), f"{at}.half_life_source")
                half_lives[code] = hours
            if (kind, system, code) in seen:
                raise c.fail(at, f"duplicate code {system}|{code}")
            seen.add((kind, system, code))
            codes.append((kind, system, code))
        if not codes:
            raise c.fail(f"{where}.codes", "a concept needs at least one code")
        every = frozenset(c.seq(spec.get("every_record", []), f"{where}.every_record"))
        if not every <= CODE_KINDS:
            raise c.fail(f"{where}.every_record", f"unknown code kind(s) {sorted(every - CODE_KINDS)}")
        excepted: set[tuple[str, str]] = set()
        for i, entry in enumerate(c.seq(spec.get("except_codes", []), f"{where}.except_codes")):
            system, _, code = c.text(entry, f"{where}.except_codes[{i}]").rpartition("|")
            if system not in _SYSTEMS:
                raise c.fail(f"{where}.except_codes[{i}]", "expected 'system|code' with a known system")
            excepted.add((system, _normalize_code(system, code)))
        concepts[cid] = _RawConcept(
            label, routes, codes, half_lives, _text_net(c, spec, where), every, frozenset(excepted)
        )
    rules = c.seq(root.get("prefix_rules", []), "prefix_rules")
    return concepts, rules


def _expand_range(c: _Checker, where: str, bounds: Any) -> list[str]:
    pair = c.seq(bounds, where)
    if len(pair) != 2 or not all(isinstance(b, str) and _ICD_CATEGORY.match(b) for b in pair):
        raise c.fail(where, f"expected two ICD-10-CM categories like [C00, C96], got {bounds!r}")
    low, high = pair
    if low[0] != high[0] or low > high:
        raise c.fail(where, f"range {low}-{high} must stay within one letter and be ascending")
    alphabet = string.digits + string.ascii_uppercase
    return [f"{low[0]}{d}{x}" for d in string.digits for x in alphabet if low <= f"{low[0]}{d}{x}" <= high]


def _parse_prefix_rules(
    file: str, rules: list[Any], concepts: Mapping[str, _RawConcept]
) -> dict[str, tuple[_PrefixRule, ...]]:
    c = _Checker(file)
    table: dict[str, list[_PrefixRule]] = {}
    for i, rule in enumerate(rules):
        where = f"prefix_rules[{i}]"
        rule = c.mapping(rule, where)
        c.only(rule, {"concept", "system", "prefixes", "range", "except", "note"}, where)
        concept = c.text(rule.get("concept"), f"{where}.concept")
        if concept not in concepts:
            raise c.fail(f"{where}.concept", f"unknown concept {concept!r}")
        if not any(kind == "condition" for kind, _, _ in concepts[concept].codes):
            raise c.fail(f"{where}.concept", f"{concept!r} has no condition codes")
        if rule.get("system", ICD10CM) != ICD10CM:
            raise c.fail(f"{where}.system", "prefix rules are supported for ICD-10-CM only")
        prefixes = [
            _normalize_code(ICD10CM, c.text(p, f"{where}.prefixes"))
            for p in c.seq(rule.get("prefixes", []), f"{where}.prefixes")
        ]
        if "range" in rule:
            prefixes.extend(_expand_range(c, f"{where}.range", rule["range"]))
        if not prefixes:
            raise c.fail(where, "needs prefixes or a range")
        for p in prefixes:
            if len(p) < 3:
                raise c.fail(f"{where}.prefixes", f"prefix {p!r} is shorter than an ICD-10-CM category")
        excepts = tuple(
            _normalize_code(ICD10CM, c.text(e, f"{where}.except"))
            for e in c.seq(rule.get("except", []), f"{where}.except")
        )
        entry = _PrefixRule(concept, excepts)
        for p in prefixes:
            table.setdefault(p, []).append(entry)
    return {p: tuple(rs) for p, rs in table.items()}


def _parse_products(file: str, data: Any, ingredient_codes: frozenset[str]) -> dict[str, Product]:
    c = _Checker(file)
    root = c.mapping(data, "(top level)")
    c.version(root)
    c.only(root, {"version", "products"}, "(top level)")
    products: dict[str, Product] = {}
    for rxcui, spec in c.mapping(root.get("products"), "products").items():
        where = f"products.{rxcui}"
        if not rxcui.isdigit():
            raise c.fail(where, "an RxCUI is a string of digits")
        spec = c.mapping(spec, where)
        c.only(spec, {"name", "tty", "route", "ingredients", "source", "verified"}, where)
        route = c.text(spec.get("route"), f"{where}.route")
        if route not in ROUTES:
            raise c.fail(f"{where}.route", f"{route!r} is not one of {sorted(ROUTES)}")
        ingredients = tuple(c.text(i, f"{where}.ingredients") for i in c.seq(spec.get("ingredients"), where))
        if not ingredients:
            raise c.fail(f"{where}.ingredients", "a product needs at least one ingredient")
        for ing in ingredients:
            if ing not in ingredient_codes:
                raise c.fail(f"{where}.ingredients", f"{ing} is not an RxNorm medication code in concepts.yaml")
        products[rxcui] = Product(
            rxcui=rxcui,
            name=c.text(spec.get("name"), f"{where}.name"),
            tty=c.opt_text(spec.get("tty"), f"{where}.tty"),
            route=route,
            ingredients=ingredients,
            source=c.text(spec.get("source"), f"{where}.source"),
            verified=c.flag(spec.get("verified"), f"{where}.verified"),
        )
    return products


_ANALYTE_KEYS = {
    "unit",
    "lookback_days",
    "lookback_note",
    "result",
    "reference_range",
    "default_uln",
    "uln_source",
    "uln_verified",
    "molar_factor",
    "molar_note",
    "unit_aliases",
    "note",
    "positivity",
    "positive_stands",
    "positive_lapses_days",
    "positivity_note",
    "room_air_only",
    "room_air_note",
}


def _parse_analytes(
    file: str, data: Any, concepts: Mapping[str, _RawConcept]
) -> tuple[
    dict[str, Analyte],
    frozenset[tuple[str, str]],
    frozenset[tuple[str, str]],
    dict[tuple[str, str], Literal["positive", "negative"]],
]:
    c = _Checker(file)
    root = c.mapping(data, "(top level)")
    c.version(root)
    c.only(root, {"version", "unit_aliases", "unit_identities", "qualitative", "analytes"}, "(top level)")
    aliases = c.mapping(root.get("unit_aliases", {}), "unit_aliases")
    for key, value in aliases.items():
        c.text(value, f"unit_aliases.{key}")
    analytes: dict[str, Analyte] = {}
    for cid, spec in c.mapping(root.get("analytes"), "analytes").items():
        where = f"analytes.{cid}"
        if cid not in concepts:
            raise c.fail(where, "unknown concept")
        if not any(kind in MEASURED_KINDS for kind, _, _ in concepts[cid].codes):
            raise c.fail(where, "only observation/score concepts have analyte data")
        spec = c.mapping(spec, where)
        c.only(spec, _ANALYTE_KEYS, where)
        result = c.text(spec.get("result"), f"{where}.result")
        if result not in RESULT_TYPES:
            raise c.fail(f"{where}.result", f"{result!r} is not one of {sorted(RESULT_TYPES)}")
        if "lookback_days" not in spec:
            raise c.fail(f"{where}.lookback_days", "missing (write null for 'any time')")
        default_uln = c.number(spec.get("default_uln"), f"{where}.default_uln")
        if default_uln is not None:
            c.text(spec.get("uln_source"), f"{where}.uln_source")
            c.flag(spec.get("uln_verified"), f"{where}.uln_verified")
        unit = c.opt_text(spec.get("unit"), f"{where}.unit")
        if default_uln is not None and unit is None:
            raise c.fail(f"{where}.default_uln", "a default ULN needs a unit")
        for key, value in c.mapping(spec.get("unit_aliases", {}), f"{where}.unit_aliases").items():
            c.text(value, f"{where}.unit_aliases.{key}")
        reads = c.text(spec.get("positivity", "reference"), f"{where}.positivity")
        if reads not in POSITIVITY_READS:
            raise c.fail(f"{where}.positivity", f"{reads!r} is not one of {sorted(POSITIVITY_READS)}")
        stands = c.text(spec.get("positive_stands", "until-negative"), f"{where}.positive_stands")
        if stands not in POSITIVE_STANDS:
            raise c.fail(f"{where}.positive_stands", f"{stands!r} is not one of {sorted(POSITIVE_STANDS)}")
        analytes[cid] = Analyte(
            concept=cid,
            unit=unit,
            lookback_days=c.days(spec.get("lookback_days"), f"{where}.lookback_days"),
            lookback_note=c.text(spec.get("lookback_note"), f"{where}.lookback_note"),
            result=result,
            reference_range=c.flag(spec.get("reference_range"), f"{where}.reference_range"),
            default_uln=default_uln,
            uln_source=c.opt_text(spec.get("uln_source"), f"{where}.uln_source"),
            uln_verified=bool(spec.get("uln_verified", False)),
            molar_factor=c.number(spec.get("molar_factor"), f"{where}.molar_factor"),
            positivity=reads,
            positive_stands=stands,
            positive_lapses_days=c.days(spec.get("positive_lapses_days"), f"{where}.positive_lapses_days"),
            room_air_only=c.flag(spec.get("room_air_only", False), f"{where}.room_air_only"),
        )
    for cid, raw in concepts.items():
        if any(kind in MEASURED_KINDS for kind, _, _ in raw.codes) and cid not in analytes:
            raise c.fail(f"analytes.{cid}", "missing: every observation/score concept needs a unit and look-back")
    qual = c.mapping(root.get("qualitative"), "qualitative")
    polarity: dict[str, frozenset[tuple[str, str]]] = {}
    for side in ("positive_codes", "negative_codes", "answer_yes_codes", "answer_no_codes"):
        found: set[tuple[str, str]] = set()
        for i, item in enumerate(c.seq(qual.get(side), f"qualitative.{side}")):
            item = c.mapping(item, f"qualitative.{side}[{i}]")
            system = c.text(item.get("system"), f"qualitative.{side}[{i}].system")
            found.add((system, c.text(item.get("code"), f"qualitative.{side}[{i}].code")))
        polarity[side] = frozenset(found)
    if (
        polarity["positive_codes"] & polarity["negative_codes"]
        or polarity["answer_yes_codes"] & polarity["answer_no_codes"]
    ):
        raise c.fail("qualitative", "a code is both positive and negative")
    answers: dict[tuple[str, str], Literal["positive", "negative"]] = dict.fromkeys(
        polarity["answer_yes_codes"], "positive"
    )
    answers.update(dict.fromkeys(polarity["answer_no_codes"], "negative"))
    return analytes, polarity["positive_codes"], polarity["negative_codes"], answers


def _build(concepts_doc: tuple[str, Any], products_doc: tuple[str, Any], analytes_doc: tuple[str, Any]) -> Catalog:
    concepts_file, concepts_data = concepts_doc
    raw, rules = _parse_concepts(concepts_file, concepts_data)
    prefix = _parse_prefix_rules(concepts_file, rules, raw)
    analytes, positive, negative, answers = _parse_analytes(analytes_doc[0], analytes_doc[1], raw)

    index: dict[tuple[str, str], set[str]] = {}
    medication_codes: dict[str, set[str]] = {}  # RxCUI -> concepts with that medication code
    for cid, concept in raw.items():
        for kind, system, code in concept.codes:
            index.setdefault((system, _normalize_code(system, code)), set()).add(cid)
            if system == RXNORM and kind == "medication":
                medication_codes.setdefault(code, set()).add(cid)
    products = _parse_products(products_doc[0], products_doc[1], frozenset(medication_codes))
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

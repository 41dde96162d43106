"""The three mapping files as pydantic models: what each key may hold, checked strictly when a file is read.

A bad file fails loudly with `file: key.path: problem`. `analytes.yaml` is read once per process
(`bundled_analytes`) for both its readers, the catalog (analytes) and `units.py` (aliases, molar factors,
identities).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from mappings.disk_cache import load_yaml

DIRECTORY = Path(__file__).resolve().parent
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
SYSTEM_ALIASES: dict[str, str] = {
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
SYSTEMS = frozenset(SYSTEM_ALIASES.values())

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ICD_CATEGORY = re.compile(r"^[A-Z][0-9][0-9A-Z]$")


class CatalogError(ValueError):
    """Bad mapping data: the message names the file and the key."""


def read_document(path: Path) -> tuple[str, Any]:
    """The file's name (for error messages) and its parsed YAML, or a CatalogError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path.name}: cannot read ({exc.strerror})") from exc
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: not valid YAML: {exc}") from exc
    return path.name, data


class _Model(BaseModel):
    """A YAML mapping: unknown keys are errors, types are not coerced (a quoted number is no number)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Text = Annotated[StrictStr, Field(pattern=r"\S")]  # non-empty, not only spaces
Positive = Annotated[float, Field(gt=0, strict=True)]
Days = Annotated[StrictInt, Field(gt=0)]
CodeKind = Literal["condition", "observation", "score", "medication", "procedure", "immunization"]  # a code's kind
Route = Literal["oral", "injection", "subcutaneous", "local", "unspecified"]
IcdCategory = Annotated[StrictStr, Field(pattern=_ICD_CATEGORY.pattern)]


def _known_system(system: str) -> str:
    if system not in SYSTEMS:
        raise ValueError(f"unknown code system {system!r}")
    return system


class _Code(_Model):
    kind: CodeKind
    system: Annotated[Text, AfterValidator(_known_system)]
    code: Annotated[StrictStr, Field(pattern=r"^\S(?:.*\S)?$")]  # without spaces around it
    display: Text
    source: Text | None = None
    verified: StrictBool
    notes: str | None = None
    half_life_hours: Positive | None = None
    half_life_source: Text | None = None

    @model_validator(mode="after")
    def _half_life_of_a_drug(self) -> _Code:
        if self.half_life_hours is not None:
            if self.kind != "medication" or self.system != RXNORM:
                raise ValueError("half-lives are for RxNorm medication codes")
            if self.half_life_source is None:
                raise ValueError("a half-life needs its half_life_source")
        return self


class ConceptSpec(_Model):
    label: Text
    notes: Text | None = None
    excluded_routes: frozenset[Route] = frozenset()
    codes: Annotated[list[_Code], Field(min_length=1)]
    text_net: list[Text] | None = None  # words (regular expressions) any of which names the concept
    every_record: frozenset[CodeKind] = frozenset()
    except_codes: list[Text] = []  # "system|code"

    @field_validator("codes")
    @classmethod
    def _no_duplicates(cls, codes: list[_Code]) -> list[_Code]:
        seen: set[tuple[str, str, str]] = set()
        for code in codes:
            key = (code.kind, code.system, code.code)
            if key in seen:
                raise ValueError(f"duplicate code {code.system}|{code.code}")
            seen.add(key)
        return codes


class PrefixRuleSpec(_Model):
    concept: Text
    system: Literal["http://hl7.org/fhir/sid/icd-10-cm"] = "http://hl7.org/fhir/sid/icd-10-cm"
    prefixes: list[Text] = []
    range: tuple[IcdCategory, IcdCategory] | None = None
    excepts: list[Text] = Field([], alias="except")
    note: str | None = None


class ConceptsFile(_Model):
    version: Literal[1]
    concepts: dict[Annotated[StrictStr, Field(pattern=_ID.pattern)], ConceptSpec]
    prefix_rules: list[PrefixRuleSpec] = []


class ProductSpec(_Model):
    name: Text
    tty: Text | None = None
    route: Route
    ingredients: Annotated[list[Text], Field(min_length=1)]
    source: Text
    verified: StrictBool


class ProductsFile(_Model):
    version: Literal[1]
    products: dict[Annotated[StrictStr, Field(pattern=r"^[0-9]+$")], ProductSpec]


class AnalyteSpec(_Model):
    unit: Text | None = None
    lookback_days: Days | None  # required: null is "any time"
    lookback_note: Text
    result: Literal["quantitative", "qualitative", "either"]
    reference_range: StrictBool
    default_uln: Positive | None = None
    uln_source: Text | None = None
    uln_verified: StrictBool = False
    molar_factor: Positive | None = None
    molar_note: str | None = None
    unit_aliases: dict[StrictStr, Text] = {}
    note: str | None = None
    positivity: Literal["reference", "detected", "answer"] = "reference"
    positive_stands: Literal["until-negative", "ever"] = "until-negative"
    positive_lapses_days: Days | None = None
    positivity_note: str | None = None
    room_air_only: StrictBool = False
    room_air_note: str | None = None

    @model_validator(mode="after")
    def _uln_has_a_source_and_a_unit(self) -> AnalyteSpec:
        if self.default_uln is not None and (self.uln_source is None or self.unit is None):
            raise ValueError("a default ULN needs a uln_source and a unit")
        return self


class Coding(BaseModel):
    model_config = ConfigDict(frozen=True)  # a display may ride along

    system: Text
    code: Text


class _Qualitative(BaseModel):
    model_config = ConfigDict(frozen=True)  # the interpretation lists and the policy are notes for people

    positive_codes: list[Coding]
    negative_codes: list[Coding]
    answer_yes_codes: list[Coding]
    answer_no_codes: list[Coding]


class _UnitIdentity(_Model):
    equals: Positive
    unit: Text


class AnalytesFile(_Model):
    version: Literal[1]
    unit_aliases: dict[StrictStr, Text] = {}
    unit_identities: dict[StrictStr, _UnitIdentity] = {}
    qualitative: _Qualitative
    analytes: dict[StrictStr, AnalyteSpec]


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], document: tuple[str, Any]) -> M:
    """The file as `model`, or a CatalogError naming the file, the key path and the problem."""
    file, data = document
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
        where = where.replace(".[key]", " (the key)")
        if error["type"] == "missing":
            problem = "missing"
        elif error["type"] == "value_error":  # one of our rules: its message says what is wrong
            problem = error["msg"].removeprefix("Value error, ")
        else:
            problem = f"{error['msg']}, got {error['input']!r}"
        raise CatalogError(f"{file}: {where or '(top level)'}: {problem}") from exc


@functools.cache
def bundled_analytes() -> AnalytesFile:
    """The package's analytes.yaml, read and validated once."""
    return validated(AnalytesFile, read_document(DIRECTORY / ANALYTES_FILE))

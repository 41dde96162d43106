"""mappings.catalog: loading, validation and code -> concept lookups."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mappings.catalog import Catalog, CatalogError, load_catalog
from mappings.schema import ICD10CM, RXNORM, SNOMED
from service.criteria.vocabulary import Vocabulary
from tests.paths import SHARED

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
SHARED_CSV = SHARED / "data" / "terminology" / "concepts.csv"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_load_catalog_is_cached() -> None:
    assert load_catalog() is load_catalog()


def test_catalog_is_a_vocabulary(catalog: Catalog) -> None:
    vocabulary: Vocabulary = catalog
    assert vocabulary.label("anc") == "Absolute neutrophil count"


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        (SNOMED, "200936003", {"sle"}),  # Synthea lupus
        (ICD10CM, "M32.14", {"sle", "lupus-nephritis"}),
        (ICD10CM, "M3214", {"sle", "lupus-nephritis"}),
        (ICD10CM, " m32.14 ", {"sle", "lupus-nephritis"}),
        (ICD10CM, "N18.6", {"ckd-stage-4-5", "esrd"}),
        (RXNORM, "105586", {"methotrexate"}),  # Synthea: methotrexate 10 MG Oral Tablet
        (RXNORM, "105585", {"methotrexate"}),
        (RXNORM, "1664463", {"tacrolimus"}),  # Synthea: tacrolimus ER 1 MG [Envarsus]
        (RXNORM, "835900", {"cyclosporine"}),  # Synthea v2.4: cycloSPORINE 50 MG Oral Capsule
        (RXNORM, "241834", {"cyclosporine"}),
        (RXNORM, "312615", {"glucocorticoid"}),
        (RXNORM, "979092", {"hydroxychloroquine"}),
        (RXNORM, "197388", {"azathioprine"}),
        (RXNORM, "6851", {"methotrexate"}),  # the ingredient itself
        ("urn:oid:2.16.840.1.113883.6.88", "105586", {"methotrexate"}),
        (LOINC, "751-8", {"anc"}),
        ("urn:trial-screen:score", "sledai-2k", {"sledai-2k"}),
        (CVX, "02", {"live-vaccine"}),
        (CVX, "2", {"live-vaccine"}),
    ],
)
def test_concepts_for(catalog: Catalog, system: str, code: str, expected: set[str]) -> None:
    assert catalog.concepts_for(system, code) == frozenset(expected)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("C34.11", {"malignancy"}),  # C00-C96 family
        ("C7A.010", {"malignancy"}),  # lettered category inside the range
        ("C96.9", {"malignancy"}),
        ("D03.9", {"malignancy"}),  # in situ (D00-D09): counted, conservatively
        ("D12.6", set()),  # benign neoplasm: not a malignancy
        ("D47.1", {"neoplasm-uncertain-behaviour"}),  # D37-D49: uncertain / unspecified behaviour
        ("D3A.00", set()),  # benign neuroendocrine tumour, excepted from D37-D49
        ("C83.38", {"malignancy", "b-cell-lymphoma"}),
        ("A17.81", {"tuberculosis"}),  # A15-A19
        ("A20.0", set()),
        ("M05.711", {"rheumatoid-arthritis"}),
        ("M06.1", set()),  # adult-onset Still disease is excepted
        ("M06.4", set()),
        ("O9A.111", {"pregnancy"}),
        ("Z3A.12", {"pregnancy"}),
        ("F11.20", {"substance-abuse"}),
        ("F17.210", set()),  # nicotine excluded
        ("M32.0", set()),  # drug-induced lupus excluded
        ("M32.19", {"sle"}),
    ],
)
def test_icd10_prefix_families(catalog: Catalog, code: str, expected: set[str]) -> None:
    assert catalog.concepts_for(ICD10CM, code) == frozenset(expected)
    assert catalog.concepts_for(ICD10CM, code.replace(".", "")) == frozenset(expected)


def test_local_products_do_not_count_for_systemic_only_concepts(catalog: Catalog) -> None:
    # Synthea's hydrocortisone 10 MG/ML Topical Cream is not a systemic glucocorticoid.
    assert catalog.concepts_for(RXNORM, "106258") == frozenset()
    product = catalog.product("106258")
    assert product is not None
    assert product.route == "local"
    # tacrolimus ointment (CSV note: exclude SCD 313189, 314266)
    assert catalog.concepts_for(RXNORM, "313189") == frozenset()
    assert catalog.concepts_for(RXNORM, "314266") == frozenset()


def test_unknown_system_or_code(catalog: Catalog) -> None:
    assert catalog.concepts_for("http://example.org/local", "751-8") == frozenset()
    assert catalog.concepts_for(LOINC, "0000-0") == frozenset()


def test_concept_details(catalog: Catalog) -> None:
    creatinine = catalog.concept("serum-creatinine")
    assert creatinine.unit == "mg/dL"
    assert creatinine.lookback_days == 90
    assert creatinine.molar_factor == pytest.approx(88.42)
    assert catalog.concept("alt").default_uln is not None
    assert catalog.concept("body-weight").lookback_days == 180
    assert catalog.concept("hcg-pregnancy").lookback_days == 7
    assert catalog.concept("ana").lookback_days is None
    assert catalog.concept("hsct").kinds == frozenset({"condition", "procedure"})
    assert catalog.concept("ivig").kinds == frozenset({"medication", "immunization"})
    with pytest.raises(KeyError):
        catalog.concept("no-such-concept")


def test_vocabulary_methods(catalog: Catalog) -> None:
    assert catalog.has_concept("anc", "Observation")
    assert catalog.has_concept("sledai-2k", "Observation")
    assert catalog.has_concept("hsct", "Procedure")
    assert catalog.has_concept("hsct", "Condition")
    assert catalog.has_concept("ivig", "Immunization")
    assert catalog.has_concept("ivig", "Medication")
    assert not catalog.has_concept("anc", "Condition")
    assert not catalog.has_concept("no-such-concept", "Condition")
    assert catalog.concept_unit("anc") == "10*3/uL"
    assert catalog.concept_unit("sle") is None
    assert catalog.is_commensurable("anc", "10*9/L")
    assert catalog.is_commensurable("serum-creatinine", "umol/L")
    assert catalog.is_commensurable("hemoglobin", "g/L")
    assert not catalog.is_commensurable("alt", "mg/dL")
    assert catalog.is_commensurable("alt", "ULN")
    assert catalog.is_commensurable("igg", "ULN")  # no default, but labs report reference ranges
    assert not catalog.is_commensurable("egfr", "ULN")
    assert not catalog.is_commensurable("sle", "mg/dL")


def test_qualitative_result_polarity(catalog: Catalog) -> None:
    assert catalog.result_polarity(SNOMED, "10828004") == "positive"
    assert catalog.result_polarity(LOINC, "LA6577-6") == "negative"
    assert catalog.result_polarity(SNOMED, "1234") is None


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="shared terminology CSV not present")
def test_every_csv_row_is_in_the_catalog(catalog: Catalog) -> None:
    with SHARED_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        assert row["concept"] in catalog.concept_ids()
        assert row["concept"] in catalog.concepts_for(row["system"], row["code"]), row


def test_every_concept_has_a_label_and_measured_concepts_a_window(catalog: Catalog) -> None:
    for cid in catalog.concept_ids():
        concept = catalog.concept(cid)
        assert concept.label.strip()
        analyte = catalog.analyte(cid)
        if concept.kinds & {"observation", "score"}:
            assert analyte is not None
            assert analyte.lookback_note


# ---------------------------------------------------------------- validation errors


def _copy(tmp_path: Path) -> Path:
    for name in ("concepts.yaml", "rxnorm_products.yaml", "analytes.yaml"):
        shutil.copy(MAPPINGS / name, tmp_path / name)
    return tmp_path


def test_bad_kind_names_file_and_key(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    path = directory / "concepts.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["concepts"]["anc"]["codes"][1]["kind"] = "lab"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        Catalog.load(directory)
    assert "concepts.yaml: concepts.anc.codes[1].kind" in str(err.value)
    assert "'lab'" in str(err.value)


def test_unknown_ingredient_in_products(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    path = directory / "rxnorm_products.yaml"
    path.write_text(
        'version: 1\nproducts:\n  "105586": {name: x, tty: SCD, route: oral, ingredients: ["999999"],'
        " source: test, verified: true}\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match=r"rxnorm_products\.yaml: products\.105586\.ingredients"):
        Catalog.load(directory)


def test_missing_lookback(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    path = directory / "analytes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["analytes"]["anc"]["lookback_days"]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"analytes\.yaml: analytes\.anc\.lookback_days: missing"):
        Catalog.load(directory)


def test_invalid_yaml(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    (directory / "analytes.yaml").write_text("version: [1\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"analytes\.yaml: not valid YAML"):
        Catalog.load(directory)


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("condition", "Malignant tumor of pancreas (disorder)", {"malignancy"}),
        ("condition", "Adenocarcinoma of pancreas | Pancreatic cancer", {"malignancy"}),
        ("condition", "Non-malignant thyroid nodule", set()),
        ("condition", "Hodgkin disease, nodular sclerosis", {"malignancy"}),
        ("condition", "Neoplasm of uncertain behaviour of bladder", {"malignancy"}),
        ("condition", "Benign tumor of ovary", set()),
        ("condition", "Family history of breast cancer", set()),
        ("condition", "Screening for malignant neoplasm of cervix", set()),
        ("condition", "Kidney transplant recipient", {"organ-transplant"}),
        ("condition", "Bone marrow transplant status", {"organ-transplant", "hsct"}),
        ("condition", "Chronic hepatitis B", {"hepatitis-b"}),
        ("condition", "Hepatitis B vaccination status", set()),
        ("condition", "Cerebral infarction", {"cns-disease"}),
        ("medication", "Telitacicept 160 mg SC weekly", {"b-cell-targeted-other"}),
        ("medication", "Saphnelo (anifrolumab) 300 mg IV", {"other-biologic"}),
        ("medication", "Cholecalciferol 1000 IU daily", set()),
        ("procedure", "Adenocarcinoma of pancreas", set()),  # a net works for the code kinds of its concept only
    ],
)
def test_safety_nets(catalog: Catalog, kind: str, text: str, expected: set[str]) -> None:
    assert catalog.named_by_text(kind, text) == frozenset(expected)


@pytest.mark.parametrize(
    ("codings", "expected"),
    [
        ([("http://hl7.org/fhir/sid/cvx", "140")], {"vaccine"}),  # inactivated influenza
        ([("http://hl7.org/fhir/sid/cvx", "03")], {"vaccine"}),  # MMR (live: also live-vaccine, by code)
        ([], {"vaccine"}),  # an uncoded immunization is still a vaccination
        ([("urn:oid:2.16.840.1.113883.12.292", "087")], set()),  # IGIV by OID and zero-padded: not a vaccine
        ([("http://hl7.org/fhir/sid/cvx", "998")], set()),  # no vaccine administered
    ],
)
def test_every_immunization_is_a_vaccination(
    catalog: Catalog, codings: list[tuple[str, str]], expected: set[str]
) -> None:
    assert catalog.every_record_concepts("immunization", codings) == frozenset(expected)
    assert catalog.every_record_concepts("immunization", tuple(codings)) == frozenset(expected)  # from its memo


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda spec: spec.update(colour="red"), "analytes.yaml: analytes.anc.colour: Extra inputs are not permitted"),
        (
            lambda spec: spec.update(reference_range="yes"),
            "analytes.anc.reference_range: Input should be a valid boolean",
        ),
        (lambda spec: spec.update(lookback_days=0), "analytes.anc.lookback_days: Input should be greater than 0"),
        (lambda spec: spec.update(default_uln=5, uln_source=None), "analytes.anc: a default ULN needs a uln_source"),
    ],
)
def test_an_analyte_is_checked_key_by_key(tmp_path: Path, change: Any, expected: str) -> None:
    directory = _copy(tmp_path)
    path = directory / "analytes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["analytes"]["anc"])
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        Catalog.load(directory)
    assert expected in str(err.value)

"""One-off generator for `concepts.yaml` and `rxnorm_products.yaml` (kept for review, not run by the service).

The YAML files are the source of truth once committed; edit them by hand from now on. This script records how
they were first made, so a reviewer can re-run it and diff:

    python scripts/build_concepts.py \\
        --csv /work/shared/data/terminology/concepts.csv \\
        --rxnorm-extract DIR   # web/data/*.json of davidanderson3/rxnorm-ingredients at commit a8fcf13
        --pedsnet DIR          # drugs/*.csv of PEDSnet/Variable-Dictionary at commit 009e8ba

Inputs are public data files (an RxNorm ingredient -> SCDC -> SCD/SBD/GPCK/BPCK extract of the 2025-10-06
RxNorm full release, and PEDSnet OMOP code sets); nothing is downloaded here.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent.parent / "mappings"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
EXTRACT_SOURCE = "davidanderson3/rxnorm-ingredients:web/data/{letter}.json (commit a8fcf13)"
PEDSNET_SOURCE = "PEDSnet/Variable-Dictionary:drugs/{file} (commit 009e8ba)"

LABELS: dict[str, str] = {
    "anc": "Absolute neutrophil count",
    "wbc": "White blood cell count",
    "lymphocytes": "Absolute lymphocyte count",
    "hemoglobin": "Hemoglobin",
    "platelets": "Platelet count",
    "inr": "INR",
    "pt": "Prothrombin time",
    "cd19-b-cells": "CD19+ B-cell count",
    "serum-creatinine": "Serum creatinine",
    "alt": "ALT (alanine aminotransferase)",
    "ast": "AST (aspartate aminotransferase)",
    "alp": "Alkaline phosphatase",
    "total-bilirubin": "Total bilirubin",
    "direct-bilirubin": "Direct bilirubin",
    "egfr": "eGFR",
    "creatine-kinase": "Creatine kinase",
    "aldolase": "Aldolase",
    "ldh": "Lactate dehydrogenase (LDH)",
    "igg": "Serum IgG",
    "upcr": "Urine protein/creatinine ratio",
    "urine-protein-24h": "24-hour urine protein",
    "creatinine-clearance-measured": "Measured creatinine clearance",
    "body-weight": "Body weight",
    "body-height": "Body height",
    "spo2": "Oxygen saturation (SpO2)",
    "inhaled-oxygen": "Inhaled oxygen",
    "hcg-pregnancy": "Pregnancy test (hCG)",
    "pregnancy-status": "Pregnancy status",
    "lactation-status": "Breastfeeding status",
    "ana": "Antinuclear antibody (ANA)",
    "anti-dsdna": "Anti-dsDNA antibody",
    "anti-sm": "Anti-Smith antibody",
    "anti-ssa-ro": "Anti-SSA/Ro antibody",
    "anca": "ANCA",
    "mpo-anca": "MPO-ANCA",
    "pr3-anca": "PR3-ANCA",
    "myositis-specific-antibody": "Myositis-specific antibody",
    "scleroderma-antibodies": "Scleroderma-specific antibody",
    "fvc": "Forced vital capacity (FVC)",
    "fvc-percent-predicted": "FVC % predicted",
    "dlco": "DLCO",
    "bnp": "BNP",
    "nt-probnp": "NT-proBNP",
    "mpap": "Mean pulmonary artery pressure",
    "pawp": "Pulmonary artery wedge pressure",
    "pvr": "Pulmonary vascular resistance",
    "rap": "Right atrial pressure",
    "cardiac-index": "Cardiac index",
    "six-minute-walk": "Six-minute walk distance",
    "hbsag": "Hepatitis B surface antigen",
    "hbv-dna": "HBV DNA",
    "hbcab": "Hepatitis B core antibody",
    "hcv-antibody": "Hepatitis C antibody",
    "hcv-rna": "HCV RNA",
    "hiv-antibody": "HIV antibody/antigen test",
    "hiv-viral-load": "HIV viral load",
    "cmv-dna": "CMV DNA",
    "ebv-dna": "EBV DNA",
    "syphilis-test": "Syphilis test",
    "tb-test": "Tuberculosis test (IGRA)",
    "sledai-2k": "SLEDAI-2K score",
    "selena-sledai": "SELENA-SLEDAI score",
    "pga": "Physician global assessment",
    "bilag": "BILAG score",
    "essdai": "ESSDAI score",
    "bvas": "BVAS score",
    "mrss": "Modified Rodnan skin score",
    "mmt8": "MMT-8 score",
    "das28-esr": "DAS28-ESR",
    "cdai": "CDAI score",
    "ecog": "ECOG performance status",
    "ptga": "Patient global assessment",
    "extramuscular-activity": "Extramuscular disease activity",
    "haq-di": "HAQ disability index",
    "swollen-joint-count-28": "Swollen joint count (28)",
    "tender-joint-count-28": "Tender joint count (28)",
    "who-functional-class": "WHO functional class",
    "sle": "Systemic lupus erythematosus",
    "lupus-nephritis": "Lupus nephritis",
    "lupus-nephritis-proliferative": "Proliferative lupus nephritis",
    "systemic-sclerosis": "Systemic sclerosis",
    "ssc-limited-cutaneous": "Limited cutaneous systemic sclerosis",
    "sjogren": "Sjogren's disease",
    "inflammatory-myopathy": "Idiopathic inflammatory myopathy",
    "aav": "ANCA-associated vasculitis",
    "rheumatoid-arthritis": "Rheumatoid arthritis",
    "antiphospholipid-syndrome": "Antiphospholipid syndrome",
    "uctd": "Undifferentiated connective tissue disease",
    "thrombocytopenia": "Thrombocytopenia",
    "immune-thrombocytopenia": "Immune thrombocytopenia",
    "bleeding-tendency": "Bleeding tendency",
    "pah": "Pulmonary arterial hypertension",
    "ild": "Interstitial lung disease",
    "gilbert-syndrome": "Gilbert syndrome",
    "severe-liver-disease": "Severe liver disease",
    "hiv": "HIV infection",
    "hepatitis-b": "Hepatitis B infection",
    "hepatitis-c": "Hepatitis C infection",
    "syphilis-infection": "Syphilis",
    "tuberculosis": "Active tuberculosis",
    "latent-tuberculosis": "Latent tuberculosis",
    "cmv-infection": "CMV infection",
    "ebv-infection": "EBV infection",
    "htlv-infection": "HTLV infection",
    "hypogammaglobulinemia": "Hypogammaglobulinemia",
    "t-cell-immunodeficiency": "T-cell immunodeficiency",
    "malignancy": "Malignancy",
    "b-cell-lymphoma": "B-cell lymphoma",
    "organ-transplant": "Organ transplant",
    "hsct": "Hematopoietic stem cell transplant",
    "prior-car-t": "Prior CAR-T therapy",
    "cns-disease": "Central nervous system disease",
    "schizophrenia": "Schizophrenia",
    "major-depression": "Major depression",
    "bipolar-disorder": "Bipolar disorder",
    "psychotic-disorder": "Psychotic disorder",
    "suicidal-ideation": "Suicidal ideation",
    "suicide-attempt": "Suicide attempt",
    "alcohol-abuse": "Alcohol abuse or dependence",
    "substance-abuse": "Drug abuse or dependence",
    "myocardial-infarction": "Myocardial infarction",
    "angina": "Angina",
    "unstable-angina": "Unstable angina",
    "heart-failure": "Heart failure",
    "arrhythmia": "Arrhythmia",
    "coronary-revascularization": "Coronary revascularization",
    "dvt": "Deep vein thrombosis",
    "pulmonary-embolism": "Pulmonary embolism",
    "ckd-stage-4-5": "Chronic kidney disease stage 4-5",
    "esrd": "End-stage renal disease",
    "pregnancy": "Pregnancy",
    "lactation": "Lactation",
    "other-inflammatory-arthritis": "Other inflammatory arthritis",
    "inflammatory-skin-disease": "Inflammatory skin disease",
    "other-vasculitis": "Other vasculitis",
    "other-autoimmune-disease": "Other autoimmune disease",
    "glucocorticoid": "Systemic glucocorticoid",
    "cyclophosphamide": "Cyclophosphamide",
    "hydroxychloroquine": "Hydroxychloroquine",
    "chloroquine": "Chloroquine",
    "azathioprine": "Azathioprine",
    "mercaptopurine": "Mercaptopurine",
    "mycophenolate": "Mycophenolate",
    "methotrexate": "Methotrexate",
    "leflunomide": "Leflunomide",
    "tacrolimus": "Tacrolimus (systemic)",
    "cyclosporine": "Cyclosporine (systemic)",
    "voclosporin": "Voclosporin",
    "sulfasalazine": "Sulfasalazine",
    "rituximab": "Rituximab",
    "belimumab": "Belimumab",
    "anti-cd20-other": "Other anti-CD20 antibody",
    "b-cell-targeted-other": "Other B-cell targeted therapy",
    "tocilizumab": "IL-6 receptor inhibitor",
    "tnf-inhibitor": "TNF inhibitor",
    "jak-inhibitor": "JAK inhibitor (systemic)",
    "btk-inhibitor": "BTK inhibitor",
    "other-biologic": "Other biologic agent",
    "abatacept": "Abatacept",
    "anakinra": "Anakinra",
    "ivig": "Intravenous immunoglobulin",
    "g-csf": "Colony-stimulating factor",
    "car-t-product": "CAR-T cell product",
    "anticoagulant": "Anticoagulant therapy",
    "pah-prostacyclin-pathway": "Prostacyclin-pathway PAH therapy",
    "pah-era": "Endothelin receptor antagonist",
    "pah-pde5-inhibitor": "PDE-5 inhibitor",
    "pah-sgc-stimulator": "Soluble guanylate cyclase stimulator",
    "fludarabine": "Fludarabine",
    "plasmapheresis": "Plasmapheresis",
    "hemodialysis": "Hemodialysis",
    "kidney-biopsy": "Kidney biopsy",
    "blood-transfusion": "Blood transfusion",
    "right-heart-catheterization": "Right heart catheterization",
    "bone-marrow-examination": "Bone marrow examination",
    "major-surgery": "Major surgery",
    "live-vaccine": "Live vaccine",
}

# Product routes a concept does not count (from the CSV notes): products whose dose form is local (topical,
# ophthalmic, otic, nasal, inhaled, rectal, vaginal, implant...) or subcutaneous do not resolve to it.
EXCLUDED_ROUTES = {
    "glucocorticoid": ["local"],  # systemic glucocorticoids only
    "tacrolimus": ["local"],  # topical ointment excluded
    "cyclosporine": ["local"],  # ophthalmic products excluded
    "jak-inhibitor": ["local"],  # ruxolitinib cream excluded
    "ivig": ["local", "subcutaneous"],  # "require IV route": subcutaneous immune globulin is not IVIG
}

# ICD-10-CM families (codes compared without the dot, upper case). `range` is inclusive on the 3-character
# category; `prefixes` match any code starting with them; `except` removes codes starting with those.
PREFIX_RULES: list[dict[str, Any]] = [
    {
        "concept": "sle",
        "prefixes": ["M32.1", "M32.8", "M32.9"],
        "note": "CSV note: M32.1x/M32.8/M32.9; M32.0 drug-induced lupus excluded",
    },
    {
        "concept": "rheumatoid-arthritis",
        "prefixes": ["M05", "M06"],
        "except": ["M06.1", "M06.4"],
        "note": "CSV note: all of M05.*/M06.* except M06.1 (adult-onset Still) and M06.4",
    },
    {"concept": "tuberculosis", "range": ["A15", "A19"], "note": "CSV note: A15-A19 = active TB"},
    {
        "concept": "malignancy",
        "range": ["C00", "C96"],
        "note": "CSV note: C00-C96 malignant neoplasms (includes C44 non-melanoma skin: policy open)",
    },
    {
        "concept": "malignancy",
        "prefixes": ["Z85"],
        "note": "CSV note: Z85.* personal history of malignancy (history only; see SOURCES.md)",
    },
    {
        "concept": "b-cell-lymphoma",
        "prefixes": ["C82", "C83.0", "C83.1", "C83.3", "C83.8", "C83.9", "C85.1", "C85.2", "C88.4", "C91.1"],
        "note": "CSV note on b-cell-lymphoma",
    },
    {
        "concept": "cns-disease",
        "range": ["I60", "I63"],
        "note": "CSV note: prefix rules advisable I60-I63, G40, G30, G20, G35, F01-F03, S06",
    },
    {"concept": "cns-disease", "prefixes": ["G40", "G30", "G20", "G35", "S06"], "note": "CSV note"},
    {"concept": "cns-disease", "range": ["F01", "F03"], "note": "CSV note"},
    {"concept": "suicide-attempt", "prefixes": ["T14.91"], "note": "CSV note: T14.91 with any 7th character"},
    {"concept": "alcohol-abuse", "prefixes": ["F10.1", "F10.2"], "note": "CSV note: F10.1*/F10.2*"},
    {
        "concept": "substance-abuse",
        "prefixes": [f"F{n}.{k}" for n in (11, 12, 13, 14, 15, 16, 18, 19) for k in (1, 2)],
        "note": "CSV note: F11-F16, F18, F19 with .1x abuse / .2x dependence; F17 nicotine excluded",
    },
    {
        "concept": "pregnancy",
        "range": ["O00", "O9A"],
        "note": "CSV note: pregnancy chapter O00-O9A; needs a date window",
    },
    {"concept": "pregnancy", "prefixes": ["Z3A"], "note": "CSV note: Z3A weeks of gestation"},
]

LOCAL_FORMS = re.compile(
    r"Topical|Ophthalmic|Otic|Nasal|Inhal|Rectal|Enema|Vaginal|Suppository|Oral Paste|Mouthwash|Dental|"
    r"Irrigation|Intrauterine|Medicated (Pad|Tape)|Shampoo|Drug Implant|Intraocular|Intravitreal|Urethral|"
    r"Mucosal|Transdermal|\bCutaneous|Soap|Lozenge|Chewing Gum|Douche",
    re.IGNORECASE,
)
INJECTION_FORMS = re.compile(r"Inject|Syringe|Cartridge|Pen Injector|Auto-Injector|Infusion|Intravenous", re.I)
ORAL_FORMS = re.compile(r"\bOral\b|Sublingual|Buccal|Chewable|Tablet|Capsule|Pellet|Granule", re.IGNORECASE)


def route_of(name: str) -> str:
    if "subcutaneous" in name.lower():
        return "subcutaneous"
    if LOCAL_FORMS.search(name):
        return "local"
    if INJECTION_FORMS.search(name):
        return "injection"
    if ORAL_FORMS.search(name):
        return "oral"
    return "unspecified"


def build_concepts(csv_path: Path) -> tuple[dict[str, Any], set[str]]:
    with csv_path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    grouped: OrderedDict[str, list[dict[str, str]]] = OrderedDict()
    for row in rows:
        grouped.setdefault(row["concept"], []).append(row)
    concepts: dict[str, Any] = {}
    for cid, crow in grouped.items():
        notes = {r["notes"] for r in crow}
        common = notes.pop() if len(notes) == 1 else None
        entry: dict[str, Any] = {"label": LABELS[cid]}
        if cid in EXCLUDED_ROUTES:
            entry["excluded_routes"] = EXCLUDED_ROUTES[cid]
        if common:
            entry["notes"] = common
        codes = []
        for r in crow:
            code: dict[str, Any] = {
                "kind": r["kind"],
                "system": r["system"],
                "code": r["code"],
                "display": r["display"],
                "source": r["source"] or None,
                "verified": r["verified"] == "yes",
            }
            if common is None and r["notes"]:
                code["notes"] = r["notes"]
            codes.append(code)
        entry["codes"] = codes
        concepts[cid] = entry
    rx_codes = {r["code"] for r in rows if r["system"] == RXNORM}
    return concepts, rx_codes


def build_products(extract_dir: Path, pedsnet_dir: Path, rx_codes: set[str]) -> dict[str, Any]:
    products: dict[str, dict[str, Any]] = {}
    for path in sorted(extract_dir.glob("*.json")):
        letter = path.stem
        for rec in json.loads(path.read_text(encoding="utf-8")):
            ing = rec["RXCUI"]
            if ing not in rx_codes:
                continue
            for scdc in rec["SCDCs"]:
                for scd in scdc["SCDs"]:
                    items = [scd]
                    for key in ("SBDs", "GPCKs", "BPCKs"):
                        items.extend(scd.get(key, []))
                    for item in items:
                        prod = products.setdefault(
                            item["RXCUI"],
                            {
                                "name": item["Name"],
                                "tty": item["TTY"],
                                "route": route_of(item["Name"]),
                                "ingredients": [],
                                "source": EXTRACT_SOURCE.format(letter=letter),
                                "verified": True,
                            },
                        )
                        if ing not in prod["ingredients"]:
                            prod["ingredients"].append(ing)
    # Ingredients whose letter file is missing from the extract (A.json is over the snapshot size limit).
    pedsnet = {"1256": "rx_azathioprine.csv", "327361": "adalimumab.csv", "614391": "abatacept.csv"}
    for ing, fname in pedsnet.items():
        with (pedsnet_dir / fname).open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                code = row["concept_code"]
                if row["vocabulary_id"] != "RxNorm" or code == ing or not code.isdigit():
                    continue
                name = row["concept_name"]
                if not re.search(r"\d|Oral|Inject|Syringe|Pack", name):
                    continue  # precise-ingredient names (e.g. biosimilar suffixes) are not products
                prod = products.setdefault(
                    code,
                    {
                        "name": name,
                        "tty": None,
                        "route": route_of(name),
                        "ingredients": [],
                        "source": PEDSNET_SOURCE.format(file=fname),
                        "verified": True,
                    },
                )
                if ing not in prod["ingredients"]:
                    prod["ingredients"].append(ing)
    # Product codes seen in the Synthea sample data but absent from the current RxNorm extract.
    products.setdefault(
        "835900",
        {
            "name": "cycloSPORINE 50 MG Oral Capsule",
            "tty": None,
            "route": "oral",
            "ingredients": ["3008"],
            "source": "Synthea sample 03-asa-hermiston.json (Synthea v2.4.0); absent from RxNorm 2025-10 extract",
            "verified": False,
        },
    )
    return dict(sorted(products.items(), key=lambda kv: int(kv[0])))


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--rxnorm-extract", type=Path, required=True)
    parser.add_argument("--pedsnet", type=Path, required=True)
    args = parser.parse_args()
    concepts, rx_codes = build_concepts(args.csv)
    header = (
        "# Concepts: id -> label, codes. Generated once from shared/data/terminology/concepts.csv by\n"
        "# mappings/build_concepts.py; edit by hand from now on. See mappings/SOURCES.md.\n"
    )
    body = {"version": 1, "concepts": concepts, "prefix_rules": PREFIX_RULES}
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=118)
    (HERE / "concepts.yaml").write_text(header + text, encoding="utf-8")
    products = build_products(args.rxnorm_extract, args.pedsnet, rx_codes)
    header = (
        "# RxNorm product (SCD/SBD/GPCK/BPCK and a few older forms) -> ingredient RxCUIs of our concepts.\n"
        "# `ingredients` lists only ingredients that belong to a concept in concepts.yaml.\n"
        "# `route`: oral | injection | subcutaneous | local | unspecified, from the RxNorm name (dose form);\n"
        "# a concept's excluded_routes (concepts.yaml) drop products of those routes.\n"
        "# Generated once by mappings/build_concepts.py; edit by hand from now on. See mappings/SOURCES.md.\n"
    )
    lines = [header, "version: 1\nproducts:\n"]
    for code, prod in products.items():
        entry = yaml.dump(prod, Dumper=_Dumper, default_flow_style=True, width=10_000, allow_unicode=True)
        lines.append(f'  "{code}": {entry.strip()}\n')
    (HERE / "rxnorm_products.yaml").write_text("".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()

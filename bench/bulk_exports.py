"""Bulk FHIR exports ($export layout: NDJSON per resource type) built for tests and the benchmark, in tmp dirs.

- `write_demo_export`: the demo patients, with each one's expected status per trial (from its demo file);
- `write_synthea_export`: the eleven real Synthea bundles copied N times with every id rewritten (patient,
  resources and the urn:uuid references between them), as an export server would write them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import orjson
import yaml

SYNTHEA = Path(__file__).resolve().parents[2] / "shared" / "data" / "synthea"  # ../shared beside the repository


_URN = re.compile(r"urn:uuid:([0-9a-fA-F-]{36})")


def _write_by_type(directory: Path, resources: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    try:
        for resource in resources:
            kind = resource["resourceType"]
            if kind not in handles:
                handles[kind] = (directory / f"{kind}.ndjson").open("ab")
            handles[kind].write(orjson.dumps(resource) + b"\n")
    finally:
        for handle in handles.values():
            handle.close()


def write_demo_export(directory: Path, keys: tuple[str, ...], on: dt.date) -> dict[str, dict[str, str]]:
    """Writes the demo patients `keys`; returns "Patient/<id>" → expected status per trial."""
    from service.demo.builder import build_resources
    from service.demo.patients import demo_dir

    expected: dict[str, dict[str, str]] = {}
    everything: list[dict[str, Any]] = []
    for key in keys:
        spec = yaml.safe_load((demo_dir() / f"{key}.yaml").read_text(encoding="utf-8"))
        resources = build_resources(key, spec, on)
        expected[f"Patient/{resources[0]['id']}"] = dict(spec.get("expect") or {})
        everything.extend(resources)
    _write_by_type(directory, everything)
    return expected


def synthea_bundles() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(SYNTHEA.glob("*.json"))]


_COPY = "@@copy@@"


def _templates(bundles: list[dict[str, Any]]) -> dict[str, bytes]:
    """Resource type → NDJSON lines of every bundle, with each id and urn:uuid reference ending `-@@copy@@`."""
    lines: dict[str, list[bytes]] = {}
    for bundle in bundles:
        kinds = {
            entry["fullUrl"][len("urn:uuid:") :]: entry["resource"]["resourceType"]
            for entry in bundle["entry"]
            if str(entry.get("fullUrl", "")).startswith("urn:uuid:")
        }

        def rewrite(match: re.Match[str], kinds: dict[str, str] = kinds) -> str:
            kind = kinds.get(match.group(1))
            return f"{kind}/{match.group(1)}-{_COPY}" if kind else match.group(0)

        for entry in bundle["entry"]:
            resource = json.loads(_URN.sub(rewrite, json.dumps(entry["resource"])))
            if isinstance(resource.get("id"), str):
                resource["id"] = f"{resource['id']}-{_COPY}"
            lines.setdefault(resource["resourceType"], []).append(orjson.dumps(resource) + b"\n")
    return {kind: b"".join(found) for kind, found in lines.items()}


def write_synthea_export(directory: Path, copies: int, bundles: list[dict[str, Any]] | None = None) -> int:
    """Every Synthea bundle `copies` times, ids suffixed `-<copy>`; returns the number of patients written."""
    bundles = bundles if bundles is not None else synthea_bundles()
    templates = _templates(bundles)
    directory.mkdir(parents=True, exist_ok=True)
    for kind, template in templates.items():
        with (directory / f"{kind}.ndjson").open("wb") as out:
            for copy in range(copies):
                out.write(template.replace(_COPY.encode(), str(copy).encode()))
    return copies * templates["Patient"].count(b"\n")


def read_candidates(path: str, fmt: str) -> list[dict[str, Any]]:
    """The rows of a candidates file, CSV or Parquet."""
    import csv
    import io

    import pyarrow.parquet as pq

    if fmt == "parquet":
        return list(pq.read_table(path).to_pylist())
    with open(path, encoding="utf-8", newline="") as source:
        rows = list(csv.DictReader(io.StringIO(source.read())))
    counts = ("missing_count", "rejected_lines")
    return [{**row, **{c: int(row[c]) for c in counts}} for row in rows]

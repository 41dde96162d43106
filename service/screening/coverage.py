"""Traceability: every seed criterion, where it is encoded, and whether a record can decide it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from mappings.catalog import Catalog, Concept
from service.criteria import ast
from service.criteria.inputs import RecordKind
from service.screening.registry import LoadedTrial
from service.screening.render import clip


def _walk(expr: ast.Expr) -> Iterator[ast.Expr]:
    """The expression and every expression inside it (not through definitions)."""
    yield expr
    if isinstance(expr, ast.Exists):
        yield from _walk(expr.source)
    elif isinstance(expr, ast.Call):
        for arg in expr.args:
            yield from _walk(arg)
    else:
        for name in ("left", "right", "operand", "value", "low", "high"):
            child = getattr(expr, name, None)
            if child is not None and not isinstance(child, float | str | int):
                yield from _walk(child)


def _expanded(criterion: ast.Criterion, trial: ast.Trial) -> Iterator[ast.Expr]:
    """Every expression of a criterion's rule, through the definitions it uses."""
    defines = {d.name: d.expr for d in trial.defines}
    pending = [] if criterion.expr is None else [criterion.expr]
    seen: set[str] = set()
    while pending:
        for node in _walk(pending.pop()):
            yield node
            if isinstance(node, ast.Ref) and node.name in defines and node.name not in seen:
                seen.add(node.name)
                pending.append(defines[node.name])


def encoding(criterion: ast.Criterion, trial: ast.Trial) -> str:
    """computable | partial (part needs the trial team) | manual."""
    if criterion.expr is None:
        return "manual"
    if any(isinstance(node, ast.UnknownLiteral) for node in _expanded(criterion, trial)):
        return "partial"
    return "computable"


CLOSED_WORLD = frozenset({RecordKind.CONDITION, RecordKind.MEDICATION, RecordKind.PROCEDURE, RecordKind.IMMUNIZATION})
# Seed wordings that name a whole category ("any malignancy", "such as HIV", "history of ... transplantation").
_CATEGORY_WORDING = re.compile(r"\b(any|such as|including|history of)\b", re.IGNORECASE)


def closed_list_warnings(trials: Sequence[LoadedTrial], catalog: Catalog) -> list[str]:
    """Exclusions worded "any …" that only a closed code list decides, none of whose concepts has a safety net
    (family 5 of issue 14: a code missing from the list silently passes the patient)."""
    warnings = []
    for loaded in trials:
        trial = loaded.compiled.trial
        for criterion in trial.criteria:
            if criterion.kind is not ast.CriterionKind.EXCLUSION or not _CATEGORY_WORDING.search(criterion.text):
                continue
            concepts = {
                concept
                for node in _expanded(criterion, trial)
                if isinstance(node, ast.Retrieve) and node.resource in CLOSED_WORLD
                for concept in node.concepts
            }
            if not concepts or any(_has_net(catalog.concept(c)) for c in concepts):
                continue
            names = ", ".join(f'"{c}"' for c in sorted(concepts))
            warnings.append(
                f'{loaded.path}:{criterion.span.line}: warning: exclusion "{criterion.id}" names a whole category '
                f"but only the closed code list(s) {names} decide it, without a safety net: add a text_net or "
                "every_record to a concept in mappings/concepts.yaml, or an unknown(...) for what the lists miss"
            )
    return warnings


def _has_net(concept: Concept) -> bool:
    return concept.text_net is not None or bool(concept.every_record)


LEGEND = (
    "computable: the record decides it; partial: the record decides the part it can, the rest "
    '(unknown("…") in the rule) is for the trial team; manual: for the trial team only'
)


def render_coverage(trials: Sequence[LoadedTrial]) -> str:
    lines = [LEGEND, ""]
    for loaded in trials:
        trial = loaded.compiled.trial
        kinds = [encoding(c, trial) for c in trial.criteria]
        counts = {k: kinds.count(k) for k in ("computable", "partial", "manual")}
        lines.append(
            f"{trial.id} ({trial.source or 'no seed named'}): {len(kinds)} criteria, "
            f"{counts['computable']} computable, {counts['partial']} partial, {counts['manual']} manual"
        )
        for criterion, kind in zip(trial.criteria, kinds, strict=True):
            where = f"{loaded.path.name}:{criterion.span.line}"
            arm = criterion.cohort or "common"
            text = clip(criterion.text, 80)
            lines.append(f"  {where:<34} {arm:<22} {criterion.kind.value:<9} {kind:<10} {criterion.id}: {text}")
        lines.append("")
    return "\n".join(lines)

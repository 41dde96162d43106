"""Traceability: every seed criterion, where it is encoded, and whether a record can decide it."""

from __future__ import annotations

from collections.abc import Sequence

from service.criteria import ast
from service.screening.registry import LoadedTrial
from service.screening.render import clip


def _has_unknown(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.UnknownLiteral):
        return True
    children = [
        getattr(expr, name) for name in ("left", "right", "operand", "value", "low", "high") if hasattr(expr, name)
    ]
    return any(_has_unknown(child) for child in children if not isinstance(child, float | str | int))


def encoding(criterion: ast.Criterion, trial: ast.Trial) -> str:
    """computable | partial (part needs the trial team) | manual."""
    if criterion.expr is None:
        return "manual"
    defines = {d.name: d.expr for d in trial.defines}
    pending: list[ast.Expr] = [criterion.expr]
    seen: set[str] = set()
    while pending:
        expr = pending.pop()
        if _has_unknown(expr):
            return "partial"
        pending.extend(defines[name] for name in _refs(expr) - seen if name in defines)
        seen |= _refs(expr)
    return "computable"


def _refs(expr: ast.Expr) -> set[str]:
    if isinstance(expr, ast.Ref):
        return {expr.name}
    found: set[str] = set()
    for name in ("left", "right", "operand", "value", "low", "high"):
        child = getattr(expr, name, None)
        if child is not None and not isinstance(child, float | str | int):
            found |= _refs(child)
    return found


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

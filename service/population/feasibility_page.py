"""The feasibility report: one self-contained HTML page (plotly.js inlined, no CDN) that works offline.

Aggregate counts only, no patient identifiers: a site can share it. Per trial: status counts per arm and the
criteria that exclude the most; per arm: the funnel in the order the criteria read, and the missing data that
leaves the most patients possibly eligible (what to order or record to decide them).
"""

from __future__ import annotations

import functools
import html
import importlib.resources
import json
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from service.population.feasibility import STATUSES, Arm, Feasibility

TOP = 10
_COLOURS = {"eligible": "#2e7d32", "possibly-eligible": "#f9a825", "ineligible": "#9e9e9e"}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 2px solid #ddd; } h3 { margin-top: 1.5rem; }
.note { color: #555; } .chart { margin: 0.5rem 0 1.5rem; }
table { border-collapse: collapse; }
td, th { padding: 0.2rem 0.8rem; border-bottom: 1px solid #eee; text-align: right; }
td:first-child, th:first-child { text-align: left; }
"""


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@functools.cache
def _template() -> dict[str, Any]:
    """The plotly_white template as plotly ships it (the JSON its graph objects load and validate: the same
    value), read once: validating it through them imported most of plotly and took ~0.15 s of the page."""
    shipped = importlib.resources.files("plotly") / "package_data" / "templates" / "plotly_white.json"
    template: dict[str, Any] = json.loads(shipped.read_bytes())
    return template


def _figure_html(traces: list[dict[str, Any]], layout: dict[str, Any], height: int) -> str:
    """A chart from its figure JSON, as plotly's graph objects serialise it (a trace's keys sorted, `type` last;
    the template first, a title as `{"text": …}`), without building them: their validation and copies were most
    of the page's cost."""
    data = [{**{k: trace[k] for k in sorted(trace) if k != "type"}, "type": trace["type"]} for trace in traces]
    layout = {"template": _template(), **layout, "margin": {"l": 20, "r": 20, "t": 40, "b": 20}, "height": height}
    config = {"displaylogo": False, "responsive": True}
    spec = {"data": data, "layout": layout}
    body = pio.to_html(spec, full_html=False, include_plotlyjs=False, config=config, validate=False)
    return f'<div class="chart">{body}</div>'


def _bars(y: list[str], x: list[int], colour: str, **more: Any) -> dict[str, Any]:
    """A horizontal bar trace."""
    return {"type": "bar", "y": y, "x": x, "orientation": "h", "marker": {"color": colour}, **more}


_REVERSED = {"autorange": "reversed"}


def _statuses_chart(arms: list[Arm]) -> str:
    labels = [arm.title for arm in arms]
    traces = [_bars(labels, [arm.statuses[s] for arm in arms], _COLOURS[s], name=s) for s in STATUSES]
    layout = {"yaxis": _REVERSED, "barmode": "stack", "title": {"text": "Patients by status, per arm"}}
    return _figure_html(traces, layout, 120 + 40 * len(arms))


def _excluders_chart(arms: list[Arm]) -> str:
    counts: dict[str, int] = {}
    texts: dict[str, str] = {}
    for arm in arms:
        texts.update(arm.criteria)
        for ident, n in arm.excluded_by.items():
            counts[ident] = max(counts.get(ident, 0), n)  # a common criterion is counted once per arm
    position = {ident: i for i, ident in enumerate(texts)}  # ties in the order the criteria read
    top = sorted(counts.items(), key=lambda item: (-item[1], position[item[0]]))[:TOP]
    if not top:
        return '<p class="note">No criterion excluded any patient.</p>'
    trace = _bars(
        [ident for ident, _ in top],
        [n for _, n in top],
        "#c62828",
        hovertext=[_short(texts[ident], 120) for ident, _ in top],
    )
    layout = {"yaxis": _REVERSED, "title": {"text": "Criteria that exclude the most patients"}}
    return _figure_html([trace], layout, 120 + 28 * len(top))


def _funnel_chart(arm: Arm) -> str:
    steps = arm.funnel()
    texts = dict(arm.criteria)
    trace = {
        "type": "funnel",
        "y": ["all screened", *(ident for ident, _ in steps)],
        "x": [sum(arm.statuses.values()), *(n for _, n in steps)],
        "hovertext": ["", *(_short(texts[ident], 120) for ident, _ in steps)],
        "textinfo": "value",
        "marker": {"color": "#1565c0"},
    }
    layout = {"title": {"text": f"Funnel: patients still in after each criterion ({arm.title})"}}
    return _figure_html([trace], layout, 160 + 24 * len(steps))


def _missing_chart(arm: Arm) -> str:
    # ties by name: the counts' own order follows set order (the hash seed) and which partitions merged first
    top = sorted(arm.missing.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    if not top:
        return '<p class="note">No possibly-eligible patient in this arm: no missing data to chase.</p>'
    trace = _bars(
        [_short(item) for item, _ in top],
        [n for _, n in top],
        _COLOURS["possibly-eligible"],
        hovertext=[item for item, _ in top],
    )
    title = f"Missing data that leaves patients possibly eligible ({arm.title})"
    return _figure_html([trace], {"yaxis": _REVERSED, "title": {"text": title}}, 120 + 28 * len(top))


def _status_table(feasibility: Feasibility) -> str:
    head = "".join(f"<th>{s}</th>" for s in STATUSES)
    rows = "".join(
        f"<tr><td>{html.escape(trial)}</td>"
        + "".join(f"<td>{feasibility.trial_statuses[(trial, s)]}</td>" for s in STATUSES)
        + "</tr>"
        for trial in feasibility.trial_titles
    )
    return f"<table><tr><th>trial</th>{head}</tr>{rows}</table>"


def render_feasibility(feasibility: Feasibility, *, title: str, subtitle: str) -> str:
    sections: list[str] = []
    for trial, trial_title in feasibility.trial_titles.items():
        arms = [arm for (t, _), arm in feasibility.arms.items() if t == trial]
        parts: list[Any] = [
            f"<h2 id='{html.escape(trial)}'>{html.escape(trial)}</h2>",
            f"<p class='note'>{html.escape(trial_title)}</p>",
            _statuses_chart(arms),
            _excluders_chart(arms),
        ]
        for arm in arms:
            parts += [f"<h3>Arm: {html.escape(arm.title)}</h3>", _funnel_chart(arm), _missing_chart(arm)]
        sections.append("\n".join(parts))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style>
<script>{get_plotlyjs()}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<p class="note">{html.escape(subtitle)}</p>
{_status_table(feasibility)}
{"".join(sections)}
</body></html>
"""

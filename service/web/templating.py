"""The one Jinja environment for every server-rendered page (autoescaped, strict about missing values)."""

from __future__ import annotations

from typing import Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

TEMPLATES: Final = Environment(
    loader=PackageLoader("service.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

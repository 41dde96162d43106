"""The demo page (`--demo` only): plays the EHR. Pick a demo patient; the browser calls the real hook endpoint.

The page is server-rendered (patient list) plus one plain static script (service/web/static/demo.js) that posts
the patient-view hook, renders the cards as an EHR would and sends feedback. No front-end build step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from service.demo.patients import DemoPatient
from service.json_response import JsonResponse
from service.screening.contract import Status
from service.screening.render import deciding_criteria, reason
from service.screening.screen import Screener
from service.web.errors import StaticFileNotFoundError
from service.web.templating import templates

_STATIC: Final = {"demo.js": "text/javascript", "demo.css": "text/css"}


@dataclass(frozen=True, slots=True)
class DemoEntry:
    """What the patient picker shows for one demo patient."""

    key: str
    name: str
    description: str
    gender: str
    age: int | None


def _age(birth_date: str | None, today: dt.date) -> int | None:
    if not birth_date:
        return None
    try:
        born = dt.date.fromisoformat(birth_date[:10])
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def demo_entries(patients: Sequence[DemoPatient], today: dt.date) -> list[DemoEntry]:
    entries = []
    for patient in patients:
        info = patient.spec.get("patient") or {}
        resource = patient.resources[0]
        entries.append(
            DemoEntry(
                key=patient.key,
                name=str(info.get("name") or patient.key),
                description=patient.title,
                gender=str(resource.get("gender", "unknown")),
                age=_age(resource.get("birthDate"), today),
            )
        )
    return entries


def render_demo_page(
    patients: Sequence[DemoPatient], today: dt.date | None = None, *, audit_token_set: bool = False
) -> str:
    template = templates().get_template("demo.html")
    return template.render(patients=demo_entries(patients, today or dt.date.today()), audit_token_set=audit_token_set)


def ruled_out(screener: Screener, patient: DemoPatient) -> list[dict[str, object]]:
    """Why no card: each trial the demo patient is ruled out of, with the criteria that decide it."""
    report = screener.screen(patient.record)
    return [
        {"trial": t.id, "title": t.title, "reasons": [reason(c, t, 110) for c in deciding_criteria(t)]}
        for t in report.trials
        if t.status is Status.INELIGIBLE
    ]


def create_router(patients: Sequence[DemoPatient], screener: Screener, *, audit_token_set: bool) -> APIRouter:
    router = APIRouter(tags=["Demo"], include_in_schema=False)
    static = {name: (resources.files("service.web") / "static" / name).read_bytes() for name in _STATIC}
    by_key = {p.key: p for p in patients}

    @router.get("/demo", response_class=HTMLResponse)
    async def demo_page() -> HTMLResponse:
        return HTMLResponse(render_demo_page(patients, audit_token_set=audit_token_set))

    @router.get("/demo/patients/{key}/ruled-out")
    async def demo_ruled_out(key: str) -> JsonResponse:
        if key not in by_key:
            raise StaticFileNotFoundError
        return JsonResponse({"trials": ruled_out(screener, by_key[key])})

    @router.get("/demo/static/{name}")
    async def demo_static(name: str) -> Response:
        if name not in static:
            raise StaticFileNotFoundError
        return Response(static[name], media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})

    return router

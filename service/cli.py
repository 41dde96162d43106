"""`trial-screen serve | screen | check | load-demo | audit`: thin wrappers over what the API calls."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
from pydantic import SecretStr

from service.criteria import CriteriaError
from service.gc_tuning import paused_for_start
from service.settings import Settings, sqlite_file

if TYPE_CHECKING:
    from service.audit.store import AuditStore
    from service.screening.screen import Screener
    from service.screening.sites import Sites


class _Command(typer.core.TyperCommand):
    """Usage lines as click writes them: a required argument is `BUNDLE`, not typer's `{BUNDLE}`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # typer's own (vendored) click Context
        return [piece.removeprefix("{").removesuffix("}") for piece in super().collect_usage_pieces(ctx)]


app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode=None, help="CAR-T trial pre-screening (CDS Hooks)."
)
audit_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Audit trail retention and export.")
app.add_typer(audit_app, name="audit")

DEMO_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!  DEMO MODE: JWT checking is OFF. Anyone who can reach this port can call the  !!
!!  hook. Never run --demo with real patient data or on a shared network.        !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _as_of(value: str | None) -> dt.date | None:
    """`--as-of` parsed where it is given, so a bad date blames the option, not the file."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-23") from exc


def _show_version(value: bool) -> None:
    if value:
        from service.version import SERVICE_VERSION

        typer.echo(f"trial-screen {SERVICE_VERSION}")
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """CAR-T trial pre-screening (CDS Hooks)."""


AsOf = Annotated[
    dt.date | None,
    typer.Option(
        "--as-of", parser=_as_of, metavar="YYYY-MM-DD", help="Evaluation date (default today).", show_default=False
    ),
]


class PathOrUrl(str):
    """A local path or an fsspec URL (s3://, gs://, abfs://): help shows this name, not Python's `str`."""

    __slots__ = ()


TrialOption = Annotated[str | None, typer.Option(metavar="ID", help="Only this trial id.")]


@app.command()
def serve(
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Serve the demo patients and turn JWT checking off.")] = False,
    workers: Annotated[
        int, typer.Option(min=1, metavar="N", help="Worker processes (one per core for throughput).")
    ] = 1,
) -> None:
    """Run the CDS Hooks service."""
    _skip_unused_imports()
    with paused_for_start():  # on again once the app's lifespan has frozen what was loaded
        from service.screening.screen import load_screener
        from service.screening.sites import SiteConfigError, load_sites

        environment = Settings()
        settings = _serve_settings(environment, host, port, demo=demo, workers=workers)
        if demo:
            typer.secho(DEMO_WARNING, fg=typer.colors.RED, err=True)
        try:  # a bad trial or site file fails here, once, with where it is (workers load them again themselves)
            screener = load_screener(settings.trials_dir)
            sites = load_sites(settings.sites_file, screener.versions())
        except (CriteriaError, SiteConfigError) as exc:
            raise _fail(str(exc)) from exc
        except OSError as exc:
            raise _fail(f"cannot read the trials: {exc.strerror}: {exc.filename}") from exc
        _print_database(settings)
        if demo:
            from service.demo.patients import demo_files

            files = demo_files()
            own_token = environment.audit_token is not None  # never printed; a token made for this run is
            _print_demo_help(settings, files[0].stem if files else "", own_token=own_token)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        # httpx logs every request URL at INFO: FHIR paths and queries hold the patient id (PHI, never logged).
        logging.getLogger("httpx").setLevel(logging.WARNING)
        if workers == 1:
            _run_server(settings, screener, sites, host=host, port=port)
            return
    _run_workers(settings, host=host, port=port, workers=workers)


def _skip_unused_imports() -> None:
    """Optional parts of libraries that `serve` never calls, imported only because they are installed: a None
    entry makes each import fail into the library's fallback. httpx imports its own command-line client (rich,
    pygments: ~0.04 s and ~5 MB of the start); alembic's templates (mako) import pygments to highlight template
    tracebacks (~0.04 s of a start that migrates an existing audit database). Only `serve` does this: the other
    commands and library users keep these libraries as they are."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    sys.modules.setdefault("mako.ext.pygmentplugin", None)  # type: ignore[arg-type]
    # FastAPI imports pydantic.v1 (~25 ms) only to refuse its models, and takes an ImportError as "none here"
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]


def _serve_settings(settings: Settings, host: str, port: int, *, demo: bool, workers: int) -> Settings:
    """The settings `serve` runs with: the environment's, completed by its options."""
    update: dict[str, object] = {}
    if "public_url" not in settings.model_fields_set:  # unset: where this process listens (JWT audience, links)
        listen_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - comparing, not binding
        update["public_url"] = f"http://{listen_host}:{port}"
    if demo:
        update.update(demo=True, require_jwt=False)
        if settings.audit_token is None:  # so the demo's audit pages open: a token for this run, printed at start
            update["audit_token"] = SecretStr(secrets.token_urlsafe(16))
    if workers > 1 and settings.link_secret is None:  # every worker must sign report links with the same key
        update["link_secret"] = SecretStr(secrets.token_urlsafe(32))
    return settings.model_copy(update=update)


def _print_database(settings: Settings) -> None:
    """Say where the audit trail is kept (by default a SQLite file in the working folder)."""
    from sqlalchemy.engine import make_url

    path = sqlite_file(settings.database_url)
    if path is not None:
        typer.echo(f"Audit database: {path}", err=True)
    else:
        typer.echo(f"Audit database: {make_url(settings.database_url).render_as_string(hide_password=True)}", err=True)


def _existing_audit_store() -> AuditStore:
    """The audit store of the settings, refusing a SQLite file that does not exist (it would be created empty)."""
    from service.audit.store import AuditStore

    settings = Settings()
    path = sqlite_file(settings.database_url)
    if path is not None and not path.is_file():
        raise _fail(
            f"no audit database at {path}: set TRIAL_SCREEN_DATABASE_URL to the one `trial-screen serve` uses "
            "(it prints it at start)"
        )
    store = AuditStore(settings.database_url)
    store.migrate()
    return store


def _run_server(settings: Settings, screener: Screener, sites: Sites, *, host: str, port: int) -> None:
    import uvicorn

    from service.app import create_app

    uvicorn.run(create_app(settings, screener, sites), host=host, port=port, log_level="info", access_log=False)


def _run_workers(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Each worker process builds its own app from these settings (the config, factory included, is pickled into
    the worker); uvicorn.run itself only takes an import string for several workers."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from service.app import create_app

    config = uvicorn.Config(
        functools.partial(create_app, settings),
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def _print_demo_help(settings: Settings, patient: str, *, own_token: bool) -> None:
    base = settings.public_url
    token = settings.audit_token.get_secret_value() if settings.audit_token else ""
    sign_in = "your TRIAL_SCREEN_AUDIT_TOKEN" if own_token else f"the token {token} (made for this run)"
    typer.echo(
        "\n".join(
            [
                f"Demo page:   {base}/demo",
                f"Discovery:   curl -s {base}/cds-services",
                "Hook call:   curl -s -X POST -H 'Content-Type: application/json' "
                f'{base}/cds-services/trial-prescreen -d \'{{"hook":"patient-view","hookInstance":"d1",'
                f'"context":{{"userId":"Practitioner/demo","patientId":"{patient}"}}}}\'',
                f"Audit trail: {base}/audit (sign in with {sign_in})",
                "",
            ]
        ),
        err=True,
    )


@app.command(cls=_Command)
def screen(
    bundle: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, metavar="BUNDLE", help="A FHIR R4 Bundle with one Patient."),
    ],
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="text|json|summary",
            help="text: every criterion; json: the report contract; summary: one line per trial with the deciding "
            "criteria.",
        ),
    ] = "text",
    trial: TrialOption = None,
    as_of: AsOf = None,
) -> None:
    """Screen one patient bundle offline and print the report."""
    from service.fhir_access.bundle import record_from_bundle
    from service.fhir_access.errors import BundleError
    from service.screening.render import render_summary, render_text
    from service.screening.screen import load_screener

    if output_format not in ("text", "json", "summary"):
        raise _fail("--format must be text, json or summary")
    on = as_of
    try:
        screener = load_screener(Settings().trials_dir)
        if trial is not None and not screener.select(trial):
            raise _fail(f"unknown trial id {trial!r}; known: {', '.join(screener.versions())}")
        record = record_from_bundle(json.loads(bundle.read_text(encoding="utf-8")))
        report = screener.screen(record, on=on, trial_id=trial)
    except (CriteriaError, BundleError, ValueError) as exc:
        raise _fail(f"{bundle}: {exc}") from exc
    if output_format == "json":
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif output_format == "summary":
        typer.echo(render_summary(report))
    else:
        typer.echo(render_text(report))


def _default_rejects(*outputs: str | None) -> str:
    """Rejected lines carry PHI: by default they go beside the first output the user pointed to."""
    from service.population.storage import join, parent

    first = next(o for o in outputs if o is not None)
    return join(parent(first), "rejects.ndjson")


@app.command("screen-bulk", cls=_Command)
def screen_bulk(
    export: Annotated[
        PathOrUrl,
        typer.Argument(
            metavar="EXPORT", parser=PathOrUrl, help="Bulk FHIR export folder (*.ndjson): a path or an fsspec URL."
        ),
    ],
    candidates: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="Candidate list: one row per patient x trial x arm (CSV or Parquet)."),
    ] = None,
    reports: Annotated[
        str | None, typer.Option(metavar="DIR", help="Folder for the full NDJSON reports (one part file per bucket).")
    ] = None,
    feasibility: Annotated[
        str | None, typer.Option(metavar="FILE", help="Feasibility report: one offline HTML page.")
    ] = None,
    rejects: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="Rejected lines, with file and line (default: beside the first output)."),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            metavar="STATUS",
            help="Statuses kept in candidates and reports (repeatable; default eligible, possibly-eligible).",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", metavar="csv|parquet", help="Candidate list format: csv or parquet.")
    ] = "csv",
    workers: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Local worker processes (default: all cores).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            envvar="TRIAL_SCREEN_DASK_SCHEDULER",
            metavar="ADDRESS",
            help="Run on a Dask cluster: its scheduler address (tcp://host:8786), or 'local' for a LocalCluster.",
        ),
    ] = None,
    work: Annotated[
        str | None,
        typer.Option(
            metavar="DIR", help="Scratch space every worker can reach (path or URL; default: a local temp dir)."
        ),
    ] = None,
    trial: TrialOption = None,
    as_of: AsOf = None,
) -> None:
    """Screen every patient of a Bulk FHIR export: a candidate list, reports and a feasibility report."""
    import tempfile
    from contextlib import closing

    from rich.console import Console

    from service.population.candidates import DEFAULT_STATUSES
    from service.population.console import print_summary, progress_bars
    from service.population.execution import open_executor
    from service.population.plan import ExportError
    from service.population.run import Outputs, screen_population
    from service.population.storage import write_replacing
    from service.screening.screen import load_screener

    if candidates is None and reports is None and feasibility is None:
        raise _fail("nothing to write: give --candidates, --reports and/or --feasibility")
    if output_format not in ("csv", "parquet"):
        raise _fail(f"--format must be csv or parquet, not {output_format!r}")
    if scheduler and scheduler != "local" and work is None:
        raise _fail("--work is required with --scheduler: scratch space every worker can reach (shared folder or URL)")
    statuses = frozenset(status or DEFAULT_STATUSES)
    if not statuses <= {"eligible", "possibly-eligible", "ineligible"}:
        raise _fail(f"--status must be eligible, possibly-eligible or ineligible, not {sorted(statuses)}")
    trials_dir = Settings().trials_dir
    on = as_of
    try:
        screener = load_screener(trials_dir)  # fails fast on a bad trial file or unknown --trial
    except CriteriaError as exc:
        raise _fail(str(exc)) from exc
    if trial is not None and not screener.select(trial):
        raise _fail(f"unknown trial id {trial!r}; known: {', '.join(screener.versions())}")
    outputs = Outputs(
        rejects=rejects or _default_rejects(candidates, reports, feasibility),
        candidates=candidates,
        reports=reports,
        fmt=output_format,
        statuses=statuses,
    )
    console = Console(stderr=True)
    executor = open_executor(
        scheduler=scheduler,
        workers=workers,
        trials_dir=str(trials_dir) if trials_dir else None,
        versions=screener.versions(),
        screener=screener,
    )
    try:
        with (
            closing(executor),
            tempfile.TemporaryDirectory(prefix="trial-screen-bulk-") as scratch,
            progress_bars(console) as progress,
        ):
            summary = screen_population(
                export,
                outputs,
                executor,
                work=work or scratch,
                on=None if on is None else on.isoformat(),
                trial_id=trial,
                min_buckets=4 * (workers or os.cpu_count() or 1),
                progress=progress,
            )
    except ExportError as exc:
        raise _fail(str(exc)) from exc
    if summary.patients + summary.error_count == 0:
        raise _fail(f"{export}: no patients found ({summary.lines} line(s), {summary.rejected} rejected)")
    if feasibility is not None:
        from service.population.feasibility_page import render_feasibility  # plotly: only when asked for

        page = render_feasibility(
            summary.feasibility,
            title="Trial feasibility at this site",
            subtitle=f"{summary.patients} patients screened from {export} on {on or dt.date.today()}",
        )
        write_replacing(feasibility, page.encode())
    print_summary(console, summary, [t.id for t in screener.select(trial)], outputs.rejects)
    if summary.error_count:
        raise typer.Exit(2)


@app.command()
def check(
    path: Annotated[
        Path | None, typer.Argument(metavar="PATH", help="A trial file or folder (default: the bundled trials).")
    ] = None,
    coverage: Annotated[
        bool,
        typer.Option(
            help="List every seed criterion and whether it is computable, partial (computed in part; the rest is "
            "for the trial team) or manual."
        ),
    ] = False,
) -> None:
    """Parse and type-check trial definitions; print file:line:col: message per problem."""
    from mappings.catalog import load_catalog
    from service.screening.coverage import closed_list_warnings, render_coverage
    from service.screening.registry import bundled_trials_dir, load_trials, trial_files

    target = path or Settings().trials_dir or bundled_trials_dir()
    files = trial_files(target)
    if not files:
        raise _fail(f"{target}: no .trial files")
    try:
        trials = load_trials(files, load_catalog())
    except CriteriaError as exc:
        for diagnostic in exc.diagnostics:
            typer.echo(str(diagnostic))
        raise typer.Exit(1) from exc
    for warning in closed_list_warnings(trials, load_catalog()):
        typer.echo(warning)
    if coverage:
        typer.echo(render_coverage(trials))
    typer.echo(f"{len(trials)} trial(s) OK: {', '.join(t.id for t in trials)}")


@app.command("load-demo")
def load_demo(
    fhir_server: Annotated[
        str, typer.Option("--fhir-server", metavar="URL", help="FHIR R4 base URL, e.g. a HAPI sandbox.")
    ],
    bearer: Annotated[str | None, typer.Option(metavar="TOKEN", help="Bearer token for the server.")] = None,
) -> None:
    """Upload the demo patients under their own ids (a re-run updates them and refreshes their dates)."""
    from service.demo.upload import upload_demo

    sys.exit(upload_demo(fhir_server, bearer))


@audit_app.command("purge")
def audit_purge(
    older_than: Annotated[
        int, typer.Option("--older-than", metavar="DAYS", help="Delete cards older than this many days.")
    ],
) -> None:
    """Delete audited cards (and their feedback) older than N days."""
    store = _existing_audit_store()
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=older_than)
    typer.echo(f"deleted {store.purge(cutoff)} card(s) created before {cutoff.isoformat()}")
    store.close()


@audit_app.command("export")
def audit_export(
    trial: TrialOption = None,
    patient: Annotated[str | None, typer.Option(metavar="Patient/ID", help="Only this patient reference.")] = None,
) -> None:
    """Write the audit trail as CSV to standard output."""
    from service.audit.store import CardFilter

    store = _existing_audit_store()
    for line in store.export_csv(CardFilter(trial=trial, patient=patient)):
        sys.stdout.write(line)
    store.close()


def main() -> None:
    app()

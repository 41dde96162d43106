"""The `trial-screen` command line, in-process through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.audit.store import AuditStore
from service.cli import app
from service.settings import Settings, sqlite_file
from service.version import SERVICE_VERSION
from tests.paths import SYNTHEA as SYNTHEA_DIR

SYNTHEA = sorted(SYNTHEA_DIR.glob("[0-9][0-9]-*.json"))
TRIAL_IDS = {
    "allo-cd19-bcma-aid",
    "cd19-cart-active-sle",
    "uwd-cd19-aid",
    "cd19-bcma-ln-ssc-pah",
    "bcma-cd19-aid-anhui",
}
runner = CliRunner()


def test_check_accepts_the_bundled_trials_and_lists_coverage() -> None:
    result = runner.invoke(app, ["check", "--coverage"])
    assert result.exit_code == 0, result.output
    for trial_id in TRIAL_IDS:
        assert f"{trial_id} (" in result.output
    assert "5 trial(s) OK" in result.output
    assert " manual " in result.output
    assert result.output.startswith("computable: the record decides it; partial: ")  # every word explained


def test_check_warns_of_any_wording_decided_only_by_a_closed_list(tmp_path: Path) -> None:
    trial = tmp_path / "nets.trial"
    trial.write_text(
        'trial "nets"\n'
        'exclusion "liver" "Any chronic liver disease.":\n  exists [Condition: "gilbert-syndrome"]\n'
        'exclusion "cancer" "History of any malignancy.":\n  exists [Condition: "malignancy"]\n'
        'exclusion "vaccine" "Any vaccination within 4 weeks.":\n  exists [Immunization: "vaccine"] within 4 weeks\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["check", str(trial)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if ": warning: " in line]
    assert len(warnings) == 1, result.output
    assert warnings[0].startswith(f'{trial}:2: warning: exclusion "liver"')
    assert '"gilbert-syndrome"' in warnings[0]


def test_the_bundled_trials_have_no_closed_list_warning() -> None:
    result = runner.invoke(app, ["check"])
    assert ": warning: " not in result.output, result.output


def test_check_reports_every_problem_with_file_line_column(tmp_path: Path) -> None:
    broken = tmp_path / "broken.trial"
    broken.write_text(
        'trial "broken"\ninclusion "a" "A":\n  exists [Condition: "no-such-concept"]\n'
        'inclusion "b" "B":\n  Latest([Observation: "anc"]) >= 1 \'mg/dL\'\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["check", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:3:22: unknown Condition concept" in result.output
    assert f"{broken}:5:3: " in result.output


def test_check_rejects_a_trial_whose_id_is_not_its_file_name(tmp_path: Path) -> None:
    misnamed = tmp_path / "other.trial"
    misnamed.write_text('trial "x"\ninclusion "a" "A":\n  manual\n', encoding="utf-8")
    result = runner.invoke(app, ["check", str(misnamed)])
    assert result.exit_code == 1
    assert "must equal the file name" in result.output


@pytest.mark.parametrize("bundle", SYNTHEA, ids=[p.stem for p in SYNTHEA])
def test_every_synthea_bundle_screens_as_json(bundle: Path) -> None:
    result = runner.invoke(app, ["screen", str(bundle), "--format", "json", "--as-of", "2026-11-23"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["patient"].startswith("Patient/")
    assert {t["id"] for t in report["trials"]} == TRIAL_IDS
    for trial in report["trials"]:
        assert trial["status"] in ("eligible", "possibly-eligible", "ineligible")
        for criterion in trial["criteria"]:
            assert criterion["result"] in ("met", "not-met", "unknown", "manual")
            assert criterion["result"] != "unknown" or criterion["missing"], criterion


def test_screen_text_for_one_trial() -> None:
    result = runner.invoke(app, ["screen", str(SYNTHEA[2]), "--trial", "uwd-cd19-aid", "--as-of", "2026-11-23"])
    assert result.exit_code == 0, result.output
    assert "== uwd-cd19-aid:" in result.output
    assert "allo-cd19-bcma-aid" not in result.output


def test_screen_refuses_an_unknown_trial_and_a_bundle_without_patient(tmp_path: Path) -> None:
    assert runner.invoke(app, ["screen", str(SYNTHEA[2]), "--trial", "nope"]).exit_code == 1
    empty = tmp_path / "empty.json"
    empty.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}', encoding="utf-8")
    result = runner.invoke(app, ["screen", str(empty)])
    assert result.exit_code == 1
    assert "Patient" in result.output


def test_audit_export_and_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_SCREEN_DATABASE_URL", f"sqlite:///{tmp_path}/audit.sqlite3")
    AuditStore(f"sqlite:///{tmp_path}/audit.sqlite3").migrate()  # as `serve` leaves it
    exported = runner.invoke(app, ["audit", "export"])
    assert exported.exit_code == 0, exported.output
    assert exported.output.startswith("card_uuid,")
    purged = runner.invoke(app, ["audit", "purge", "--older-than", "30"])
    assert purged.exit_code == 0, purged.output
    assert "deleted 0 card(s)" in purged.output


def test_audit_commands_refuse_a_database_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "elsewhere" / "audit.sqlite3"
    monkeypatch.setenv("TRIAL_SCREEN_DATABASE_URL", f"sqlite:///{missing}")
    for command in (["audit", "export"], ["audit", "purge", "--older-than", "30"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        assert f"no audit database at {missing}" in result.output
    assert not missing.parent.exists()  # nothing created


def test_the_default_database_is_the_contract_s_file_in_the_working_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAL_SCREEN_DATABASE_URL", raising=False)
    assert sqlite_file(Settings().database_url) == Path("trial-screen.sqlite3")


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"trial-screen {SERVICE_VERSION}"


def test_a_bad_as_of_blames_the_option() -> None:
    result = runner.invoke(app, ["screen", str(SYNTHEA[0]), "--as-of", "2026-13-01"])
    assert result.exit_code == 2
    assert "Invalid value for '--as-of': '2026-13-01' is not a date" in result.output
    assert str(SYNTHEA[0]) not in result.output


def test_help_shows_no_python_types() -> None:
    for command in (["--help"], ["screen", "--help"], ["screen-bulk", "--help"], ["check", "--help"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0
        assert "<bool>" not in result.output
        assert "<str>" not in result.output
    assert "partial" in runner.invoke(app, ["check", "--help"]).output
    assert " screen [OPTIONS] BUNDLE\n" in runner.invoke(app, ["screen", "--help"]).output


def test_screen_summary_is_one_line_per_trial_with_the_deciding_criteria() -> None:
    bundle = SYNTHEA_DIR / "03-asa-hermiston.json"
    result = runner.invoke(app, ["screen", str(bundle), "--format", "summary", "--as-of", "2026-11-23"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(TRIAL_IDS)
    ineligible = [line for line in lines if "  ineligible  " in line]
    assert ineligible
    assert all("Not met: " in line or "Applies: " in line for line in ineligible)


def test_serve_refuses_a_trials_folder_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_SCREEN_TRIALS_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("TRIAL_SCREEN_PUBLIC_URL", "http://127.0.0.1:1")  # serve would set it in os.environ
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "cannot read the trials" in result.output


def test_serve_refuses_a_bad_site_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text("trials:\n  uwd-cd19-aid: {recruiting: true, url: not-a-url}\n", encoding="utf-8")
    monkeypatch.setenv("TRIAL_SCREEN_SITES_FILE", str(sites))
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert f"{sites}: invalid site configuration" in result.output
    assert "trials.uwd-cd19-aid.url" in result.output


def test_serve_demo_makes_an_audit_token_for_the_run_unless_one_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    from service.cli import _serve_settings

    made = _serve_settings(Settings(), "127.0.0.1", 8000, demo=True, workers=1)
    assert made.audit_token is not None
    assert len(made.audit_token.get_secret_value()) >= 16
    own = _serve_settings(Settings(audit_token=SecretStr("mine")), "127.0.0.1", 8000, demo=True, workers=1)
    assert own.audit_token == SecretStr("mine")
    assert _serve_settings(Settings(), "127.0.0.1", 8000, demo=False, workers=1).audit_token is None

"""The `trial-screen` command line, in-process through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
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
    exported = runner.invoke(app, ["audit", "export"])
    assert exported.exit_code == 0, exported.output
    assert exported.output.startswith("card_uuid,")
    purged = runner.invoke(app, ["audit", "purge", "--older-than", "30"])
    assert purged.exit_code == 0, purged.output
    assert "deleted 0 card(s)" in purged.output


def test_serve_refuses_a_trials_folder_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_SCREEN_TRIALS_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("TRIAL_SCREEN_PUBLIC_URL", "http://127.0.0.1:1")  # serve would set it in os.environ
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "cannot read the trials" in result.output

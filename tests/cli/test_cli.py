"""The CLI contract: JSON shape, JSON Lines, one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from vertebro.cli import main

CASE = textwrap.dedent(
    """\
    id: demo
    request_date: 2026-10-01
    requests:
      - procedure: vertebroplasty
        levels: T12-L1
      - procedure: sacroplasty
    facts:
      fracture.aetiology: osteoporotic
      fracture.type: compression
      fracture.symptomatic: true
      conservative_treatment.duration_weeks:
        value: 8
        source: GP letter 2026-09-20
        quote: Eight weeks of analgesia and physiotherapy without benefit.
      conservative_treatment.failed: true
    """
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_contract(tmp_path: Path) -> None:
    case = _write(tmp_path, "case.yaml", CASE)
    result = CliRunner().invoke(
        main, ["assess", str(case), "--policy", "carefirst", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input"] == str(case)
    assert set(report["policy"]) >= {"id", "version", "hash"}
    assert report["policy"]["id"] == "carefirst" and report["as_of"] == "2026-10-01"
    vp, sp = report["determinations"]
    assert (vp["procedure"], vp["outcome"]) == ("vertebroplasty", "meets-criteria")
    assert (sp["procedure"], sp["outcome"]) == ("sacroplasty", "investigational")
    criterion = next(c for c in vp["criteria"] if c["id"] == "cf-p1-six-weeks")
    assert set(criterion) >= {"id", "title", "status", "citation", "evidence"}
    assert criterion["status"] == "met"
    assert criterion["citation"]["words"].startswith("conservative treatment")
    assert criterion["evidence"][0]["source"] == "GP letter 2026-09-20"
    assert criterion["evidence"][0]["quote"].startswith("Eight weeks")
    assert vp["missing"] == []


def test_json_lines_for_several_inputs_and_as_of(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.yaml", CASE)
    b = _write(
        tmp_path, "b.json", json.dumps({"requests": [{"procedure": "kyphoplasty"}], "facts": {}})
    )
    result = CliRunner().invoke(
        main,
        ["assess", str(tmp_path), "--policy", "nice", "--format", "json", "--as-of", "2026-11-01"],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["input"] for line in lines] == [str(a), str(b)]
    assert all(line["as_of"] == "2026-11-01" for line in lines)
    assert lines[1]["determinations"][0]["outcome"] == "insufficient-information"
    assert lines[1]["determinations"][0]["missing"]


def test_bad_input_is_one_line_and_others_still_assessed(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.yaml", CASE)
    bad = _write(
        tmp_path, "bad.yaml", CASE.replace("fracture.type: compression", "fracture.type: squashed")
    )
    result = CliRunner().invoke(
        main, ["assess", str(bad), str(good), "--policy", "carefirst", "--format", "json"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"vertebro: {bad}:9: fact 'fracture.type': 'squashed' is not one of: compression, burst, other"
    ]
    assert json.loads(result.stdout)["input"] == str(good)


def test_unknown_key_and_unknown_fact_name_the_line(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.yaml", CASE.replace("facts:", "fatcs:"))
    result = CliRunner().invoke(main, ["assess", str(bad), "--policy", "carefirst"])
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{bad}:7: unknown key 'fatcs'" in result.stderr
    bad = _write(tmp_path, "bad2.yaml", CASE.replace("fracture.symptomatic", "fracture.symptoms"))
    result = CliRunner().invoke(main, ["assess", str(bad), "--policy", "carefirst"])
    assert f"{bad}:10: unknown fact 'fracture.symptoms'" in result.stderr


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.yaml", "requests: [unclosed\n")
    result = CliRunner().invoke(
        main, ["assess", str(bad), str(tmp_path / "nope.yaml"), "--policy", "nice"]
    )
    assert result.exit_code == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and errors[1].endswith("nope.yaml: no such file or folder")
    assert "Traceback" not in result.output


def test_unknown_policy_lists_known_ones(tmp_path: Path) -> None:
    case = _write(tmp_path, "case.yaml", CASE)
    result = CliRunner().invoke(main, ["assess", str(case), "--policy", "aetna"])
    assert result.exit_code == 2
    assert "unknown policy 'aetna'; known policies: carefirst, nice" in result.stderr


def test_policy_not_in_effect(tmp_path: Path) -> None:
    case = _write(tmp_path, "case.yaml", CASE)
    result = CliRunner().invoke(
        main, ["assess", str(case), "--policy", "carefirst", "--as-of", "2019-01-01"]
    )
    assert result.exit_code == 2
    assert "no version of 'carefirst' is in effect on 2019-01-01" in result.stderr


def test_bad_as_of(tmp_path: Path) -> None:
    case = _write(tmp_path, "case.yaml", CASE)
    result = CliRunner().invoke(
        main, ["assess", str(case), "--policy", "nice", "--as-of", "01/10/2026"]
    )
    assert result.exit_code == 2 and "--as-of: '01/10/2026' is not a date" in result.stderr


def test_text_report_shows_evidence_and_questions(tmp_path: Path) -> None:
    case = _write(
        tmp_path, "case.yaml", CASE.replace("  conservative_treatment.failed: true\n", "")
    )
    result = CliRunner().invoke(main, ["assess", str(case), "--policy", "carefirst"])
    assert result.exit_code == 0
    out = result.stdout
    assert "VERTEBROPLASTY at T12, L1: INSUFFICIENT INFORMATION" in out
    assert "GP letter 2026-09-20" in out and '"Eight weeks of analgesia' in out
    assert "Questions that would settle it:" in out
    assert "Has the pain failed to respond to conservative treatment" in out


def test_policy_file_path_can_be_used(tmp_path: Path) -> None:
    case = _write(tmp_path, "case.yaml", CASE)
    policy = Path(__file__).resolve().parents[2] / "src/vertebro/policies/nice/2026.01/policy.yaml"
    result = CliRunner().invoke(
        main, ["assess", str(case), "--policy", str(policy), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["policy"]["id"] == "nice"


def test_listing_commands() -> None:
    runner = CliRunner()
    assert "carefirst" in runner.invoke(main, ["policies"]).stdout
    facts = runner.invoke(main, ["facts"]).stdout
    assert "conservative_treatment.duration_weeks" in facts and "mdt.members" in facts


def test_python_dash_m_vertebro_is_the_same_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vertebro", "policies"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == CliRunner().invoke(main, ["policies"]).stdout
    bad = subprocess.run(
        [sys.executable, "-m", "vertebro", "assess", "nope.yaml", "--policy", "nice"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("vertebro: ")

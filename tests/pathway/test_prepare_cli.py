"""`vertebro prepare`: formats, warnings for the clinician, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from vertebro.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = str(REPO / "examples" / "prepare" / "warfarin-outpatient.yaml")
FIXED = ["--today", "2026-11-21"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["prepare", *args])
    return result.exit_code, result.stdout, result.stderr


def test_text_plan_for_the_example() -> None:
    code, out, err = run(EXAMPLE, "--procedure-date", "2026-12-07", "--time", "08:00", *FIXED)
    assert (code, err) == (0, "")
    assert "Readiness: TO CONFIRM" in out
    assert "Wednesday 2 December 2026" in out and "Stop warfarin at least 5 days before" in out
    assert "No food from 02:00 on Monday 7 December 2026 (6 hours before)" in out
    assert "1 in 500" in out and "0118 322 7991" in out


def test_json_is_one_document_and_flags_go_to_stderr(tmp_path: Path) -> None:
    case = tmp_path / "apixaban.yaml"
    case.write_text(
        textwrap.dedent(
            """\
            requests: [vertebroplasty]
            facts:
              medication.blood_thinners: [apixaban]
            """
        ),
        encoding="utf-8",
    )
    code, out, err = run(str(case), "--procedure-date", "2026-12-07", "--format", "json", *FIXED)
    assert code == 0
    data = json.loads(out)
    assert [f["code"] for f in data["plan"]["flags"]] == ["no-procedure-time", "drug-without-rule"]
    lines = err.splitlines()
    assert (
        "vertebro: warning: No cited rule says when to stop apixaban: a clinician decides, and tells the patient by Tuesday 1 December 2026."
        in lines
    )
    assert all(line.startswith("vertebro: warning: ") for line in lines)


def test_html_and_pdf_to_files(tmp_path: Path) -> None:
    html, pdf = tmp_path / "leaflet.html", tmp_path / "leaflet.pdf"
    base = [EXAMPLE, "--procedure-date", "2026-12-07", "--time", "08:00", *FIXED]
    assert run(*base, "--format", "html", "-o", str(html))[0] == 0
    assert run(*base, "--format", "pdf", "-o", str(pdf))[0] == 0
    assert "Getting ready for your vertebroplasty" in html.read_text(encoding="utf-8")
    assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size > 10_000


def test_another_pathway_file_changes_the_plan(tmp_path: Path) -> None:
    shipped = REPO / "src" / "vertebro" / "pathway" / "royal-berkshire-2026.yaml"
    local = tmp_path / "local.yaml"
    local.write_text(
        shipped.read_text(encoding="utf-8").replace("food_hours_before: 6", "food_hours_before: 8"),
        encoding="utf-8",
    )
    code, out, _ = run(
        EXAMPLE,
        "--procedure-date",
        "2026-12-07",
        "--time",
        "08:00",
        "--pathway",
        str(local),
        *FIXED,
    )
    assert code == 0
    assert "No food from 00:00 on Monday 7 December 2026 (8 hours before)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--procedure-date", "2026-11-20"],
         "vertebro: --procedure-date: the procedure date 2026-11-20 is in the past (today is 2026-11-21)"),
        (["--procedure-date", "7/12/2026"], "vertebro: --procedure-date: '7/12/2026' is not a date YYYY-MM-DD"),
        (["--procedure-date", "2026-12-07", "--time", "25:00"],
         "vertebro: --time: '25:00' is not a time HH:MM (24-hour clock)"),
        (["--procedure-date", "2026-12-07", "--time", "8am"],
         "vertebro: --time: '8am' is not a time HH:MM (24-hour clock)"),
        (["--procedure-date", "2026-12-07", "--time", " "],
         "vertebro: --time: no time given; use HH:MM (24-hour clock) or leave the option out"),
        (["--procedure-date", "2026-12-07", "--pathway", "elsewhere"],
         "vertebro: --pathway: unknown pathway 'elsewhere'; shipped pathways: royal-berkshire-2026"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_code_2(args: list[str], message: str) -> None:
    code, out, err = run(EXAMPLE, *args, *FIXED)
    assert (code, out, err) == (2, "", message + "\n")


def test_a_drug_the_catalogue_does_not_know_is_a_clear_error(tmp_path: Path) -> None:
    case = tmp_path / "odd.yaml"
    case.write_text(
        "requests: [vertebroplasty]\nfacts:\n  medication.blood_thinners: [wonderfarin]\n",
        encoding="utf-8",
    )
    code, out, err = run(str(case), "--procedure-date", "2026-12-07", *FIXED)
    assert (code, out) == (2, "")
    assert err.startswith(
        f"vertebro: {case}:3: fact 'medication.blood_thinners': 'wonderfarin' is not one of: warfarin,"
    )
    assert err.rstrip().endswith("other")
    assert len(err.splitlines()) == 1


def test_missing_file_and_missing_date() -> None:
    code, _, err = run("nowhere.yaml", "--procedure-date", "2026-12-07", *FIXED)
    assert code == 2 and err.startswith("vertebro: nowhere.yaml: ")
    code, _, err = run(EXAMPLE)
    assert code == 2 and "--procedure-date" in err


def test_a_plan_from_a_note_stops_the_blood_thinner_the_note_names(tmp_path: Path) -> None:
    note = tmp_path / "referral.txt"
    note.write_text(
        "Referral for vertebroplasty at L1.\n\n"
        "Medications: warfarin 3 mg daily for atrial fibrillation, paracetamol.\n",
        encoding="utf-8",
    )
    code, out, err = run(str(note), "--procedure-date", "2026-12-07", "--time", "08:00", *FIXED)
    assert code == 0, err
    assert "Stop warfarin at least 5 days before" in out
    assert "Blood thinners not recorded" not in out

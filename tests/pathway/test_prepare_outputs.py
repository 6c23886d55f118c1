"""The plan JSON, the clinician's text and the patient leaflet (HTML and PDF) for the example.

Golden files live in tests/pathway/golden; regenerate them after a deliberate change with
`VERTEBRO_UPDATE_GOLDEN=1 .venv/bin/pytest tests/pathway` and review the diff like code.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vertebro import prepare_service
from vertebro.prepare_service import PreparationReport

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE = "examples/prepare/warfarin-outpatient.yaml"
TODAY = dt.date(2026, 11, 21)
MONDAY = dt.date(2026, 12, 7)


@pytest.fixture(scope="module")
def report() -> PreparationReport:
    """The example patient's report, read with a path relative to the repository."""
    here = Path.cwd()
    os.chdir(REPO)
    try:
        return prepare_service.prepare(
            Path(EXAMPLE), procedure_date=MONDAY, procedure_time=dt.time(8, 0), today=TODAY
        )
    finally:
        os.chdir(here)


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("VERTEBRO_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with VERTEBRO_UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_plan_json_matches_golden(report: PreparationReport) -> None:
    _golden("plan.json", report.model_dump_json(indent=2) + "\n")


def test_plan_json_round_trips_and_has_the_key_dates(report: PreparationReport) -> None:
    data = json.loads(report.model_dump_json())
    assert PreparationReport.model_validate(data) == report
    plan = data["plan"]
    assert (plan["procedure_date"], plan["procedure_time"]) == ("2026-12-07", "08:00")
    stop = next(s for s in plan["steps"] if s["kind"] == "stop-drug")
    assert (stop["drug"], stop["date"], stop["last_dose"]) == (
        "warfarin",
        "2026-12-02",
        "2026-12-01",
    )
    food = next(s for s in plan["steps"] if s["kind"] == "no-food")
    assert (food["date"], food["time"]) == ("2026-12-07", "02:00")
    assert data["readiness"] == "to-confirm"
    assert {c["id"]: c["status"] for c in data["checks"]}["consent"] == "unknown"
    evidence = next(s for s in plan["steps"] if s["kind"] == "continue-drug")["evidence"][0]
    assert evidence["source"] == "GP summary 2026-10-28"
    assert evidence["quote"].startswith("Warfarin (atrial fibrillation)")


def test_text_matches_golden(report: PreparationReport) -> None:
    _golden("plan.txt", prepare_service.render_text(report))


def test_leaflet_html_matches_golden(report: PreparationReport) -> None:
    _golden("leaflet.html", prepare_service.render_html(report))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html.split("<body>", 1)[1])
    return " ".join(" ".join(parser.parts).split())


def test_leaflet_has_the_patients_dates_contacts_and_sourced_figures(
    report: PreparationReport,
) -> None:
    text = _visible_text(prepare_service.render_html(report))
    for expected in (
        "Monday 7 December 2026 at 08:00",
        "Last dose of warfarin: Tuesday 1 December 2026",
        "Stop eating: 02:00",
        "Stop drinking: 06:00",
        "Stop taking warfarin from today.",
        "Keep taking your aspirin as usual.",
        "0118 322 7991",
        "Radiology Department",
        "What to bring",
        "1 in 500",
        "up to 10%",
        "about 50%",
        "58% to 97%",
        "You should be able to go home the same day.",
    ):
        assert expected in text, expected
    assert "less than 5%" not in text  # kept for the clinician, out of the leaflet
    assert "Source 2, section 2.3.1" in text
    assert "Percutaneous vertebroplasty (HealthTech guidance 3; replaces IPG12)" in text


def test_leaflet_type_is_large(report: PreparationReport) -> None:
    html = prepare_service.render_html(report)
    size = re.search(r"html \{[^}]*font-size: (\d+)pt", html)
    assert size is not None and int(size.group(1)) >= 14


def test_leaflet_escapes_what_it_is_given(report: PreparationReport) -> None:
    tricky = report.model_copy(update={"case": "<script>alert(1)</script>"})
    html = prepare_service.render_html(tricky)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_pdf_is_produced_and_renders(report: PreparationReport, tmp_path: Path) -> None:
    pdf = prepare_service.render_pdf(report)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 10_000
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed: the PDF was made but not rendered to an image")
    path = tmp_path / "leaflet.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(path), str(tmp_path / "page")], check=True, timeout=120
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 2 <= len(pages) <= 6
    first = pages[0].read_bytes()
    assert first.startswith(b"\x89PNG") and len(first) > 2_000  # not a blank page


def _report_for(tmp_path: Path, facts: str, time: dt.time | None) -> PreparationReport:
    case = tmp_path / "case.yaml"
    case.write_text(f"requests: [vertebroplasty]\nfacts:\n{facts}", encoding="utf-8")
    return prepare_service.prepare(case, procedure_date=MONDAY, procedure_time=time, today=TODAY)


def test_leaflet_timetable_groups_by_day_with_the_last_dose_first(tmp_path: Path) -> None:
    report = _report_for(tmp_path, "  medication.blood_thinners: [warfarin]\n", dt.time(5, 0))
    days = prepare_service.leaflet_days(report.plan)
    summary = [(d.date, [(r.when, r.step.kind, r.variant) for r in d.rows]) for d in days]
    assert summary[:3] == [
        (dt.date(2026, 12, 1), [("", "stop-drug", "last-dose")]),
        (dt.date(2026, 12, 2), [("", "stop-drug", "")]),
        (dt.date(2026, 12, 6), [("23:00", "no-food", "")]),  # the evening before a 05:00 start
    ]
    procedure_day = summary[3]
    assert procedure_day[0] == MONDAY and days[3].procedure_day
    assert [when for when, _, _ in procedure_day[1]][:3] == ["03:00", "Before", "Before"]
    assert ("05:00", "procedure", "") in procedure_day[1]
    assert summary[-1] == (None, [("", "aftercare", "")])


def test_leaflet_without_a_time_gives_hours_and_no_clock(tmp_path: Path) -> None:
    report = _report_for(tmp_path, "  medication.blood_thinners: [apixaban]\n", None)
    text = _visible_text(prepare_service.render_html(report))
    assert "We will tell you the time." in text
    assert "Do not eat anything for 6 hours before your procedure time." in text
    assert "Your apixaban: your doctor will tell you when to stop taking it." in text
    assert "If nobody has called you about your medicines by Tuesday 1 December 2026" in text
    rows = [r for d in prepare_service.leaflet_days(report.plan) for r in d.rows]
    assert next(r for r in rows if r.step.kind == "procedure").when == ""


def test_page_footer_text_is_a_safe_css_string() -> None:
    assert prepare_service.css_string('X-ray & "Imaging" </style>') == (
        '"X-ray \\26  \\22 Imaging\\22  \\3c /style\\3e "'
    )

"""The audit report on 10,000 simulated procedures: figures recounted independently from the
records, rendered in HTML and PDF (checked as text and as page images), the JSON via the CLI,
the device incident export, and the published figures quoted verbatim from their sources."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from vertebro import registry_service
from vertebro.adapters.registry_store import SqliteRegistryRepository
from vertebro.cli import main
from vertebro.core.registry import stats
from vertebro.core.registry.audit import AuditReport
from vertebro.core.registry.benchmarks import BENCHMARKS, SOURCES
from vertebro.core.registry.incident import Reporter
from vertebro.core.registry.model import ComplicationKind, Registry, Timepoint
from vertebro.core.registry.rows import FollowUpIn, ProcedureIn
from vertebro.core.registry.validation import check_complication, check_follow_up

pytestmark = pytest.mark.slow

# One simulated registry of 10,000 procedures, stored, audited and rendered once per session
# (the charts and the PDF are the slow part).
AS_OF = dt.date(2026, 11, 21)
START, END = dt.date(2023, 1, 1), dt.date(2025, 12, 31)


@dataclass(frozen=True)
class Rendered:
    registry: Registry
    repo: SqliteRegistryRepository
    report: AuditReport
    charts: registry_service.Charts
    html: str
    pdf: bytes
    folder: Path


@pytest.fixture(scope="session")
def simulated() -> Registry:
    return registry_service.simulate_registry(10_000, seed=1, start=START, end=END, as_of=AS_OF)


@pytest.fixture(scope="session")
def rendered(simulated: Registry, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    folder = tmp_path_factory.mktemp("audit")
    repo = SqliteRegistryRepository(folder / "registry.sqlite3")
    repo.add(simulated)
    report = registry_service.audit(repo, generated_on=AS_OF)
    charts = registry_service.render_charts(report)
    html = registry_service.render_html(report, charts)
    pdf = registry_service.render_pdf(report, charts)
    return Rendered(simulated, repo, report, charts, html, pdf, folder)


def _rate(rendered: Rendered, metric: str) -> stats.Proportion:
    rate = next(r for r in rendered.report.rates if r.metric == metric).proportion
    return stats.Proportion(rate.events, rate.n, rate.rate, rate.low, rate.high)


def test_the_simulated_registry_is_plausible_and_valid(simulated: Registry) -> None:
    assert len(simulated.procedures) == 10_000
    by_id = {p.id: p for p in simulated.procedures}
    for c in simulated.complications:
        assert check_complication(c, by_id[c.procedure_id], today=AS_OF) == [], c
    for f in simulated.follow_ups:
        assert check_follow_up(f, by_id[f.procedure_id], today=AS_OF) == [], f
    assert len({p.operator for p in simulated.procedures}) == 8
    assert len({p.pathway for p in simulated.procedures}) == 6  # five pathways and none


def test_simulation_is_deterministic_for_a_seed() -> None:
    args = {"start": dt.date(2024, 1, 1), "end": dt.date(2024, 3, 31), "as_of": AS_OF}
    first = registry_service.simulate_registry(100, seed=7, **args)
    assert first == registry_service.simulate_registry(100, seed=7, **args)
    assert first != registry_service.simulate_registry(100, seed=8, **args)


def test_rates_match_an_independent_count(rendered: Rendered) -> None:
    registry = rendered.registry
    pain: dict[tuple[str, Timepoint], int] = {}
    for f in registry.follow_ups:
        if f.pain is not None:
            pain[(f.procedure_id, f.timepoint)] = f.pain
    relief = n = 0
    for p in registry.procedures:
        before, after = pain.get((p.id, Timepoint.BASELINE)), pain.get((p.id, Timepoint.MONTHS_3))
        if before is not None and after is not None:
            n += 1
            relief += after < before
    assert (_rate(rendered, "pain-relief").events, _rate(rendered, "pain-relief").n) == (relief, n)
    assert _rate(rendered, "pain-relief") == stats.wilson(relief, n)

    leaked = {c.procedure_id for c in registry.complications
              if c.kind is ComplicationKind.CEMENT_LEAK}
    assert _rate(rendered, "cement-leak") == stats.wilson(len(leaked), 10_000)
    lungs = {c.procedure_id for c in registry.complications
             if c.kind is ComplicationKind.PULMONARY_CEMENT_EMBOLISM}
    assert _rate(rendered, "pulmonary-cement-embolism") == stats.wilson(len(lungs), 10_000)
    dead = {c.procedure_id for c in registry.complications if c.kind is ComplicationKind.DEATH}
    assert _rate(rendered, "death-30-days").events == len(dead)


def test_rates_sit_where_the_simulation_put_them(rendered: Rendered) -> None:
    positions = {
        (r.metric, c.benchmark.id): c.position.value if c.position else None
        for r in rendered.report.rates for c in r.comparisons
    }
    assert positions[("pain-relief", "nice-pain-relief")] == "within"
    assert positions[("pain-relief", "rbft-lower-pain")] == "above"
    assert positions[("analgesic-reduction", "nice-less-medication")] == "within"
    assert positions[("cement-leak", "nice-cement-leakage")] == "within"
    assert positions[("new-fracture-adjacent", "rbft-new-fracture")] == "within"
    leak = _rate(rendered, "cement-leak")
    assert leak.rate is not None and 0.12 < leak.rate < 0.20


def test_the_outlier_operator_is_flagged(rendered: Rendered) -> None:
    flags = {
        (f.metric, o.operator): o.flag.value if o.flag else None
        for f in rendered.report.funnels for o in f.operators
    }
    assert flags[("cement-leak", "OP-G")] == "above-99.8"
    assert flags[("pain-relief", "OP-G")] == "below-99.8"
    others = [v for (m, op), v in flags.items() if m == "major-complication"]
    assert "above-99.8" not in others
    # The funnel's unit rate is the rate in the rates table, and each operator's count adds up.
    leak = next(f for f in rendered.report.funnels if f.metric == "cement-leak")
    assert sum(o.proportion.events for o in leak.operators) == leak.unit.events
    counts = Counter(p.operator for p in rendered.registry.procedures)
    assert {o.operator: o.proportion.n for o in leak.operators} == counts


def test_pathways_and_trends_add_up(rendered: Rendered) -> None:
    report = rendered.report
    assert sum(p.procedures for p in report.pathways) == 10_000
    assert sum(t.procedures for t in report.trends) == 10_000
    assert [t.period for t in report.trends][:2] == ["2023-Q1", "2023-Q2"]
    assert len(report.trends) == 12
    by_pathway: dict[str | None, int] = defaultdict(int)
    for p in rendered.registry.procedures:
        by_pathway[p.pathway] += 1
    assert {p.pathway: p.procedures for p in report.pathways} == by_pathway
    baseline = next(pt for pt in report.trajectories[0].points if pt.timepoint is Timepoint.BASELINE)
    three = next(pt for pt in report.trajectories[0].points if pt.timepoint is Timepoint.MONTHS_3)
    assert baseline.pain.mean is not None and three.pain.mean is not None
    assert three.pain.mean < baseline.pain.mean - 2  # the simulated benefit shows


def _pct(value: float | None) -> str:
    return registry_service._pct(value)


def test_the_html_shows_the_figures(rendered: Rendered) -> None:
    html = rendered.html
    for rate in rendered.report.rates:
        p = rate.proportion
        assert f"{p.events:,} / {p.n:,}" in html, rate.metric
        assert _pct(p.rate) in html and f"{_pct(p.low)}–{_pct(p.high)}" in html
    for benchmark in BENCHMARKS:
        assert benchmark.figure in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 5
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    assert "OP-G is above the 99.8% limit for cement leakage (worse than the unit)" in html


def test_the_pdf_renders_with_the_same_figures(rendered: Rendered, tmp_path: Path) -> None:
    assert rendered.pdf.startswith(b"%PDF")
    path = tmp_path / "audit.pdf"
    path.write_bytes(rendered.pdf)
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    pain = _rate(rendered, "pain-relief")
    assert "Vertebral augmentation audit" in text
    assert f"{pain.events:,} / {pain.n:,}" in text
    assert f"{_pct(pain.low)}–{_pct(pain.high)}" in text
    assert "Operators: funnel plots" in text and "Outcomes by the pathway" in text


def test_the_pdf_pages_render_as_images(rendered: Rendered, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    path = tmp_path / "audit.pdf"
    path.write_bytes(rendered.pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")],
                   check=True, capture_output=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 4 <= len(pages) <= 12
    assert all(page.stat().st_size > 5_000 for page in pages)


def test_the_json_report_through_the_cli(rendered: Rendered) -> None:
    db = rendered.folder / "registry.sqlite3"
    result = CliRunner().invoke(
        main, ["audit", "report", "--db", str(db), "--format", "json",
               "--from", "2024-01-01", "--to", "2024-12-31"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    in_2024 = [p for p in rendered.registry.procedures if p.date.year == 2024]
    assert data["procedures"] == len(in_2024)
    assert data["period_from"] == "2024-01-01" and data["period_to"] == "2024-12-31"
    leak = next(r for r in data["rates"] if r["metric"] == "cement-leak")
    ids = {p.id for p in in_2024}
    leaked = {c.procedure_id for c in rendered.registry.complications
              if c.kind is ComplicationKind.CEMENT_LEAK and c.procedure_id in ids}
    assert leak["proportion"]["events"] == len(leaked)


def test_the_cli_report_refuses_a_missing_registry(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["audit", "report", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no registry here" in result.stderr


def test_incident_export(rendered: Rendered, tmp_path: Path) -> None:
    leak = next(c for c in rendered.registry.complications
                if c.kind is ComplicationKind.CEMENT_LEAK and c.symptomatic)
    procedure = next(p for p in rendered.registry.procedures if p.id == leak.procedure_id)
    report = registry_service.incident(
        rendered.repo, leak.id, reporter=Reporter(name="Dr A", organisation="Trust"),
        report_date=AS_OF,
    )
    assert report.submitted is False and report.ready_to_file is False
    assert report.missing == ["reporter.email or reporter.phone"]
    assert report.device.lot == procedure.cement.lot and report.device.brand
    assert report.patient.age == procedure.age and report.event.date == leak.date
    assert report.event.seriousness == "serious-deterioration" or not leak.further_intervention
    pdf = registry_service.render_incident_pdf(report)
    assert pdf.startswith(b"%PDF")
    db = rendered.folder / "registry.sqlite3"
    out = tmp_path / "incident.json"
    result = CliRunner().invoke(main, [
        "registry", "incident", leak.id, "--db", str(db), "--out", str(out), "--reporter", "Dr A",
        "--organisation", "Trust", "--email", "a@example.org"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["ready_to_file"] is True and data["submitted"] is False
    assert data["device"]["type"].startswith("Bone cement")
    death = next(c for c in rendered.registry.complications if c.kind is ComplicationKind.DEATH)
    refused = CliRunner().invoke(main, ["registry", "incident", death.id, "--db", str(db)])
    assert refused.exit_code == 2 and "not recorded as device-related" in refused.stderr


def test_simulated_rows_pass_the_row_models(simulated: Registry) -> None:
    from vertebro.adapters.registry_import import read_csv, registry_csv

    sample = Registry(simulated.procedures[:200], (), simulated.follow_ups[:400])
    files = registry_csv(sample)
    for row in read_csv(files["procedures.csv"], "p.csv").rows:
        ProcedureIn.model_validate(row.data)
    for row in read_csv(files["follow-ups.csv"], "f.csv").rows:
        FollowUpIn.model_validate(row.data)


def _normalise(text: str) -> str:
    return " ".join(text.replace("*", "").replace("’", "'").split())


def test_every_published_figure_is_quoted_verbatim(shared: Path) -> None:
    for benchmark in BENCHMARKS:
        source = SOURCES[benchmark.source]
        text = _normalise((shared / source.text_file).read_text(encoding="utf-8"))
        assert _normalise(benchmark.words) in text, benchmark.id
        # The figure's numbers appear in the quoted words (or, for 1 in 500, in the sentence).
        for number in re.findall(r"\d+", benchmark.figure):
            assert number in benchmark.words, (benchmark.id, number)


def test_an_empty_period_still_renders_a_report_that_says_so(tmp_path: Path) -> None:
    repo = registry_service.open_repository(tmp_path / "empty.db")
    report = registry_service.audit(repo, generated_on=dt.date(2026, 11, 1))
    assert registry_service.render_pdf(report).startswith(b"%PDF-")
    assert "<html" in registry_service.render_html(report).lower()

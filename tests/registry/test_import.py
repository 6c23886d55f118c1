"""Imports: every bad row reported with file:line and field; all or nothing unless --skip-bad;
CSV and FHIR both round-trip; the store keeps what it was given."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from vertebro import registry_service
from vertebro.adapters.errors import InputError
from vertebro.adapters.registry_store import SqliteRegistryRepository
from vertebro.cli import main
from vertebro.core.registry.model import Registry
from vertebro.core.registry.ports import DuplicateRecordError

TODAY = dt.date(2026, 11, 21)
PROCEDURES = textwrap.dedent(
    """\
    id,date,operator,procedure,levels,approach,image_guidance,cement_ml,biopsy,age,sex
    P1,2026-03-02,OP-A,vertebroplasty,T12-L1,bilateral,fluoroscopy,T12=3.5; L1=4,no,81,female
    P2,2026-03-09,OP-B,kyphoplasty,L2,bilateral,fluoroscopy,L2=5,yes,70,male
    P3,2026-03-16,OP-A,sacroplasty,sacrum,bilateral,ct,sacrum=6,no,84,female
    """
)
BAD_PROCEDURES = PROCEDURES + textwrap.dedent(
    """\
    P4,2026-03-16,OP-A,vertebroplasty,L9,bilateral,ct,L9=3,no,84,female
    P5,2026-03-16,OP-A,vertebroplasty,L3,bilateral,ct,L3=-1,no,84,female
    P6,2026-03-16,OP-A,vertebroplasty,L3,bilateral,ct,L3=2,no,184,female
    """
)
FOLLOW_UPS = textwrap.dedent(
    """\
    procedure_id,timepoint,date,pain,analgesics,mobility,roland_morris
    P1,baseline,2026-03-01,8,strong-opioid,unable,20
    P1,2-weeks,2026-03-16,4,weak-opioid,with-aids,14
    P2,baseline,2026-03-09,7,weak-opioid,with-aids,
    """
)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> SqliteRegistryRepository:
    return SqliteRegistryRepository(tmp_path / "registry.sqlite3")


def test_a_good_csv_loads_everything(tmp_path: Path, repo: SqliteRegistryRepository) -> None:
    result = registry_service.import_file(
        _write(tmp_path, "p.csv", PROCEDURES), repo, today=TODAY
    )
    assert result.ok and result.loaded["procedures"] == 3
    follow = registry_service.import_file(
        _write(tmp_path, "f.csv", FOLLOW_UPS), repo, today=TODAY
    )
    assert follow.ok and follow.loaded["follow_ups"] == 3
    assert repo.counts() == {"procedures": 3, "complications": 0, "follow_ups": 3}
    stored = repo.procedures(["P1"])["P1"]
    assert [str(lv) for lv in stored.levels] == ["T12", "L1"] and stored.age == 81


def test_a_file_with_bad_rows_loads_nothing_and_reports_each(
    tmp_path: Path, repo: SqliteRegistryRepository
) -> None:
    path = _write(tmp_path, "p.csv", BAD_PROCEDURES)
    result = registry_service.import_file(path, repo, today=TODAY)
    assert result.bad_rows == 3 and result.loaded["procedures"] == 0
    assert repo.counts()["procedures"] == 0
    assert result.problems == [
        f"{path}:5: levels: not a spinal level: L9",
        f"{path}:5: cement_ml: not a spinal level: L9",
        f"{path}:6: cement_ml: L3: -1 mL; a volume must be greater than 0",
        f"{path}:7: age: '184' is above the maximum of 120",
    ]


def test_skip_bad_loads_the_good_rows(tmp_path: Path, repo: SqliteRegistryRepository) -> None:
    path = _write(tmp_path, "p.csv", BAD_PROCEDURES)
    result = registry_service.import_file(path, repo, today=TODAY, skip_bad=True)
    assert result.bad_rows == 3 and result.loaded["procedures"] == 3
    assert sorted(repo.procedures(["P1", "P2", "P3", "P4"])) == ["P1", "P2", "P3"]


def test_rows_are_checked_against_each_other_and_the_store(
    tmp_path: Path, repo: SqliteRegistryRepository
) -> None:
    registry_service.import_file(_write(tmp_path, "p.csv", PROCEDURES), repo, today=TODAY)
    text = FOLLOW_UPS + textwrap.dedent(
        """\
        P1,baseline,2026-02-28,8,,,
        P2,3-months,2026-01-01,3,,,
        P9,2-weeks,2026-03-20,3,,,
        P2,12-months,2026-06-01,3,,,
        P3,2-weeks,2026-03-30,14,,,
        """
    )
    path = _write(tmp_path, "f.csv", text)
    result = registry_service.import_file(path, repo, today=TODAY)
    assert result.bad_rows == 5 and repo.counts()["follow_ups"] == 0
    assert result.problems == [
        f"{path}:5: timepoint: baseline of 'P1' is also on line 2",
        f"{path}:6: date: 2026-01-01 is not after the procedure on 2026-03-09 (a 3-months "
        "follow-up)",
        f"{path}:7: procedure_id: no procedure 'P9' in this file or the registry",
        f"{path}:8: date: 2026-06-01 is 84 days from the procedure; a 12-months measure is "
        "taken 180 to 550 days after it",
        f"{path}:9: pain: '14' is above the maximum of 10",
    ]
    # A second import of the same procedures is refused row by row.
    again = registry_service.import_file(tmp_path / "p.csv", repo, today=TODAY)
    assert again.bad_rows == 3 and "is already in the registry" in again.problems[0]


def test_children_of_a_bad_procedure_in_the_same_file_say_so(
    tmp_path: Path, repo: SqliteRegistryRepository
) -> None:
    bundle = {
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Procedure", "id": "P1", "status": "completed",
                          "code": {"text": "vertebroplasty"}, "performedDateTime": "2026-03-02",
                          "performer": [{"actor": {"display": "OP-A"}}],
                          "bodySite": [{"text": "L9"}]}},
            {"resource": {"resourceType": "AdverseEvent", "id": "C1", "actuality": "actual",
                          "event": {"text": "infection"}, "date": "2026-03-10",
                          "suspectEntity": [{"instance": {"reference": "Procedure/P1"}}]}},
        ],
    }
    path = _write(tmp_path, "b.json", json.dumps(bundle, indent=1))
    result = registry_service.import_file(path, repo, today=TODAY)
    assert result.bad_rows == 2
    assert any("Procedure/P1: levels: not a spinal level: L9" in p for p in result.problems)
    assert any("AdverseEvent/C1: procedure_id: 'P1' is a bad row (line 6)" in p
               for p in result.problems)
    assert all(p.startswith(f"{path}:") for p in result.problems)


FHIR_BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {"resource": {"resourceType": "Patient", "id": "pt1", "gender": "female",
                      "birthDate": "1944-05-20"}},
        {"resource": {"resourceType": "Device", "id": "cem1", "lotNumber": "LOT-7",
                      "manufacturer": "Maker Ltd", "deviceName": [{"name": "Cement X"}],
                      "expirationDate": "2027-01-01"}},
        {"resource": {
            "resourceType": "Procedure", "id": "P1", "status": "completed",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22511"}]},
            "performedDateTime": "2026-03-02T10:15:00Z",
            "performer": [{"actor": {"display": "OP-A"}}],
            "subject": {"reference": "Patient/pt1"},
            "bodySite": [{"text": "L1"}],
            "focalDevice": [{"manipulated": {"reference": "Device/cem1"}}],
            "extension": [
                {"url": "urn:vertebro:registry:approach", "valueCode": "unilateral"},
                {"url": "urn:vertebro:registry:image-guidance", "valueCode": "fluoroscopy"},
                {"url": "urn:vertebro:registry:pathway", "valueString": "nice-osteoporotic"},
                {"url": "urn:vertebro:registry:policy", "valueString": "nice"},
                {"url": "urn:vertebro:registry:cement-volume", "extension": [
                    {"url": "level", "valueString": "L1"},
                    {"url": "volume", "valueQuantity": {"value": 4.5, "unit": "mL"}}]},
            ]}},
        {"resource": {"resourceType": "Procedure", "id": "P0", "status": "not-done"}},
        {"resource": {
            "resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "valueInteger": 8, "effectiveDateTime": "2026-03-01",
            "partOf": [{"reference": "Procedure/P1"}],
            "extension": [{"url": "urn:vertebro:registry:timepoint", "valueCode": "baseline"}]}},
        {"resource": {
            "resourceType": "Observation", "id": "o2", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "valueQuantity": {"value": 3}, "effectiveDateTime": "2026-06-01",
            "partOf": [{"reference": "Procedure/P1"}],
            "extension": [{"url": "urn:vertebro:registry:timepoint", "valueCode": "3-months"}]}},
        {"resource": {
            "resourceType": "AdverseEvent", "id": "C1", "actuality": "actual",
            "event": {"coding": [{"system": "urn:vertebro:registry:complication",
                                  "code": "cement-leak"}]},
            "date": "2026-03-02",
            "outcome": {"coding": [{"code": "resolved"}]},
            "suspectEntity": [{"instance": {"reference": "Procedure/P1"}},
                              {"instance": {"reference": "Device/cem1"}}],
            "extension": [
                {"url": "urn:vertebro:registry:symptomatic", "valueBoolean": False},
                {"url": "urn:vertebro:registry:leak-site", "valueCode": "veins"}]}},
    ],
}


def test_fhir_procedure_observation_and_adverse_event(
    tmp_path: Path, repo: SqliteRegistryRepository
) -> None:
    path = _write(tmp_path, "bundle.json", json.dumps(FHIR_BUNDLE, indent=2))
    result = registry_service.import_file(path, repo, today=TODAY)
    assert result.problems == []
    assert result.loaded == {"procedures": 1, "complications": 1, "follow_ups": 2}
    assert any("Procedure/P0 skipped: status not-done" in note for note in result.notes)
    p = repo.procedures(["P1"])["P1"]
    assert (p.procedure.value, p.operator, p.date, p.age, p.sex and p.sex.value) == (
        "vertebroplasty", "OP-A", dt.date(2026, 3, 2), 81, "female")
    assert (p.cement.product, p.cement.lot, p.cement.manufacturer) == (
        "Cement X", "LOT-7", "Maker Ltd")
    assert [(str(lv), ml) for lv, ml in p.cement_ml] == [("L1", 4.5)]
    assert (p.policy, p.pathway) == ("nice", "nice-osteoporotic")
    c = repo.complication("C1")
    assert c is not None and c.device_related is True and c.outcome.value == "recovered"
    registry = repo.load()
    assert sorted((f.timepoint.value, f.pain) for f in registry.follow_ups) == [
        ("3-months", 3), ("baseline", 8)]


def test_fhir_bad_values_name_line_resource_and_field(
    tmp_path: Path, repo: SqliteRegistryRepository
) -> None:
    bundle = json.loads(json.dumps(FHIR_BUNDLE))
    bundle["entry"][4]["resource"]["valueInteger"] = 14  # pain 14/10
    bundle["entry"][6]["resource"]["date"] = "2026-02-01"  # before the procedure
    path = _write(tmp_path, "bundle.json", json.dumps(bundle, indent=2))
    result = registry_service.import_file(path, repo, today=TODAY)
    assert result.loaded["procedures"] == 0 and result.bad_rows == 2
    text = path.read_text(encoding="utf-8").splitlines()
    for problem, resource in (("pain: 14 is above the maximum of 10", '"id": "o1"'),
                              ("date: 2026-02-01 is before the procedure", '"id": "C1"')):
        line = next(p for p in result.problems if problem in p)
        number = int(line.split(":")[1])
        # The reported line is where the resource starts: its id is a few lines below.
        assert any(resource in text[i] for i in range(number - 1, number + 3)), line


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a,b,c\n1,2,3\n", "cannot tell the kind of file"),
        ("id,date,operator,colour\n", "unknown column 'colour'"),
        ("id,date,operator\n", "lacks the column 'procedure'"),
        ("", "empty file"),
        ('{"resourceType": "Bundle", "entry": []}', "the Bundle has no entries"),
        ('{"entry": [}', "not valid JSON"),
    ],
)
def test_unreadable_files_are_one_line_errors(
    tmp_path: Path, repo: SqliteRegistryRepository, text: str, words: str
) -> None:
    suffix = ".json" if text.startswith("{") else ".csv"
    with pytest.raises(InputError, match=words):
        registry_service.import_file(_write(tmp_path, "x" + suffix, text), repo, today=TODAY)


def test_csv_and_fhir_round_trip_a_simulated_registry(tmp_path: Path) -> None:
    registry = registry_service.simulate_registry(
        300, seed=5, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31), as_of=TODAY
    )
    for fmt in ("csv", "fhir"):
        repo = SqliteRegistryRepository(tmp_path / f"{fmt}.sqlite3")
        for path in registry_service.write_registry(registry, tmp_path / fmt, fmt):
            result = registry_service.import_file(path, repo, today=TODAY)
            assert result.problems == [], result.problems[:3]
        loaded = repo.load()
        assert _sorted(loaded) == _sorted(registry), fmt


def _sorted(registry: Registry) -> Registry:
    return Registry(
        tuple(sorted(registry.procedures, key=lambda p: p.id)),
        tuple(sorted(registry.complications, key=lambda c: c.id)),
        tuple(sorted(registry.follow_ups, key=lambda f: (f.procedure_id, f.timepoint.value))),
    )


def test_the_store_is_all_or_nothing_and_filters_by_date(tmp_path: Path) -> None:
    registry = registry_service.simulate_registry(
        50, seed=2, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31), as_of=TODAY
    )
    repo = SqliteRegistryRepository(tmp_path / "r.sqlite3")
    repo.add(registry)
    with pytest.raises(DuplicateRecordError):
        repo.add(Registry(procedures=registry.procedures[:1]))
    assert repo.counts()["procedures"] == 50
    june = repo.load(dt.date(2024, 6, 1), dt.date(2024, 6, 30))
    assert june.procedures and all(p.date.month == 6 for p in june.procedures)
    ids = {p.id for p in june.procedures}
    assert {f.procedure_id for f in june.follow_ups} <= ids
    assert {c.procedure_id for c in june.complications} <= ids


def test_cli_import_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "cli.sqlite3")
    bad = _write(tmp_path, "bad.csv", BAD_PROCEDURES)
    result = runner.invoke(main, ["registry", "import", str(bad), "--db", db])
    assert result.exit_code == 2
    assert f"{bad}:5: levels: not a spinal level: L9" in result.stderr
    assert "3 bad rows; nothing loaded" in result.stdout
    result = runner.invoke(main, ["registry", "import", str(bad), "--db", db, "--skip-bad"])
    assert result.exit_code == 0
    assert "loaded 3 procedures, 0 complications, 0 follow-ups; skipped 3 bad rows" in result.stdout
    good = _write(tmp_path, "f.csv", FOLLOW_UPS)
    result = runner.invoke(main, ["registry", "import", str(good), "--db", db])
    assert result.exit_code == 0 and "loaded 0 procedures, 0 complications, 3 follow-ups" in result.stdout
    missing = runner.invoke(main, ["registry", "import", str(tmp_path / "nope.csv"), "--db", db])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


def test_cli_imports_procedures_first_whatever_order_the_files_are_named_in(tmp_path: Path) -> None:
    # `registry import *.csv` lists follow_ups.csv before procedures.csv; read in that order,
    # every follow-up would name a procedure not yet stored and be refused.
    follow_ups = _write(tmp_path, "follow_ups.csv", FOLLOW_UPS)
    procedures = _write(tmp_path, "procedures.csv", PROCEDURES)
    db = str(tmp_path / "cli.sqlite3")
    result = CliRunner().invoke(
        main, ["registry", "import", str(follow_ups), str(tmp_path / "nope.csv"), str(procedures), "--db", db]
    )
    assert result.exit_code == 2  # the missing file, reported; the two others loaded
    assert "nope.csv: cannot read" in result.stderr
    assert result.stdout.splitlines() == [
        f"{procedures}: loaded 3 procedures, 0 complications, 0 follow-ups",
        f"{follow_ups}: loaded 0 procedures, 0 complications, 3 follow-ups",
    ]
    assert SqliteRegistryRepository(Path(db)).counts()["follow_ups"] == 3


def test_files_holding_procedures_are_read_first_and_the_rest_keep_their_order(tmp_path: Path) -> None:
    follow_ups = _write(tmp_path, "a.csv", FOLLOW_UPS)
    broken = _write(tmp_path, "b.csv", "not,a,registry\n1,2,3\n")
    procedures = _write(tmp_path, "c.csv", PROCEDURES)
    later = _write(tmp_path, "d.csv", FOLLOW_UPS)
    read = registry_service.readings_in_order([follow_ups, broken, procedures, later])
    sources = [None if isinstance(r, InputError) else r.source for r in read]
    assert sources == [str(procedures), str(follow_ups), None, str(later)]
    assert isinstance(read[2], InputError) and str(broken) in str(read[2])

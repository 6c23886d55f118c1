"""The set-based reader (DuckDB) against the per-case FHIR reader, on generated exports.

The per-case reader reads each patient's resources as one bundle; the batch reads the same
resources as NDJSON files (or bundles) in SQL. Their facts tables must be identical.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vertebro.adapters.fhir import read_fhir
from vertebro.batch.agreement import reader_cases
from vertebro.batch.bulk import BadInputError, discover, read_bulk
from vertebro.batch.engines import DuckDbEngine
from vertebro.batch.extract import PARSED_SCHEMAS, STRICT_SCHEMAS, RunDates
from vertebro.batch.facts_table import CaseFacts, facts_table
from vertebro.batch.synthetic import AS_OF, Resource, bundle, coded_case, write_ndjson

TODAY = AS_OF
CASES = 400


def _facts(folder: Path, tmp: Path, **options: object) -> pa.Table:
    engine = DuckDbEngine(tmp / "duck")
    try:
        read_bulk(
            engine,
            discover(folder),
            dates=RunDates(None, TODAY),
            skip_bad=bool(options.get("skip_bad", False)),
            workers=int(options.get("workers", 1)),  # type: ignore[call-overload]
            note_reader=options.get("note_reader"),  # type: ignore[arg-type]
        )
        out = tmp / "facts.parquet"
        engine.write_parquet("SELECT * FROM facts", out)
    finally:
        engine.close()
    return pq.read_table(out)


def _expected(cases: list[CaseFacts]) -> pa.Table:
    return facts_table(cases)


def _differences(expected: pa.Table, actual: pa.Table) -> list[str]:
    order = [("case_id", "ascending"), ("request_no", "ascending")]
    left, right = expected.sort_by(order), actual.select(expected.column_names).sort_by(order)
    if left.num_rows != right.num_rows:
        return [f"rows: expected {left.num_rows}, got {right.num_rows}"]
    problems = []
    for name in left.column_names:
        a = left.column(name).combine_chunks()
        b = right.column(name).combine_chunks().cast(a.type)
        if not a.equals(b):
            pairs = zip(a.to_pylist(), b.to_pylist(), strict=True)
            bad = [(i, x, y) for i, (x, y) in enumerate(pairs) if x != y][:3]
            problems += [f"{left['case_id'][i]} {name}: {x!r} != {y!r}" for i, x, y in bad]
    return problems


@pytest.fixture(scope="module")
def population() -> list[list[Resource]]:
    return [coded_case(index, seed=3) for index in range(CASES)]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    write_ndjson(folder, CASES, seed=3)
    return folder


def test_ndjson_export_reads_as_the_fhir_reader_reads_each_bundle(
    population: list[list[Resource]], export: Path, tmp_path: Path
) -> None:
    expected = _expected(reader_cases(population, TODAY))
    actual = _facts(export, tmp_path)
    assert expected.num_rows > CASES  # some cases request two or three procedures
    assert _differences(expected, actual) == []
    # The coded facts the generator exercises are all there.
    for column in (
        "fracture__aetiology",
        "fracture__type",
        "pain__score",
        "conservative_treatment__duration_weeks",
        "hospitalisation__admitted",
        "cord_compression__present",
        "request__levels",
        "patient__age",
    ):
        assert actual.column(column).null_count < actual.num_rows, column


def test_bundles_split_files_and_gzip_read_the_same(
    population: list[list[Resource]], tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    some = population[:60]
    for resources in some[:30]:  # one bundle per patient
        pid = resources[0]["id"]
        (folder / f"{pid}.json").write_text(json.dumps(bundle(resources, pid)), encoding="utf-8")
    lines = [json.dumps(r) for resources in some[30:] for r in resources]
    half = len(lines) // 2
    (folder / "part-1.ndjson").write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
    with gzip.open(folder / "part-2.ndjson.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n\n".join(lines[half:]) + "\n")  # blank lines are allowed
    expected = _expected(reader_cases(some, TODAY))
    assert _differences(expected, _facts(folder, tmp_path)) == []


def test_bad_lines_are_reported_with_file_and_line_and_skipped_only_when_asked(
    population: list[list[Resource]], tmp_path: Path
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    some = population[:20]
    resources = [r for case in some for r in case]
    lines = [json.dumps(r) for r in resources]
    corrupt = {3: '{"resourceType": "Condition", "id": ', 7: "[1, 2]", 9: '{"id": "x"}'}
    for index, text in sorted(corrupt.items()):
        lines.insert(index - 1, text)
    (folder / "export.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError) as caught:
        _facts(folder, tmp_path)
    error = caught.value
    assert error.total == 3
    assert [(Path(b.file).name, b.line) for b in error.lines] == [
        ("export.ndjson", n) for n in sorted(corrupt)
    ]
    assert "not valid JSON" in error.lines[0].reason
    assert "not a JSON object" in error.lines[1].reason
    assert "resourceType" in error.lines[2].reason
    expected = _expected(reader_cases(some, TODAY))
    assert _differences(expected, _facts(folder, tmp_path, skip_bad=True)) == []


# --- Text read by the note reader, joined in ---------------------------------------------

TEXTS = [
    "Discussed at the spinal MDT; pain is severe.",
    "MRI: no cord compression. Known myeloma.",
    "Six weeks of physio without benefit; severe pain.",
]


def _with_notes(population: list[list[Resource]]) -> list[list[Resource]]:
    out = []
    for index, resources in enumerate(population):
        pid = resources[0]["id"]
        text = TEXTS[index % len(TEXTS)]
        document = {
            "resourceType": "DocumentReference",
            "id": f"{pid}-d",
            "status": "current",
            "subject": {"reference": f"Patient/{pid}"},
            "date": "2026-09-20",
            "type": {"text": "Clinic letter"},
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "data": base64.b64encode(text.encode()).decode(),
                    }
                }
            ],
        }
        out.append([*resources, document])
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_note_readings_join_in_as_the_fhir_reader_merges_them(
    population: list[list[Resource]], tmp_path: Path, workers: int, fake_note_reader: Any
) -> None:
    cases = _with_notes(population[:40])
    folder = tmp_path / "notes"
    folder.mkdir()
    lines = [json.dumps(r) for case in cases for r in case]
    (folder / "export.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = []
    for resources in cases:
        pid = str(resources[0]["id"])
        case = read_fhir(
            bundle(resources), pid, default_id=pid, as_of=TODAY, note_reader=fake_note_reader
        ).case
        if case.requests:
            expected.append(CaseFacts(pid, case.facts, case.requests, case.request_date or TODAY))
    actual = _facts(folder, tmp_path, workers=workers, note_reader=fake_note_reader)
    assert _differences(_expected(expected), actual) == []
    assert actual.column("mdt__discussed").null_count < actual.num_rows


REPORTS = [
    "MRI lumbar spine: acute L1 compression fracture with marrow oedema on STIR. "
    "No retropulsion. No cord compression.",
    "Medications: apixaban 5 mg twice daily, aspirin 75 mg daily.",
    "Spinal MDT discussed this patient today with the interventional radiologist and spinal "
    "surgeon; vertebroplasty agreed.",
    "Severe back pain despite 8 weeks of analgesia and physiotherapy. She is unable to walk.",
    "Not on any blood thinners.",
]


def test_the_installed_note_reader_gives_what_the_fhir_reader_gives(
    population: list[list[Resource]], tmp_path: Path
) -> None:
    from vertebro.adapters.fhir.notes import note_reader

    if note_reader() is None:
        pytest.skip("the note reader (vertebro.adapters.nlp) is not installed")
    cases = []
    for index, resources in enumerate(population[:6]):
        pid = resources[0]["id"]
        text = REPORTS[index % len(REPORTS)]
        document = {
            "resourceType": "DocumentReference",
            "id": f"{pid}-d",
            "status": "current",
            "subject": {"reference": f"Patient/{pid}"},
            "date": "2026-09-20",
            "type": {"text": "Radiology report" if index % 3 == 0 else "Clinic letter"},
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "data": base64.b64encode(text.encode()).decode(),
                    }
                }
            ],
        }
        cases.append([*resources, document])
    folder = tmp_path / "reports"
    folder.mkdir()
    lines = [json.dumps(r) for case in cases for r in case]
    (folder / "export.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    actual = _facts(folder, tmp_path)
    assert _differences(_expected(reader_cases(cases, TODAY)), actual) == []
    assert actual.column("mdt__discussed").null_count < actual.num_rows
    # Blood thinners from a letter: named ones, and none where the letter denies them.
    thinners = actual.column("medication__blood_thinners").to_pylist()
    assert ["apixaban", "aspirin"] in thinners and [] in thinners


def test_a_folder_of_bundles_is_read_in_one_statement_with_each_file_named(
    tmp_path: Path,
) -> None:
    # One read per file, joined by UNION ALL, took time growing with the square of the files
    # (5,000 bundles: about five minutes); one read over the list takes seconds.
    folder = tmp_path / "bundles"
    folder.mkdir()
    ids = ["bundle-zero", None, "bundle-two"]  # without an id: the case is named by its file
    for index, bundle_id in enumerate(ids):
        data = {**bundle(coded_case(index, seed=5)), **({"id": bundle_id} if bundle_id else {})}
        (folder / f"case-{index}.json").write_text(json.dumps(data), encoding="utf-8")
    files = discover(folder)
    engine = DuckDbEngine(tmp_path / "duck")
    try:
        sql = engine.lines(files)
        assert sql.count("read_text(") == 1
        rows = engine.rows(f"SELECT DISTINCT file, grp FROM {sql} ORDER BY file")
    finally:
        engine.close()
    assert rows == [(0, "bundle-zero"), (1, "case-1"), (2, "bundle-two")]


def _split(export: Path, folder: Path) -> Path:
    """The export in files of three lines each."""
    folder.mkdir()
    for path in sorted(export.glob("*.ndjson")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for start in range(0, len(lines), 3):
            part = folder / f"{path.stem}.{start // 3:04d}.ndjson"
            part.write_text("\n".join(lines[start : start + 3]) + "\n", encoding="utf-8")
    return folder


def test_an_export_split_into_many_small_files_is_read_in_a_few_statements(
    population: list[list[Resource]], export: Path, tmp_path: Path
) -> None:
    # A statement per NDJSON file cost about 2 ms a file however small (6,709 files of eight
    # lines: 18 s against 1.2 s for the same resources in 64 files); runs of files are read
    # together, each record keeping its file's number and its order in the file.
    folder = _split(export, tmp_path / "split")
    claims = [f for f in discover(folder) if Path(f.path).name.startswith("Claim.")]
    assert len(claims) > 64
    engine = DuckDbEngine(tmp_path / "duck", threads=2)
    try:
        sql = engine.typed_lines(claims, "Claim", PARSED_SCHEMAS["Claim"])
        assert sql is not None and sql.count("read_json(") == 16
        rows = engine.rows(f"SELECT file, r.id FROM {sql} ORDER BY file, line_no")
    finally:
        engine.close()
    assert rows == [
        (item.number, json.loads(line)["id"])
        for item in claims
        for line in Path(item.path).read_text(encoding="utf-8").splitlines()
    ]
    expected = _expected(reader_cases(population, TODAY))
    assert _differences(expected, _facts(folder, tmp_path)) == []


def test_files_are_read_strictly_and_again_as_the_reader_reads_when_an_array_is_a_lone_object(
    population: list[list[Resource]], export: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    # A file whose arrays are arrays, as FHIR R4 writes them, is parsed with its arrays typed
    # (faster than as text parsed again); a line with a lone object where an array belongs
    # has its file read again the tolerant way. The facts are the reader's either way.
    reads: list[tuple[str, bool, bool]] = []
    try_run = DuckDbEngine.try_run

    def watched(self: DuckDbEngine, name: str, sql: str) -> bool:
        done = try_run(self, name, sql)
        rtype = re.search(r"/([A-Za-z]+)\.ndjson", sql)
        assert rtype is not None
        reads.append((rtype.group(1), "ignore_errors=false" in sql, done))
        return done

    monkeypatch.setattr(DuckDbEngine, "try_run", watched)
    expected = _expected(reader_cases(population, TODAY))
    assert _differences(expected, _facts(export, tmp_path / "strict")) == []
    types = sorted(p.name.split(".")[0] for p in export.glob("*.ndjson"))
    assert sorted(reads) == sorted(
        [(t, True, True) for t in types if t in STRICT_SCHEMAS]
        + [(t, False, True) for t in types if t not in STRICT_SCHEMAS]
    )
    assert {"Claim", "Condition", "ServiceRequest"} <= {t for t, strict, _ in reads if strict}

    folder = tmp_path / "lone"
    shutil.copytree(export, folder)
    claims = folder / "Claim.ndjson"
    lines = claims.read_text(encoding="utf-8").splitlines()
    last = max(i for i, line in enumerate(lines) if len(json.loads(line)["item"]) == 1)
    claim = json.loads(lines[last])
    claim["item"] = claim["item"][0]
    lines[last] = json.dumps(claim)
    claims.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reads.clear()
    assert _differences(expected, _facts(folder, tmp_path / "tolerant")) == []
    assert [r for r in reads if r[0] == "Claim"] == [("Claim", True, False), ("Claim", False, True)]
    assert ("Condition", True, True) in reads


def test_bad_lines_in_an_export_of_many_small_files_are_found_by_file_and_line(
    population: list[list[Resource]], export: Path, tmp_path: Path
) -> None:
    # A file with a bad line sends its type's files to the line-by-line reading, which reads
    # runs of neighbouring files in one statement too; each line keeps its own file's number.
    folder = _split(export, tmp_path / "split")
    conditions = sorted(folder.glob("Condition.*.ndjson"))
    assert len(conditions) > 64
    broken = {conditions[5]: 2, conditions[40]: 4}  # the line each bad line goes in at
    for path, line in broken.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        lines.insert(line - 1, '{"resourceType": "Condition", "id": ')
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Blank lines count: two at the top move the second file's bad line to line 6.
    text = conditions[40].read_text(encoding="utf-8")
    conditions[40].write_text("\n\n" + text, encoding="utf-8")
    broken[conditions[40]] += 2
    engine = DuckDbEngine(tmp_path / "duck", threads=2)
    try:
        assert engine.lines(discover(folder)).count("read_csv(") == 16
    finally:
        engine.close()
    with pytest.raises(BadInputError) as caught:
        _facts(folder, tmp_path)
    assert [(b.file, b.line) for b in caught.value.lines] == [
        (str(path.resolve()), line) for path, line in sorted(broken.items())
    ]
    assert all("not valid JSON" in b.reason for b in caught.value.lines)
    expected = _expected(reader_cases(population, TODAY))
    assert _differences(expected, _facts(folder, tmp_path, skip_bad=True)) == []

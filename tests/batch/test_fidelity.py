"""The batch reads what the per-case FHIR reader reads, on bundles shaped like real ones.

Each bundle is built from real material (the Da Vinci PAS fixtures, the Synthea records in
../shared/fixtures, and vertebro's own FHIR fixtures) and exercises something the generated
exports do not: resources contained in others, references by `urn:uuid:` fullUrl (resources
without an id), the PAS `requestedService` extension on a Claim item, report and document
narrative (`text.div`), document Compositions and attachments held in a Binary. The batch's
facts table must equal the one made from the per-case reader's reading of each bundle, cell for
cell; a fake note reader (a module-level function, so that worker processes can take it)
stands in for the installed one, so that what reaches the note reader is compared too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vertebro.adapters import policy_files
from vertebro.adapters.fhir import read_fhir
from vertebro.batch.agreement import disagreements, expected_table
from vertebro.batch.bulk import discover, read_bulk
from vertebro.batch.compile import compile_policy
from vertebro.batch.dialect import DUCKDB
from vertebro.batch.engines import DuckDbEngine
from vertebro.batch.extract import RunDates
from vertebro.batch.facts_table import CaseFacts, facts_table
from vertebro.batch.runner import BatchOptions, run_batch
from vertebro.batch.synthetic import AS_OF


def _write(folder: Path, bundles: dict[str, dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, data in bundles.items():
        (folder / f"{stem}.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def _expected(bundles: dict[str, dict[str, Any]], reader: Any) -> list[CaseFacts]:
    out = []
    for stem, data in bundles.items():
        case = read_fhir(data, stem, default_id=stem, as_of=AS_OF, note_reader=reader).case
        if case.requests:
            out.append(CaseFacts(case.id, case.facts, case.requests, case.request_date or AS_OF))
    return out


def _batch_facts(folder: Path, tmp: Path, reader: Any, workers: int = 1) -> pa.Table:
    engine = DuckDbEngine(tmp / "duck")
    try:
        read_bulk(
            engine,
            discover(folder),
            dates=RunDates(None, AS_OF),
            skip_bad=False,
            workers=workers,
            note_reader=reader,
        )
        out = tmp / "facts.parquet"
        engine.write_parquet("SELECT * FROM facts", out)
    finally:
        engine.close()
    return pq.read_table(out)


def _differences(expected: pa.Table, actual: pa.Table) -> list[str]:
    order = [("case_id", "ascending"), ("request_no", "ascending")]
    left, right = expected.sort_by(order), actual.select(expected.column_names).sort_by(order)
    if left.num_rows != right.num_rows:
        return [f"rows: expected {left.num_rows}, got {right.num_rows}"]
    problems = []
    for name in left.column_names:
        a = left.column(name).combine_chunks()
        b = right.column(name).combine_chunks().cast(a.type)
        for index, (x, y) in enumerate(zip(a.to_pylist(), b.to_pylist(), strict=True)):
            if x != y:
                problems.append(f"{left['case_id'][index]} {name}: reader {x!r}, batch {y!r}")
    return problems


def _value(table: pa.Table, case_id: str, column: str, request_no: int = 0) -> object:
    for row in table.to_pylist():
        if row["case_id"] == case_id and row["request_no"] == request_no:
            return row[column]
    raise AssertionError(f"no row {case_id}#{request_no}")


def test_bundles_with_references_contained_resources_and_narrative_read_as_the_reader_reads(
    tmp_path: Path, fake_note_reader: Any, fidelity_bundles: dict[str, dict[str, Any]]
) -> None:
    bundles = fidelity_bundles
    folder = _write(tmp_path / "bundles", bundles)
    expected = facts_table(_expected(bundles, fake_note_reader))
    actual = _batch_facts(folder, tmp_path, fake_note_reader)
    assert _differences(expected, actual) == []
    # The things only these bundles exercise did reach the batch (not unknown on both sides).
    for stem in ("pas-uuid-ids", "pas-uuid-no-ids"):
        # requestedService -> ServiceRequest (by urn:uuid) -> bodySite T12
        assert _value(actual, stem, "request__levels") == ["T12"]
        assert _value(actual, stem, "request__levels", 1) == ["L1"]
        # the Condition the Claim names by urn:uuid, tied to the request
        assert _value(actual, stem, "fracture__type") == "compression"
        # contained Medication and a Medication entry by urn:uuid: two analgesic courses
        assert _value(actual, stem, "conservative_treatment__duration_weeks") is not None
        # the admission's reason is the urn:uuid Condition (a fracture)
        assert _value(actual, stem, "hospitalisation__admitted") is True
        # the report's narrative and the letter's Binary reached the note reader
        assert _value(actual, stem, "cord_compression__present") is False
        assert _value(actual, stem, "mdt__discussed") is True
    # the Composition's sections (nested ones too)
    assert _value(actual, "document-sacroplasty", "pain__prevents_ambulation") is True
    assert _value(actual, "document-sacroplasty", "request__levels") == ["sacrum"]


def test_the_same_resources_as_ndjson_read_alike(
    tmp_path: Path, fake_note_reader: Any, fidelity_bundles: dict[str, dict[str, Any]]
) -> None:
    """NDJSON has no bundle to resolve urn:uuid in: resources refer by Type/id, a contained
    Medication travels with its request, and a Binary (which names no patient) is found by the
    id an attachment names. Same facts as the reader on the resources as one bundle."""
    data = fidelity_bundles["pas-uuid-ids"]
    patient = next(
        e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    ids = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in data["entry"]
    }
    text = json.dumps([e["resource"] for e in data["entry"]])
    for url, ref in ids.items():
        text = text.replace(f'"{url}"', f'"{ref}"')
    resources = json.loads(text)
    folder = tmp_path / "ndjson"
    folder.mkdir()
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for rtype, lines in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    pid = patient["id"]
    expected = facts_table(_expected({pid: bundle}, fake_note_reader))
    actual = _batch_facts(folder, tmp_path, fake_note_reader, workers=2)
    assert _differences(expected, actual) == []
    assert _value(actual, pid, "request__levels") == ["T12"]
    assert _value(actual, pid, "mdt__discussed") is True


def test_a_synthea_record_reads_as_the_reader_reads_it(
    tmp_path: Path, synthea_bundle: dict[str, Any]
) -> None:
    """A real Synthea transaction bundle (1.4 MB, every reference a urn:uuid), with a request
    added: coded facts only (its notes are not about the spine)."""
    bundles = {"twyla": synthea_bundle}
    folder = _write(tmp_path / "synthea", bundles)
    expected = facts_table(_expected(bundles, None))
    actual = _batch_facts(folder, tmp_path, None)
    assert _differences(expected, actual) == []
    assert _value(actual, "twyla", "conservative_treatment__duration_weeks") == round(42 / 7, 1)


def test_outcomes_on_these_bundles_match_the_per_case_engine(
    tmp_path: Path,
    fake_note_reader: Any,
    fidelity_bundles: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vertebro.batch import bulk

    bundles = fidelity_bundles
    folder = _write(tmp_path / "bundles", bundles)
    real = bulk.read_bulk
    monkeypatch.setattr(
        "vertebro.batch.runner.read_bulk",
        lambda *a, **k: real(*a, **{**k, "note_reader": fake_note_reader}),
    )
    for policy_id in ("nice", "carefirst"):
        out = tmp_path / f"{policy_id}.parquet"
        run_batch(BatchOptions(folder, policy_id, out, workers=1), today=AS_OF)
        policy = policy_files.versions_of(policy_id)[-1].policy
        expected = expected_table(
            policy, compile_policy(policy, DUCKDB), _expected(bundles, fake_note_reader)
        )
        assert disagreements(expected, pq.read_table(out)) == [], policy_id


def test_a_bundle_file_that_is_not_json_is_a_bad_line_not_a_crash(
    tmp_path: Path, fidelity_bundles: dict[str, dict[str, Any]], fake_note_reader: Any
) -> None:
    """A broken bundle file is reported (file and reason) and skipped only when asked."""
    from vertebro.batch.bulk import BadInputError

    folder = _write(
        tmp_path / "mixed", {"document-sacroplasty": fidelity_bundles["document-sacroplasty"]}
    )
    (folder / "broken.json").write_text('{"resourceType": "Bundle", "entry": [', encoding="utf-8")
    with pytest.raises(BadInputError) as caught:
        _batch_facts(folder, tmp_path, fake_note_reader)
    (bad,) = caught.value.lines
    assert Path(bad.file).name == "broken.json"
    assert "not valid JSON" in bad.reason
    engine = DuckDbEngine(tmp_path / "duck2")
    try:
        report = read_bulk(
            engine,
            discover(folder),
            dates=RunDates(None, AS_OF),
            skip_bad=True,
            workers=1,
            note_reader=fake_note_reader,
        )
    finally:
        engine.close()
    assert report.bad_total == 1 and report.requests == 1


@pytest.mark.parametrize("supply", [-5, 1e300, 0.5, 28])
def test_hostile_supply_durations_read_as_the_reader_reads_them(
    tmp_path: Path, supply: float
) -> None:
    """A supply that is negative gives no end, one past the calendar ends on its last day
    (medication._supply_end), and neither stops the run."""
    from vertebro.batch.synthetic import coded_case

    resources = coded_case(0, seed=1)
    pid = str(resources[0]["id"])
    resources = [r for r in resources if r["resourceType"] != "MedicationRequest"]
    resources.append(
        {
            "resourceType": "MedicationRequest",
            "id": "m-supply",
            "status": "completed",
            "intent": "order",
            "subject": {"reference": f"Patient/{pid}"},
            "medicationCodeableConcept": {"text": "Paracetamol 1 g"},
            "authoredOn": "2026-09-01",
            "dispenseRequest": {"expectedSupplyDuration": {"value": supply, "code": "d"}},
        }
    )
    folder = tmp_path / "supply"
    folder.mkdir()
    lines = [json.dumps(r) for r in resources]
    (folder / "export.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    expected = facts_table(_expected({pid: bundle}, None))
    actual = _batch_facts(folder, tmp_path, None)
    assert _differences(expected, actual) == []
    assert actual.num_rows >= 1

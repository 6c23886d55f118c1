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

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq
import pytest

from vertebro.adapters import policy_files
from vertebro.adapters.fhir import read_fhir
from vertebro.batch.agreement import disagreements, expected_table
from vertebro.batch.bulk import ReadReport, discover, read_bulk
from vertebro.batch.compile import compile_policy
from vertebro.batch.dialect import DUCKDB
from vertebro.batch.engines import DuckDbEngine, Engine
from vertebro.batch.extract import RunDates
from vertebro.batch.facts_table import CaseFacts, facts_table
from vertebro.batch.runner import BatchOptions, run_batch
from vertebro.batch.synthetic import AS_OF

from .conftest import installed_note_reader


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


def _batch_facts(
    folder: Path,
    tmp: Path,
    reader: Any,
    workers: int = 1,
    engine: Engine | None = None,
    skip_bad: bool = False,
) -> pa.Table:
    """The batch's facts table (DuckDB unless another engine is given)."""
    return _batch_read(folder, tmp, reader, workers, engine, skip_bad)[1]


def _batch_read(
    folder: Path,
    tmp: Path,
    reader: Any,
    workers: int = 1,
    engine: Engine | None = None,
    skip_bad: bool = False,
) -> tuple[ReadReport, pa.Table]:
    """What the batch read, and its facts table."""
    engine = engine or DuckDbEngine(tmp / "duck")
    out = tmp / "facts.parquet"
    try:
        report = read_bulk(
            engine,
            discover(folder),
            dates=RunDates(None, AS_OF),
            skip_bad=skip_bad,
            workers=workers,
            note_reader=reader,
        )
        engine.write_parquet("SELECT * FROM facts", out)
    finally:
        engine.close()
    return report, pq.read_table(out)


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
    report, _ = _batch_read(folder, tmp_path, fake_note_reader, skip_bad=True)
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


# --- FHIR JSON as sloppy senders write it (issue 9 fidelity gaps) --------------------------------


def _lone(node: Any) -> Any:
    """Every one-element array of objects written as the lone object (`"coding": {...}`,
    `"item": {...}`, `"bodySite": {...}`): the per-case reader reads a lone object where FHIR
    has an array as an array of one (`elements.objs`, `elements.items`)."""
    if isinstance(node, dict):
        return {key: _lone(value) for key, value in node.items()}
    if isinstance(node, list):
        if len(node) == 1 and isinstance(node[0], dict):
            return _lone(node[0])
        return [_lone(value) for value in node]
    return node


def _bare_codings(node: Any) -> Any:
    """Every CodeableConcept with one coding and no text written as the bare Coding, which the
    reader also reads (`elements.codings`)."""
    if isinstance(node, dict):
        coding = node.get("coding")
        if set(node) == {"coding"} and isinstance(coding, list) and len(coding) == 1:
            return _bare_codings(coding[0])
        return {key: _bare_codings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_bare_codings(value) for value in node]
    return node


def _resources_reshaped(bundle: dict[str, Any], reshape: Any) -> dict[str, Any]:
    out = dict(bundle)
    out["entry"] = [{**e, "resource": reshape(e["resource"])} for e in bundle["entry"]]
    return out


def _ndjson_export(folder: Path, resources: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True)
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for rtype, lines in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _by_type_and_id(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A bundle's resources with every urn:uuid reference rewritten as Type/id (NDJSON)."""
    ids = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in data["entry"]
    }
    text = json.dumps([e["resource"] for e in data["entry"]])
    for url, ref in ids.items():
        text = text.replace(f'"{url}"', f'"{ref}"')
    resources: list[dict[str, Any]] = json.loads(text)
    return resources


@pytest.mark.parametrize("reshape", [_lone, _bare_codings], ids=["lone-objects", "bare-codings"])
def test_lone_objects_and_bare_codings_in_bundles_read_as_the_reader_reads_them(
    tmp_path: Path,
    fake_note_reader: Any,
    fidelity_bundles: dict[str, dict[str, Any]],
    reshape: Any,
) -> None:
    """`"coding": {...}` in every concept (Condition.code, Observation.code, Claim
    productOrService, medicationCodeableConcept, Procedure.code, body sites, statuses), and a
    lone object for every other array (Claim.item, diagnosis, bodySite, reasonReference,
    contained, dosageInstruction, ...); or a bare Coding for a concept."""
    bundles = {stem: _resources_reshaped(b, reshape) for stem, b in fidelity_bundles.items()}
    text = json.dumps(bundles)
    assert ('"coding": {' in text) == (reshape is _lone)
    folder = _write(tmp_path / "bundles", bundles)
    expected = facts_table(_expected(bundles, fake_note_reader))
    actual = _batch_facts(folder, tmp_path, fake_note_reader)
    assert _differences(expected, actual) == []
    # Read, not unknown on both sides: the Claim's items, their codes and levels (the
    # requestedService's bodySite), the linked Condition's code, the contained medicine's code
    # and its dosage, the admission's class and reason, the pain score's code.
    for stem in ("pas-uuid-ids", "pas-uuid-no-ids"):
        assert _value(actual, stem, "request__procedure") == "vertebroplasty"
        assert _value(actual, stem, "request__levels") == ["T12"]
        assert _value(actual, stem, "request__levels", 1) == ["L1"]
        assert _value(actual, stem, "fracture__type") == "compression"
        assert _value(actual, stem, "conservative_treatment__duration_weeks") is not None
        assert _value(actual, stem, "hospitalisation__admitted") is True
        assert _value(actual, stem, "pain__score") == 8
    assert _value(actual, "document-sacroplasty", "fracture__aetiology") == "osteoporotic"


@pytest.mark.parametrize("one_file", [False, True], ids=["file-per-type", "one-file"])
@pytest.mark.parametrize("reshape", [_lone, _bare_codings], ids=["lone-objects", "bare-codings"])
def test_lone_objects_and_bare_codings_in_ndjson_read_as_the_reader_reads_them(
    tmp_path: Path,
    fake_note_reader: Any,
    fidelity_bundles: dict[str, dict[str, Any]],
    reshape: Any,
    one_file: bool,
) -> None:
    """The same as NDJSON: a file per type, which DuckDB's typed JSON reader parses, or one
    file of every type, whose lines are parsed from their text."""
    resources = [reshape(r) for r in _by_type_and_id(fidelity_bundles["pas-uuid-ids"])]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    folder = _ndjson_export(tmp_path / "ndjson", resources)
    if one_file:
        lines = [json.dumps(r) for r in resources]
        for path in folder.iterdir():
            path.unlink()
        (folder / "export.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    expected = facts_table(_expected({pid: bundle}, fake_note_reader))
    actual = _batch_facts(folder, tmp_path, fake_note_reader)
    assert _differences(expected, actual) == []
    assert _value(actual, pid, "request__levels") == ["T12"]
    assert _value(actual, pid, "fracture__type") == "compression"
    assert _value(actual, pid, "pain__score") == 8
    assert _value(actual, pid, "hospitalisation__admitted") is True


def _patient_entry(bundle: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = next(
        e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return entry


def _several_patients(
    fidelity_bundles: dict[str, dict[str, Any]], synthea: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Files holding two patients' records, made from the PAS request (a man, the Claim naming
    him) and the Synthea record (a woman born 1945, her own prior-authorisation Claim for
    kyphoplasty, her fracture and analgesic added): the per-case reader takes the patient the
    first prior-authorisation Claim names (else a ServiceRequest's subject, else the only
    Patient), reads the requests of every Claim, and skips what is about another patient."""
    pas = fidelity_bundles["pas-uuid-ids"]
    twyla = _patient_entry(synthea)
    # The Claim and the ServiceRequest name a patient who is not in the file: no request
    # names one of the two.
    unnamed = json.loads(json.dumps(pas))
    for entry in unnamed["entry"]:
        resource = entry["resource"]
        missing = {"reference": "Patient/not-in-this-file"}
        if resource["resourceType"] == "Claim":
            resource["patient"] = missing
        elif resource["resourceType"] == "ServiceRequest":
            resource["subject"] = missing
    # The FHIR document's ServiceRequest names its patient; a second Patient comes first.
    document = json.loads(json.dumps(fidelity_bundles["document-sacroplasty"]))
    document["entry"].insert(1, twyla)
    # One Patient, and a later pain score of another patient the file does not hold (which
    # would be the latest pain score).
    stray = json.loads(json.dumps(pas))
    score = next(
        e["resource"] for e in stray["entry"] if e["resource"]["resourceType"] == "Observation"
    )
    stray["entry"].append(
        {
            "fullUrl": "urn:uuid:0d5e2d8c-7b0e-4c55-9a1b-000000000099",
            "resource": {
                **score,
                "id": "stray-score",
                "subject": {"reference": "Patient/not-in-this-file"},
                "effectiveDateTime": "2026-09-27",
                "valueQuantity": {"value": 2},
            },
        }
    )
    return {
        "pas-then-synthea": {
            **pas,
            "id": "pas-then-synthea",
            "entry": pas["entry"] + synthea["entry"],
        },
        "synthea-then-pas": {
            **pas,
            "id": "synthea-then-pas",
            "entry": synthea["entry"] + pas["entry"],
        },
        "two-unnamed": {**unnamed, "id": "two-unnamed", "entry": unnamed["entry"] + [twyla]},
        "document-second-patient": {**document, "id": "document-second-patient"},
        "stray-score": {**stray, "id": "stray-score"},
    }


def test_a_bundle_holding_several_patients_is_read_for_the_patient_the_reader_chooses(
    tmp_path: Path,
    fake_note_reader: Any,
    fidelity_bundles: dict[str, dict[str, Any]],
    synthea_bundle: dict[str, Any],
) -> None:
    """Files holding two patients' records (`_several_patients`) are read for the patient the
    reader chooses, and without what is about another patient."""
    bundles = _several_patients(fidelity_bundles, synthea_bundle)
    folder = _write(tmp_path / "bundles", bundles)
    expected = facts_table(_expected(bundles, fake_note_reader))
    actual = _batch_facts(folder, tmp_path, fake_note_reader)
    assert _differences(expected, actual) == []
    # The Claim's patient, not the other (a woman): his facts and not hers.
    assert _value(actual, "pas-then-synthea", "patient__sex") == "male"
    assert _value(actual, "synthea-then-pas", "patient__sex") == "female"
    assert _value(actual, "synthea-then-pas", "patient__age") == 80
    # Both Claims' requests are read, whoever they name.
    procedures = {_value(actual, "pas-then-synthea", "request__procedure", n) for n in range(2)}
    assert procedures == {"vertebroplasty", "kyphoplasty"}
    # No request names either patient: no patient facts, and every resource read.
    assert _value(actual, "two-unnamed", "patient__sex") is None
    assert _value(actual, "two-unnamed", "pain__score") == 8
    assert _value(actual, "document-second-patient", "patient__sex") == "female"
    assert _value(actual, "document-second-patient", "patient__age") == 85
    # A pain score of a patient the file does not hold is not read.
    assert _value(actual, "stray-score", "pain__score") == 8


def _over_the_text_limits(pas: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The PAS bundle with more report and document text than the reader takes from one
    bundle (documents.MAX_BUNDLE_TEXTS, MAX_BUNDLE_TEXT_CHARS): 501 letters naming the one
    letter Binary (each small, together over the number of texts), or one letter of 600,000
    characters."""
    letter = next(e for e in pas["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    many = json.loads(json.dumps(pas))
    many["id"] = "many-letters"
    for n in range(501):
        copy = json.loads(json.dumps(letter))
        copy["fullUrl"] = f"urn:uuid:0d5e2d8c-7b0e-4c55-9a1b-{100000 + n:012d}"
        copy["resource"]["id"] = f"letter-{n}"
        many["entry"].append(copy)
    long = json.loads(json.dumps(pas))
    long["id"] = "long-letter"
    binary = next(e for e in long["entry"] if e["resource"]["resourceType"] == "Binary")
    words = "Discussed at the spinal MDT. " * 21_000
    binary["resource"]["data"] = base64.b64encode(words.encode()).decode()
    return {"many-letters": many, "long-letter": long}


def test_a_bundle_over_the_readers_text_limits_is_bad_input_as_the_reader_says(
    tmp_path: Path, fake_note_reader: Any, fidelity_bundles: dict[str, dict[str, Any]]
) -> None:
    """The per-case reader refuses a bundle whose documents come to more text than it takes
    (reading part of the record could miss a safety finding): the batch reports such a case
    as bad input, stops without --skip-bad, and with it leaves the case out."""
    from vertebro.adapters.errors import InputError
    from vertebro.batch.bulk import BadInputError

    over = _over_the_text_limits(fidelity_bundles["pas-uuid-ids"])
    for stem, data in over.items():
        with pytest.raises(InputError, match="texts or 500,000 characters"):
            read_fhir(data, stem, default_id=stem, as_of=AS_OF, note_reader=fake_note_reader)
    kept = {k: fidelity_bundles[k] for k in ("pas-uuid-no-ids", "document-sacroplasty")}
    folder = _write(tmp_path / "bundles", {**kept, **over})
    with pytest.raises(BadInputError) as caught:
        _batch_facts(folder, tmp_path, fake_note_reader)
    assert caught.value.total == 2
    assert sorted(Path(bad.file).name for bad in caught.value.lines) == [
        "long-letter.json",
        "many-letters.json",
    ]
    assert all("texts or 500,000 characters" in bad.reason for bad in caught.value.lines)
    report, actual = _batch_read(folder, tmp_path, fake_note_reader, skip_bad=True)
    assert report.bad_total == 2
    expected = facts_table(_expected(kept, fake_note_reader))
    assert _differences(expected, actual) == []
    assert report.requests == actual.num_rows == expected.num_rows


# A note reader that also finds requests ('vertebroplasty at T11 and T12', 'sacroplasty'), as
# vertebro.adapters.nlp.read_note does.
REQUESTING_NOTE_READER = """
import re
from dataclasses import dataclass
from vertebro.core.catalogue import Procedure
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactSet, Provenance
from vertebro.core.levels import parse_levels

WANTED = re.compile(r"(vertebroplasty|kyphoplasty|sacroplasty)(?: at ([TLS][0-9]+(?: and [TLS][0-9]+)*))?")


@dataclass
class Reading:
    facts: FactSet
    requests: tuple = ()


def read_note(text, *, source, note_date=None):
    evidence = (Provenance("note", source, text[:40]),)
    facts = []
    if "MDT" in text:
        facts.append(Fact("mdt.discussed", True, evidence))
    if "severe" in text:
        facts.append(Fact("pain.severe", True, evidence))
    requests = tuple(
        ProcedureRequest(
            Procedure(m.group(1)),
            tuple(parse_levels(m.group(2))) if m.group(2) else None,
            evidence,
        )
        for m in WANTED.finditer(text)
    )
    return Reading(FactSet(facts), requests)
"""


@pytest.fixture
def requesting_note_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from installed_note_reader(
        "requesting_notes", REQUESTING_NOTE_READER, tmp_path, monkeypatch
    )


def _requests_in_text(fidelity_bundles: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Requests the note reader finds: in a letter of a record with no Claim or
    ServiceRequest; in a letter giving the levels of a coded request that has none (and
    others the reader leaves alone: a level for a coded request that has its own, a procedure
    no coded request asks for); in a FHIR document with no ServiceRequest (no level)."""
    pas = fidelity_bundles["pas-uuid-ids"]

    def letter(bundle: dict[str, Any], words: str) -> None:
        binary = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary")
        binary["resource"]["data"] = base64.b64encode(words.encode()).decode()

    only_text = json.loads(json.dumps(pas))
    only_text["id"] = "letter-only"
    only_text["entry"] = [
        e
        for e in only_text["entry"]
        if e["resource"]["resourceType"] not in ("Claim", "ServiceRequest")
    ]
    letter(only_text, "Spinal MDT: referred for vertebroplasty at T11 and T12; kyphoplasty.")
    levels = json.loads(json.dumps(pas))
    levels["id"] = "levels-from-letter"
    claim = levels["entry"][0]["resource"]
    claim["item"][0].pop("extension")  # vertebroplasty, no level of its own
    letter(levels, "MDT: vertebroplasty at T11, kyphoplasty at L3, sacroplasty at S2.")
    document = json.loads(json.dumps(fidelity_bundles["document-sacroplasty"]))
    document["id"] = "document-no-order"
    document["entry"] = [
        e for e in document["entry"] if e["resource"]["resourceType"] != "ServiceRequest"
    ]
    composition = document["entry"][0]["resource"]
    composition["section"][1]["text"]["div"] = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>MDT: sacroplasty.</p></div>'
    )
    return {"letter-only": only_text, "levels-from-letter": levels, "document-no-order": document}


def test_requests_found_in_text_are_read_as_the_reader_reads_them(
    tmp_path: Path, requesting_note_reader: Any, fidelity_bundles: dict[str, dict[str, Any]]
) -> None:
    """The reader uses the requests the note reader finds when a bundle has no coded request
    (one per procedure, their levels united), and takes from them the levels of a coded
    request that has none."""
    bundles = _requests_in_text(fidelity_bundles)
    folder = _write(tmp_path / "bundles", bundles)
    expected = facts_table(_expected(bundles, requesting_note_reader))
    actual = _batch_facts(folder, tmp_path, requesting_note_reader)
    assert _differences(expected, actual) == []
    assert _value(actual, "letter-only", "request__procedure") == "vertebroplasty"
    assert _value(actual, "letter-only", "request__levels") == ["T11", "T12"]
    assert _value(actual, "letter-only", "request__procedure", 1) == "kyphoplasty"
    assert _value(actual, "letter-only", "request__levels", 1) is None
    assert _value(actual, "levels-from-letter", "request__levels") == ["T11"]
    assert _value(actual, "levels-from-letter", "request__levels", 1) == ["L1"]
    assert actual.filter(pa.compute.equal(actual["case_id"], "levels-from-letter")).num_rows == 2
    assert _value(actual, "document-no-order", "request__procedure") == "sacroplasty"
    assert _value(actual, "document-no-order", "request__levels") is None


def test_a_request_only_in_a_letter_is_read_from_ndjson_too(
    tmp_path: Path, requesting_note_reader: Any, fidelity_bundles: dict[str, dict[str, Any]]
) -> None:
    """A patient of an NDJSON export with no Claim or ServiceRequest: the letter (a Binary
    named by id) is read, in two worker processes, for the request it holds."""
    bundle = _requests_in_text(fidelity_bundles)["letter-only"]
    resources = _by_type_and_id(bundle)
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    folder = _ndjson_export(tmp_path / "ndjson", resources)
    whole = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    expected = facts_table(_expected({pid: whole}, requesting_note_reader))
    actual = _batch_facts(folder, tmp_path, requesting_note_reader, workers=2)
    assert _differences(expected, actual) == []
    assert _value(actual, pid, "request__levels") == ["T11", "T12"]
    assert _value(actual, pid, "mdt__discussed") is True


@pytest.mark.slow
def test_spark_reads_these_gaps_as_duckdb_and_the_reader_do(
    tmp_path: Path,
    requesting_note_reader: Any,
    fidelity_bundles: dict[str, dict[str, Any]],
    synthea_bundle: dict[str, Any],
) -> None:
    """Everything above in one export on Spark (local mode; a minute or two): lone objects and
    bare codings, several patients, requests in text, bundles over the text limits (skipped
    with --skip-bad), and a patient given as NDJSON whose request is in a letter."""
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    from vertebro.batch.engines import SparkEngine, local_session

    bundles: dict[str, dict[str, Any]] = {}
    for stem, data in fidelity_bundles.items():
        bundles[f"lone-{stem}"] = {**_resources_reshaped(data, _lone), "id": f"lone-{stem}"}
        bundles[f"bare-{stem}"] = {**_resources_reshaped(data, _bare_codings), "id": f"bare-{stem}"}
    bundles.update(_several_patients(fidelity_bundles, synthea_bundle))
    bundles.update(_requests_in_text(fidelity_bundles))
    over = _over_the_text_limits(fidelity_bundles["pas-uuid-ids"])
    folder = _write(tmp_path / "export", {**bundles, **over})
    patient = _requests_in_text(fidelity_bundles)["letter-only"]
    resources = [_lone(r) for r in _by_type_and_id(patient)]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    for rtype in {r["resourceType"] for r in resources}:
        lines = [json.dumps(r) for r in resources if r["resourceType"] == rtype]
        (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    bundles[pid] = {"resourceType": "Bundle", "type": "collection", "entry": []}
    bundles[pid]["entry"] = [{"resource": r} for r in resources]
    expected = facts_table(_expected(bundles, requesting_note_reader))
    engine = SparkEngine(local_session(cores=2))
    actual = _batch_facts(folder, tmp_path, requesting_note_reader, engine=engine, skip_bad=True)
    assert _differences(expected, actual) == []
    assert {"many-letters", "long-letter"}.isdisjoint(actual["case_id"].to_pylist())
    assert _value(actual, pid, "request__levels") == ["T11", "T12"]
    assert _value(actual, "lone-pas-uuid-ids", "request__levels") == ["T12"]
    assert _value(actual, "synthea-then-pas", "patient__sex") == "female"

"""The outcomes registry over HTTP: every endpoint, roles x organisations, impossible values
refused with the field named, imports all or nothing (or skipping bad rows), the approving
pathway joined from a real case approved through POST /cases, the report JSON equal to the
file-based report on the same records, incident reports, and the audit trail."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from vertebro import registry_service
from vertebro.adapters import registry_import
from vertebro.adapters.registry_store import SqliteRegistryRepository
from vertebro.core.registry.model import ComplicationKind

from .conftest import START, Api, case_document

Json = dict[str, Any]
TODAY = START.date()  # 2026-10-06, the API's clock
PROCEDURE: Json = {
    "id": "P1", "date": "2026-09-01", "operator": "OP-A", "procedure": "vertebroplasty",
    "levels": "T12-L1", "approach": "bilateral", "image_guidance": "fluoroscopy",
    "cement_ml": {"T12": 3.5, "L1": 4}, "biopsy": True, "age": 81, "sex": "female",
    "cement_product": "Demo PMMA", "cement_manufacturer": "Demo Medical", "cement_lot": "LOT-7",
}
LEAK: Json = {"id": "C1", "kind": "cement-leak", "date": "2026-09-01", "symptomatic": True,
              "leak_site": "veins", "device_related": True, "further_intervention": False}
BASELINE: Json = {"timepoint": "baseline", "date": "2026-08-30", "pain": 8,
                  "analgesics": "strong-opioid", "mobility": "with-aids", "roland_morris": 18}
TWO_WEEKS: Json = {"timepoint": "2-weeks", "date": "2026-09-15", "pain": 4,
                   "analgesics": "weak-opioid", "mobility": "independent", "roland_morris": 10}
CSV = {"content-type": "text/csv"}


def _post(api: Api, path: str, body: Any, role: str = "requester") -> Any:
    return api.post(path, body, role=role)


def _issues(response: Any) -> list[tuple[str, str]]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return [(i.get("expression", [""])[0], i["diagnostics"]) for i in body["issue"]]


def _recorded_p1(api: Api, role: str = "requester") -> Json:
    response = _post(api, "/registry/procedures", PROCEDURE, role)
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


# --- Recording and reading ----------------------------------------------------------------------


def test_record_a_procedure_with_its_complication_and_follow_ups(api_any: Api) -> None:
    created = _recorded_p1(api_any)
    assert created["organisation"] == "org-demo-hospital"
    assert created["levels"] == ["T12", "L1"] and created["cement_ml"] == {"T12": 3.5, "L1": 4.0}
    assert created["recorded_by"] == {"id": "demo-requester", "name": "Demo Hospital EHR",
                                      "organisation": "org-demo-hospital",
                                      "at": "2026-10-06T09:00:00Z"}
    leak = _post(api_any, "/registry/procedures/P1/complications", LEAK)
    assert leak.status_code == 201, leak.text
    assert leak.json()["procedure_id"] == "P1" and leak.json()["outcome"] == "unknown"
    for follow_up in (BASELINE, TWO_WEEKS):
        response = _post(api_any, "/registry/procedures/P1/follow-ups", follow_up)
        assert response.status_code == 201, response.text
    detail = api_any.get("/registry/procedures/P1")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["procedure"]["cement_lot"] == "LOT-7" and body["case"] is None
    assert [c["id"] for c in body["complications"]] == ["C1"]
    assert [(f["timepoint"], f["pain"]) for f in body["follow_ups"]] == [
        ("baseline", 8), ("2-weeks", 4)]
    listed = api_any.get("/registry/procedures").json()
    assert listed["count"] == 1 and listed["procedures"][0]["id"] == "P1"
    assert api_any.unexpected_errors == 0


def _bad_cases() -> list[tuple[str, str, Json, str]]:
    p1 = "/registry/procedures/P1"
    return [
        ("pain 14 of 10", f"{p1}/follow-ups", {**BASELINE, "pain": 14}, "pain"),
        ("Roland-Morris 25", f"{p1}/follow-ups", {**BASELINE, "roland_morris": 25},
         "roland_morris"),
        ("follow-up before the procedure", f"{p1}/follow-ups",
         {**TWO_WEEKS, "date": "2026-08-20"}, "date"),
        ("a follow-up in the future", f"{p1}/follow-ups",
         {**TWO_WEEKS, "timepoint": "3-months", "date": "2026-12-01"}, "date"),
        ("unknown timepoint", f"{p1}/follow-ups", {**BASELINE, "timepoint": "6-weeks"},
         "timepoint"),
        ("another procedure in the body", f"{p1}/follow-ups",
         {**BASELINE, "procedure_id": "P9"}, "procedure_id"),
        ("level L9", "/registry/procedures",
         {**PROCEDURE, "id": "P2", "levels": "L9", "cement_ml": {"L9": 3}}, "levels"),
        ("cement at an untreated level", "/registry/procedures",
         {**PROCEDURE, "id": "P2", "cement_ml": {"T12": 3, "L2": 3}}, "cement_ml"),
        ("procedure in the future", "/registry/procedures",
         {**PROCEDURE, "id": "P2", "date": "2026-12-01"}, "date"),
        ("age 184", "/registry/procedures", {**PROCEDURE, "id": "P2", "age": 184}, "age"),
        ("a field the registry does not have", "/registry/procedures",
         {**PROCEDURE, "id": "P2", "colour": "red"}, "colour"),
        ("a case that does not exist", "/registry/procedures",
         {**PROCEDURE, "id": "P2", "case_id": "no-such-case"}, "case_id"),
        ("a leak without its site", f"{p1}/complications", {**LEAK, "leak_site": None},
         "leak_site"),
        ("a death after 30 days", f"{p1}/complications",
         {"id": "C9", "kind": "death", "date": "2026-10-05", "outcome": "fatal"}, "date"),
        ("a new fracture at a treated level", f"{p1}/complications",
         {"id": "C9", "kind": "new-fracture", "date": "2026-09-20", "fracture_site": "adjacent",
          "level": "L1"}, "level"),
    ]


@pytest.mark.parametrize(("what", "path", "body", "field"), _bad_cases(),
                         ids=[c[0] for c in _bad_cases()])
def test_impossible_values_are_refused_naming_the_field(
    api: Api, what: str, path: str, body: Json, field: str
) -> None:
    _recorded_p1(api)
    response = _post(api, path, body)
    assert response.status_code == 400, (what, response.text)
    assert response.headers["content-type"].startswith("application/fhir+json")
    fields = [expression for expression, _ in _issues(response)]
    assert field in fields, (what, _issues(response))
    # Nothing was stored: the procedure has no other records, and P2 does not exist.
    detail = api.get("/registry/procedures/P1").json()
    assert detail["complications"] == [] and detail["follow_ups"] == []
    assert api.get("/registry/procedures/P2").status_code == 404
    assert api.unexpected_errors == 0


def test_every_problem_of_a_record_is_named(api: Api) -> None:
    response = _post(api, "/registry/procedures",
                     {**PROCEDURE, "approach": "sideways", "image_guidance": "x-ray", "age": -1})
    assert response.status_code == 400
    assert {e for e, _ in _issues(response)} == {"approach", "image_guidance", "age"}


def test_bodies_that_are_not_records(api: Api) -> None:
    not_object = api.client.post("/registry/procedures", content=b"[1, 2]",
                                 headers={**api.as_("requester"),
                                          "content-type": "application/json"})
    assert not_object.status_code == 400
    broken = api.client.post("/registry/procedures", content=b"{",
                             headers={**api.as_("requester"),
                                      "content-type": "application/json"})
    assert broken.status_code == 400 and "malformed JSON" in broken.text
    missing = _post(api, "/registry/procedures", {"id": "P2"})
    assert {e for e, _ in _issues(missing)} >= {"date", "operator", "procedure", "levels"}


def test_duplicates_are_conflicts(api: Api) -> None:
    _recorded_p1(api)
    again = _post(api, "/registry/procedures", PROCEDURE)
    assert again.status_code == 409
    assert _issues(again) == [("id", "id: 'P1' is already in the registry")]
    assert _post(api, "/registry/procedures/P1/follow-ups", BASELINE).status_code == 201
    twice = _post(api, "/registry/procedures/P1/follow-ups", {**BASELINE, "pain": 7})
    assert twice.status_code == 409 and _issues(twice)[0][0] == "timepoint"
    assert _post(api, "/registry/procedures/P1/complications", LEAK).status_code == 201
    assert _post(api, "/registry/procedures/P1/complications", LEAK).status_code == 409


def test_outcomes_of_an_unknown_procedure_are_not_found(api: Api) -> None:
    response = _post(api, "/registry/procedures/P404/complications", LEAK)
    assert response.status_code == 404
    assert _post(api, "/registry/procedures/P404/follow-ups", BASELINE).status_code == 404


# --- Roles x organisations ----------------------------------------------------------------------


WRITES = [
    ("/registry/procedures", {**PROCEDURE, "id": "P-NEW"}),
    ("/registry/procedures/P1/complications", {**LEAK, "id": "C-NEW"}),
    ("/registry/procedures/P1/follow-ups", TWO_WEEKS),
]
READS = ["/registry/procedures", "/registry/procedures/P1", "/registry/audit-report",
         "/registry/complications/C1/incident"]


@pytest.mark.parametrize(("role", "writes", "reads"), [
    ("requester", 201, [200, 200, 200, 200]),
    ("other-org", 404, [200, 404, 200, 404]),  # its own (empty) registry; ours is invisible
    ("reviewer", 403, [403, 403, 403, 403]),
    ("reviewer-2", 403, [403, 403, 403, 403]),
    ("coder", 403, [403, 403, 403, 403]),
    ("auditor", 403, [200, 200, 200, 200]),
    ("admin", 403, [200, 200, 200, 200]),
])
def test_roles_and_organisations(api_any: Api, role: str, writes: int,
                                 reads: list[int]) -> None:
    _recorded_p1(api_any)
    assert _post(api_any, "/registry/procedures/P1/complications", LEAK).status_code == 201
    statuses = [_post(api_any, path, body, role).status_code for path, body in WRITES]
    # The other organisation may record its own procedure, but not outcomes of ours.
    expected = [201, 404, 404] if role == "other-org" else [writes] * 3
    assert statuses == expected
    assert [api_any.get(path, role).status_code for path in READS] == reads
    listed = api_any.get("/registry/procedures", role)
    if listed.status_code == 200:
        seen = {(p["organisation"], p["id"]) for p in listed.json()["procedures"]}
        ours = {("org-demo-hospital", "P1")}
        expected_seen = {"requester": ours | {("org-demo-hospital", "P-NEW")},
                         "other-org": {("org-other-clinic", "P-NEW")}}.get(role, ours)
        assert seen == expected_seen
    assert api_any.unexpected_errors == 0


def test_a_requester_cannot_name_another_organisation(api: Api) -> None:
    _recorded_p1(api)
    for path in ("/registry/procedures", "/registry/procedures/P1", "/registry/audit-report"):
        response = api.get(f"{path}?organisation=org-other-clinic")
        assert response.status_code == 403, path
        assert _issues(response)[0][0] == "organisation"


def test_auditors_read_every_unit_and_name_one_when_ids_clash(api: Api) -> None:
    _recorded_p1(api)
    assert _post(api, "/registry/procedures/P1/complications", LEAK).status_code == 201
    theirs = _post(api, "/registry/procedures", {**PROCEDURE, "operator": "OP-Z"}, "other-org")
    assert theirs.status_code == 201  # the same id in another unit is another procedure
    assert _post(api, "/registry/procedures/P1/complications", LEAK, "other-org"
                 ).status_code == 201
    assert api.get("/registry/procedures", "auditor").json()["count"] == 2
    clash = api.get("/registry/procedures/P1", "auditor")
    assert clash.status_code == 400 and _issues(clash)[0][0] == "organisation"
    one = api.get("/registry/procedures/P1?organisation=org-other-clinic", "auditor")
    assert one.status_code == 200 and one.json()["procedure"]["operator"] == "OP-Z"
    incident = api.get("/registry/complications/C1/incident", "auditor")
    assert incident.status_code == 400 and _issues(incident)[0][0] == "organisation"
    named = api.get("/registry/complications/C1/incident?organisation=org-demo-hospital",
                    "auditor")
    assert named.status_code == 200
    everyone = api.get("/registry/audit-report", "auditor").json()
    assert everyone["procedures"] == 2 and everyone["operators"] == 2
    assert api.get("/registry/audit-report?organisation=org-other-clinic",
                   "auditor").json()["procedures"] == 1


# --- Imports ------------------------------------------------------------------------------------


GOOD_CSV = (
    "id,date,operator,procedure,levels,approach,image_guidance,cement_ml,biopsy\n"
    "P1,2026-03-02,OP-A,vertebroplasty,T12-L1,bilateral,fluoroscopy,T12=3.5; L1=4,no\n"
    "P2,2026-03-09,OP-B,kyphoplasty,L2,bilateral,fluoroscopy,L2=5,yes\n"
)
BAD_CSV = GOOD_CSV + (
    "P3,2026-03-16,OP-A,vertebroplasty,L9,bilateral,ct,L9=3,no\n"
    "P4,2026-03-16,OP-A,vertebroplasty,L3,bilateral,ct,L3=-1,no\n"
)


def _import(api: Api, text: str, *, skip_bad: bool = False, media: str = "text/csv",
            role: str = "requester") -> Any:
    query = "?skip_bad=true" if skip_bad else ""
    return api.client.post(f"/registry/imports{query}", content=text.encode("utf-8"),
                           headers={**api.as_(role), "content-type": media})


def test_an_import_with_bad_rows_stores_nothing_and_names_each(api_any: Api) -> None:
    response = _import(api_any, BAD_CSV)
    assert response.status_code == 400
    issues = _issues(response)
    assert ("levels", "upload.csv:4: levels: not a spinal level: L9") in issues
    assert ("cement_ml", "upload.csv:5: cement_ml: L3: -1 mL; a volume must be greater "
                         "than 0") in issues
    assert api_any.get("/registry/procedures").json()["count"] == 0
    skipped = _import(api_any, BAD_CSV, skip_bad=True)
    assert skipped.status_code == 201, skipped.text
    body = skipped.json()
    assert body["loaded"] == {"procedures": 2, "complications": 0, "follow_ups": 0}
    assert body["bad_rows"] == 2
    assert {i["severity"] for i in body["outcome"]["issue"]} == {"warning"}
    assert {i["expression"][0] for i in body["outcome"]["issue"]} == {"levels", "cement_ml"}
    assert api_any.get("/registry/procedures").json()["count"] == 2


def test_a_fhir_bundle_imports_procedures_observations_and_adverse_events(api: Api) -> None:
    registry = registry_service.simulate_registry(
        20, seed=3, start=dt.date(2025, 1, 1), end=dt.date(2025, 6, 30), as_of=TODAY)
    bundle = json.dumps(registry_import.registry_bundle(registry))
    response = _import(api, bundle, media="application/fhir+json")
    assert response.status_code == 201, response.text
    assert response.json()["loaded"] == {
        "procedures": 20, "complications": len(registry.complications),
        "follow_ups": len(registry.follow_ups)}
    again = _import(api, bundle, media="application/fhir+json")
    assert again.status_code == 400  # every record already there: nothing stored twice
    assert all(e == "id" or e == "timepoint" for e, _ in _issues(again))


def test_imports_refuse_what_they_cannot_read(api: Api) -> None:
    assert _import(api, GOOD_CSV, media="text/plain").status_code == 415
    empty = _import(api, "")
    assert empty.status_code == 400 and "empty" in _issues(empty)[0][1]
    header = _import(api, "nonsense,columns\n1,2\n")
    assert header.status_code == 400 and "header" in _issues(header)[0][1]
    not_fhir = _import(api, '{"a": 1}', media="application/fhir+json")
    assert not_fhir.status_code == 400
    assert _import(api, GOOD_CSV, role="auditor").status_code == 403
    assert api.unexpected_errors == 0


# --- The pathway from a real case ---------------------------------------------------------------


def test_the_pathway_is_joined_from_the_case_that_approved_the_patient(api_any: Api) -> None:
    case = api_any.post("/cases", {"identifier": "REG-1", "document": case_document(
        "01-osteoporotic-l1-failed-conservative.yaml")})
    assert case.status_code == 201, case.text
    approved = case.json()
    assert approved["state"] == "approved-automatically"
    decided_by = approved["assessment"]["determinations"][0]["decided_by"]
    assert decided_by  # the criterion whose rule approved
    api_any.clock.advance(days=120)  # treated two days later, followed up for three months
    linked = {**PROCEDURE, "date": "2026-10-08", "levels": "L1", "cement_ml": {"L1": 4},
              "case_id": approved["id"], "policy": "typed", "pathway": "typed-by-hand"}
    assert _post(api_any, "/registry/procedures", linked).status_code == 201
    unlinked = {**linked, "id": "P2", "case_id": None}
    assert _post(api_any, "/registry/procedures", unlinked).status_code == 201
    for pid, later in (("P1", 2), ("P2", 8)):
        for timepoint, day, pain in (("baseline", "2026-10-07", 8),
                                     ("3-months", "2027-01-08", later)):
            response = _post(api_any, f"/registry/procedures/{pid}/follow-ups",
                             {"timepoint": timepoint, "date": day, "pain": pain})
            assert response.status_code == 201, response.text
    report = api_any.get("/registry/audit-report").json()
    pathways = {p["label"]: p for p in report["pathways"]}
    assert set(pathways) == {f"carefirst: {decided_by}", "typed: typed-by-hand"}
    from_case = pathways[f"carefirst: {decided_by}"]
    assert (from_case["procedures"], from_case["pain_relief"]["events"]) == (1, 1)
    assert pathways["typed: typed-by-hand"]["pain_relief"]["events"] == 0
    detail = api_any.get("/registry/procedures/P1").json()
    assert detail["case"] == {"case_id": approved["id"], "state": "approved-automatically",
                              "policy": "carefirst", "pathway": decided_by}
    # Another organisation cannot link (or learn of) this case.
    theirs = _post(api_any, "/registry/procedures", {**linked, "id": "X1"}, "other-org")
    assert theirs.status_code == 400 and _issues(theirs)[0][0] == "case_id"


# --- The report ---------------------------------------------------------------------------------


def test_the_report_json_equals_the_file_report_on_the_same_records(
    api: Api, tmp_path: Path
) -> None:
    registry = registry_service.simulate_registry(
        150, seed=5, start=dt.date(2024, 1, 1), end=dt.date(2025, 12, 31), as_of=TODAY)
    for name, text in registry_import.registry_csv(registry).items():
        response = _import(api, text)
        assert response.status_code == 201, (name, response.text)
    file_store = SqliteRegistryRepository(tmp_path / "file.sqlite3")
    file_store.add(registry)
    for query, start, end in (("", None, None),
                              ("&from=2024-04-01&to=2025-03-31", dt.date(2024, 4, 1),
                               dt.date(2025, 3, 31))):
        served = api.get(f"/registry/audit-report?format=json{query}")
        assert served.status_code == 200, served.text
        expected = registry_service.audit(file_store, generated_on=TODAY, period_from=start,
                                          period_to=end)
        assert served.json() == expected.model_dump(mode="json")
    leaks = {c.procedure_id for c in registry.complications
             if c.kind is ComplicationKind.CEMENT_LEAK}
    rate = next(r for r in served.json()["rates"] if r["metric"] == "cement-leak")
    in_period = {p.id for p in registry.procedures
                 if dt.date(2024, 4, 1) <= p.date <= dt.date(2025, 3, 31)}
    assert rate["proportion"]["events"] == len(leaks & in_period)


def test_the_report_as_html_and_pdf(api: Api) -> None:
    registry = registry_service.simulate_registry(
        120, seed=2, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), as_of=TODAY)
    for text in registry_import.registry_csv(registry).values():
        assert _import(api, text).status_code == 201
    html = api.get("/registry/audit-report?format=html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "data:image/png;base64," in html.text and "Wilson" in html.text
    pdf = api.get("/registry/audit-report?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"


def test_report_parameters_are_checked(api: Api) -> None:
    backwards = api.get("/registry/audit-report?from=2026-05-01&to=2026-01-01")
    assert backwards.status_code == 400 and _issues(backwards)[0][0] == "to"
    assert api.get("/registry/audit-report?format=docx").status_code == 400
    assert api.get("/registry/audit-report?from=yesterday").status_code == 400
    assert api.unexpected_errors == 0


# --- Incident reports ---------------------------------------------------------------------------


def test_a_device_incident_report_for_a_complication(api: Api) -> None:
    _recorded_p1(api)
    assert _post(api, "/registry/procedures/P1/complications", LEAK).status_code == 201
    report = api.get("/registry/complications/C1/incident")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["submitted"] is False and body["device"]["lot"] == "LOT-7"
    assert body["reporter"]["name"] == "Demo Hospital EHR"
    assert body["procedure"]["id"] == "P1" and body["patient"]["age"] == 81
    html = api.get("/registry/complications/C1/incident?format=html")
    assert html.status_code == 200 and "LOT-7" in html.text
    pdf = api.get("/registry/complications/C1/incident?format=pdf")
    assert pdf.content.startswith(b"%PDF")
    assert 'filename="incident-C1.pdf"' in pdf.headers["content-disposition"]
    not_device = {"id": "C2", "kind": "bleeding", "date": "2026-09-01", "device_related": False}
    assert _post(api, "/registry/procedures/P1/complications", not_device).status_code == 201
    refused = api.get("/registry/complications/C2/incident")
    assert refused.status_code == 400 and _issues(refused)[0][0] == "device_related"
    assert api.get("/registry/complications/C404/incident").status_code == 404


# --- The audit trail ----------------------------------------------------------------------------


def test_registry_reads_writes_and_refusals_are_audit_events(api: Api) -> None:
    _recorded_p1(api)
    api.get("/registry/procedures/P1")
    _post(api, "/registry/procedures", {**PROCEDURE, "id": "P2"}, "reviewer")
    api.get("/registry/procedures/P1", "other-org")
    api.get("/registry/audit-report", "auditor")
    trail = api.get("/audit-events", "auditor").json()
    events = [(e["resource"]["agent"][0]["who"]["identifier"]["value"],
               e["resource"]["outcome"],
               e["resource"].get("entity", [{}])[0].get("description"),
               e["resource"].get("entity", [{}])[0].get("what", {}).get("identifier", {})
               .get("value"))
              for e in trail["entry"]]
    assert events == [
        ("demo-requester", "0", "registry-procedure-create", "org-demo-hospital/P1"),
        ("demo-requester", "0", "registry-procedure-read", "org-demo-hospital/P1"),
        ("demo-reviewer", "4", None, None),
        ("demo-requester-other-org", "4", "registry-procedure-read", "org-other-clinic/P1"),
        ("demo-auditor", "0", "registry-audit-report", "start..end"),
    ]


def test_the_registry_is_in_the_openapi_schema(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/registry/procedures", "/registry/procedures/{procedure_id}",
            "/registry/procedures/{procedure_id}/complications",
            "/registry/procedures/{procedure_id}/follow-ups", "/registry/imports",
            "/registry/audit-report",
            "/registry/complications/{complication_id}/incident"} <= set(paths)


def test_urls_and_files_no_database_could_store_are_refused(api_any: Api) -> None:
    _recorded_p1(api_any)
    assert api_any.get("/registry/procedures/P%00").status_code == 400
    assert api_any.get("/registry/procedures?organisation=%00").status_code == 400
    assert api_any.get("/registry/procedures/" + "x" * 65).status_code == 404
    assert api_any.get("/registry/procedures/%C3%A9t%C3%A9").status_code == 404
    nul = _import(api_any, GOOD_CSV.replace("OP-B", "OP\x00B"))
    assert nul.status_code == 400 and "NUL" in _issues(nul)[0][1]
    escaped = _import(api_any, '{"resourceType": "Procedure", "id": "P\\u0000"}',
                      media="application/fhir+json")
    assert escaped.status_code == 400
    body = _post(api_any, "/registry/procedures", {**PROCEDURE, "id": "P5",
                                                   "operator": "OP\u0000A"})
    assert body.status_code == 400
    assert api_any.unexpected_errors == 0


def test_a_record_id_with_slashes_is_addressable(api_any: Api) -> None:
    # Hospital record numbers such as "RBH/2026/0001" are valid ids; every address naming one
    # must reach it, written plainly or with its slashes escaped.
    created = _post(api_any, "/registry/procedures", {**PROCEDURE, "id": "RBH/2026/0001"})
    assert created.status_code == 201, created.text
    for number, (written, follow_up) in enumerate(
        (("RBH/2026/0001", BASELINE), ("RBH%2F2026%2F0001", TWO_WEEKS)), start=1
    ):
        base = f"/registry/procedures/{written}"
        leak = _post(api_any, f"{base}/complications", {**LEAK, "id": f"C/{number}"})
        assert leak.status_code == 201, leak.text
        assert leak.json()["procedure_id"] == "RBH/2026/0001"
        response = _post(api_any, f"{base}/follow-ups", follow_up)
        assert response.status_code == 201, response.text
        detail = api_any.get(base)
        assert detail.status_code == 200, detail.text
        assert detail.json()["procedure"]["id"] == "RBH/2026/0001"
    body = api_any.get("/registry/procedures/RBH/2026/0001").json()
    assert [c["id"] for c in body["complications"]] == ["C/1", "C/2"]
    assert [f["timepoint"] for f in body["follow_ups"]] == ["baseline", "2-weeks"]
    assert api_any.get("/registry/complications/C/2/incident").status_code == 200
    assert api_any.get("/registry/procedures/RBH/2026/0002").status_code == 404
    assert api_any.unexpected_errors == 0


def test_the_registry_schemas_have_names_that_do_not_follow_the_code(api: Api) -> None:
    # Two models of one name make FastAPI name them by their module path, which changes when
    # code moves and renames the schema under every generated client.
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    assert {"RegistryProcedureOut", "IncidentEventOut", "EventOut"} <= set(schemas)
    assert [name for name in schemas if "__" in name] == []

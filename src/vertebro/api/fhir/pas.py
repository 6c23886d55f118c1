"""Da Vinci Prior Authorization Support (PAS): the request Bundle in, the response Bundle out.

Source: HL7 Da Vinci PAS implementation guide, STU 2.x (http://hl7.org/fhir/us/davinci-pas),
specification page (request and response bundle rules spec-11..spec-35) and the profile
examples; the review-action shape follows the IG's ClaimResponse examples (as in the Inferno
PAS test kit fixtures `valid_pa_response_bundle*.json`). Confidence: confirmed against the IG's
examples; X12 code displays as printed there.

Review action codes used (X12 306 / HCR01, system `https://codesystem.x12.org/005010/306`):
A1 "Certified in total" (approved, automatically or by a reviewer), A4 "Pended" (pended for
information or queued for clinical review), A3 "Not Certified" - **only** when a named human
reviewer has recorded a denial. A2/A6 (partial, modified) are never produced.

What makes a request Bundle unprocessable (400 with an OperationOutcome naming the problem):
not a Bundle; `type` other than `collection`; no `identifier` or `timestamp`; no entries;
an entry without `fullUrl` or resource, or a fullUrl used twice; a first entry that is not a
Claim (a response bundle sent to `$submit` is named as such); a Claim whose `use` is not
`preauthorization`, or without identifier, patient, insurer, provider or items; an item without
a unique positive `sequence`; a reference to a resource that is not in the bundle (spec-13).
A requested service that no shipped policy covers is not an error: it is pended for review.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.bundle import BundleIndex, Entry, check_r4, dangling_references
from vertebro.adapters.fhir.codes import PROCEDURE_CODES, procedure_by_words, system_of
from vertebro.adapters.fhir.elements import codings, concept_text, obj, objs, string
from vertebro.core.cases import (
    ApprovedByReviewer,
    AutoApproved,
    DeniedByReviewer,
    PendedForInformation,
    Priority,
    QueuedForReview,
    RequestedItem,
    State,
    UnderAppeal,
)
from vertebro.core.catalogue import Procedure

Json = dict[str, Any]

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
REVIEW_ACTION = f"{PAS}/extension-reviewAction"
REVIEW_ACTION_CODE = f"{PAS}/extension-reviewActionCode"
ITEM_TRACE_NUMBER = f"{PAS}/extension-itemTraceNumber"
LEVEL_OF_SERVICE = f"{PAS}/extension-levelOfServiceCode"
REQUESTED_SERVICE = f"{PAS}/extension-requestedService"
X12_306 = "https://codesystem.x12.org/005010/306"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CASE_ID_SYSTEM = "urn:vertebro:prior-authorisation-case"

REVIEW_ACTIONS: dict[str, str] = {
    "A1": "Certified in total",
    "A3": "Not Certified",
    "A4": "Pended",
}
# X12 1338 level of service codes read as expedited; anything else (E elective, absent) is
# standard. Source: PAS Claim examples (U Urgent); 03 Emergency per X12 1338 (confidence:
# likely). FHIR Claim.priority 'stat' (terminology.hl7.org processpriority) is expedited too.
EXPEDITED_LEVELS = frozenset({"U", "03"})
EXPEDITED_PRIORITIES = frozenset({"stat"})


@dataclass(frozen=True, slots=True)
class PasRequest:
    """A checked PAS request (or inquiry) bundle and what the service needs from it."""

    bundle: Json
    index: BundleIndex
    claim: Entry
    key: str  # Claim.identifier as 'system|value'
    identifiers: list[Json]  # Claim.identifier as sent
    items: tuple[RequestedItem, ...]
    item_traces: tuple[Json | None, ...]  # per item (aligned), its itemTraceNumber identifier
    priority: Priority
    patient_key: str | None
    provider_keys: tuple[str, ...]
    questionnaire_responses: tuple[Entry, ...]  # supportingInfo QuestionnaireResponses


# The longest identifier (system|value) a case is stored and found by: the database's column
# size, checked here so that every database refuses the same requests the same way.
MAX_IDENTIFIER_CHARS = 500


def _fail(where: str, message: str) -> InputError:
    return InputError(where, message)


def _a(word: object) -> str:
    text = str(word)
    return f"an {text}" if text[:1].upper() in "AEIOU" else f"a {text}"


INQUIRY_PROFILE = f"{PAS}/profile-pas-inquiry-request-bundle"


def read_request(data: Any, *, operation: str = "$submit") -> PasRequest:
    """Check a PAS request bundle and read what the service needs.

    Raises:
        InputError: the bundle cannot be processed; the message names the problem and
        `source` the element (a FHIRPath-like expression).
    """
    if not isinstance(data, dict) or "resourceType" not in data:
        kind = "a JSON list" if isinstance(data, list) else "JSON without 'resourceType'"
        raise _fail("Bundle", f"{operation} takes a PAS request Bundle; this is {kind}, "
                              "not a FHIR resource")
    rtype = data.get("resourceType")
    if rtype != "Bundle":
        raise _fail("resourceType", f"{operation} takes a PAS request Bundle whose first entry "
                                    f"is a Claim; got {_a(rtype)} resource")
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        raise _fail("Bundle.entry", "the Bundle has no entries: a PAS request starts with a "
                                    "Claim followed by the resources it references")
    first = (obj(entries[0]) or {}).get("resource")
    first_type = (obj(first) or {}).get("resourceType")
    if first_type != "Claim":
        extra = " (this is a PAS response bundle, not a request)" if first_type == (
            "ClaimResponse") else ""
        raise _fail("Bundle.entry[0].resource", f"the first entry of a PAS request Bundle must "
                                                f"be a Claim; it is {_a(first_type)}{extra}")
    profiles = (obj(data.get("meta")) or {}).get("profile") or []
    if operation == "$submit" and INQUIRY_PROFILE in profiles:
        raise _fail("Bundle.meta.profile", "this is a PAS inquiry bundle; POST it to "
                                           "Claim/$inquire, not Claim/$submit")
    if data.get("type") != "collection":
        raise _fail("Bundle.type", f"a PAS request Bundle has type 'collection'; got "
                                   f"{data.get('type')!r}")
    if not obj(data.get("identifier")) or not string(data["identifier"].get("value")):
        raise _fail("Bundle.identifier", "a PAS request Bundle needs an identifier (the "
                                         "submitter's transaction identifier)")
    if not string(data.get("timestamp")):
        raise _fail("Bundle.timestamp", "a PAS request Bundle needs a timestamp")
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        where = f"Bundle.entry[{position}]"
        if not obj(entry) or not obj(entry.get("resource")):
            raise _fail(where, "an entry without a resource")
        full_url = string(entry.get("fullUrl"))
        if full_url is None:
            raise _fail(f"{where}.fullUrl", "every entry of a PAS Bundle needs a fullUrl")
        if full_url in seen:
            raise _fail(f"{where}.fullUrl", f"fullUrl {full_url} appears twice; each resource "
                                            "appears at most once (spec-14)")
        seen.add(full_url)
    try:
        check_r4(data, "Bundle")
    except InputError as exc:
        raise _fail("Bundle", exc.message) from None
    index = BundleIndex.of(data)
    claim = index.entries[0]
    missing = dangling_references(index)
    if missing:
        shown = "; ".join(missing[:3])
        raise _fail("Bundle.entry", f"{len(missing)} referenced resource(s) missing from the "
                                    f"bundle (spec-13): {shown}")
    return _read_claim(data, index, claim)


def _read_claim(data: Json, index: BundleIndex, claim: Entry) -> PasRequest:
    c = claim.resource
    if c.get("use") != "preauthorization":
        raise _fail("Claim.use", f"Claim.use must be 'preauthorization'; got {c.get('use')!r}")
    identifiers = [i for i in objs(c.get("identifier")) if string(i.get("value"))]
    if not identifiers:
        raise _fail("Claim.identifier", "the Claim needs an identifier (the request's trace "
                                        "number); repeats with the same identifier are the same "
                                        "request")
    first_id = identifiers[0]
    key = f"{string(first_id.get('system')) or ''}|{string(first_id.get('value'))}"
    if len(key) > MAX_IDENTIFIER_CHARS:
        raise _fail("Claim.identifier", f"the identifier (system and value) is {len(key):,} "
                                        f"characters; the limit is {MAX_IDENTIFIER_CHARS}")
    for element in ("patient", "insurer", "provider"):
        if not string((obj(c.get(element)) or {}).get("reference")):
            raise _fail(f"Claim.{element}", f"the Claim needs a {element} reference")
    raw_items = c.get("item")
    if not isinstance(raw_items, list) or not raw_items:
        raise _fail("Claim.item", "the Claim lists no items: nothing is requested")
    items: list[RequestedItem] = []
    traces: list[Json | None] = []
    for position, item in enumerate(raw_items):
        where = f"Claim.item[{position}]"
        if not isinstance(item, dict):
            raise _fail(where, "an item must be an object")
        sequence = item.get("sequence")
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise _fail(f"{where}.sequence", "every item needs a positive integer sequence")
        trace = next((ext["valueIdentifier"] for ext in objs(item.get("extension"))
                      if ext.get("url") == ITEM_TRACE_NUMBER and obj(ext.get("valueIdentifier"))),
                     None)
        for earlier, earlier_trace in zip(items, traces, strict=True):
            # A repeated sequence is tolerated only when item trace numbers tell the items apart.
            if earlier.sequence == sequence and (trace is None or trace == earlier_trace):
                raise _fail(f"{where}.sequence", f"item sequence {sequence} is used twice and "
                                                 "no distinct itemTraceNumber tells the items "
                                                 "apart (spec-34)")
        items.append(_item(index, item, sequence, where))
        traces.append(trace)
    patient = index.resolve(_ref(c.get("patient")))
    patient_key = _identifier_key(patient)
    if patient is not None and patient_key is not None and len(patient_key) > MAX_IDENTIFIER_CHARS:
        raise _fail(f"{patient.path}.identifier", f"the patient's identifier (system and value) is "
                                                  f"{len(patient_key):,} characters; the limit is "
                                                  f"{MAX_IDENTIFIER_CHARS}")
    return PasRequest(
        bundle=data, index=index, claim=claim, key=key, identifiers=identifiers,
        items=tuple(items), item_traces=tuple(traces), priority=_priority(c),
        patient_key=patient_key,
        provider_keys=_provider_keys(index, c),
        questionnaire_responses=_questionnaire_responses(index, c),
    )


def patient_reference(bundle: Json) -> str | None:
    """Claim.patient.reference of a stored PAS request bundle."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not isinstance(entries, list) or not entries:
        return None
    claim = (obj(entries[0]) or {}).get("resource")
    return _ref((obj(claim) or {}).get("patient"))


def _ref(node: object) -> str | None:
    return string((obj(node) or {}).get("reference"))


def _item(index: BundleIndex, item: Json, sequence: int, where: str) -> RequestedItem:
    concepts = [(item.get("productOrService"), f"{where}.productOrService")]
    for ext in objs(item.get("extension")):
        if ext.get("url") == REQUESTED_SERVICE:
            target = index.resolve(_ref(ext.get("valueReference")))
            if target is not None:
                code = target.resource.get("code") or target.resource.get("codeCodeableConcept")
                concepts.append((code, f"{target.path}.code"))
    codes: list[str] = []
    procedure: Procedure | None = None
    for concept, path in concepts:
        for coding in codings(concept, path):
            codes.append(f"{coding.system}|{coding.code}")
            system = system_of(coding.system)
            known = PROCEDURE_CODES.get((system, coding.code.upper())) if system else None
            if known is not None and procedure is None:
                procedure = known.procedure
    if procedure is None:
        for concept, _path in concepts:
            words = concept_text(concept)
            if words and procedure_by_words(words):
                procedure = procedure_by_words(words)
                break
    label = concept_text(item.get("productOrService")) or (codes[0] if codes else "no code")
    if procedure is not None:
        label = f"{procedure.value} ({label})" if procedure.value not in label.lower() else label
    return RequestedItem(sequence, f"item {sequence}: {label}", procedure,
                         tuple(dict.fromkeys(codes)))


def _priority(claim: Json) -> Priority:
    for ext in objs(claim.get("extension")):
        if ext.get("url") == LEVEL_OF_SERVICE:
            for coding in codings(ext.get("valueCodeableConcept"), "levelOfServiceCode"):
                if coding.code in EXPEDITED_LEVELS:
                    return Priority.EXPEDITED
    for coding in codings(claim.get("priority"), "Claim.priority"):
        if coding.code in EXPEDITED_PRIORITIES:
            return Priority.EXPEDITED
    return Priority.STANDARD


def _identifier_key(entry: Entry | None) -> str | None:
    if entry is None:
        return None
    for ident in objs(entry.resource.get("identifier")):
        value = string(ident.get("value"))
        if value:
            return f"{string(ident.get('system')) or ''}|{value}"
    return None


def _provider_keys(index: BundleIndex, claim: Json) -> tuple[str, ...]:
    refs = [_ref(claim.get("provider"))]
    refs += [_ref(member.get("provider")) for member in objs(claim.get("careTeam"))]
    keys: list[str] = []
    for ref in refs:
        entry = index.resolve(ref)
        if entry is None:
            continue
        for ident in objs(entry.resource.get("identifier")):
            value = string(ident.get("value"))
            if value:
                keys.append(f"{string(ident.get('system')) or ''}|{value}")
    return tuple(dict.fromkeys(keys))


def _questionnaire_responses(index: BundleIndex, claim: Json) -> tuple[Entry, ...]:
    found = []
    for info in objs(claim.get("supportingInfo")):
        entry = index.resolve(_ref(info.get("valueReference")))
        if entry is not None and entry.type == "QuestionnaireResponse":
            found.append(entry)
    return tuple(found)


# --- The response --------------------------------------------------------------------------


def review_action(state: State) -> str:
    """The X12 306 review action for a case state: A3 only after a human denial."""
    if isinstance(state, AutoApproved | ApprovedByReviewer):
        return "A1"
    if isinstance(state, DeniedByReviewer):
        return "A3"
    assert isinstance(state, PendedForInformation | QueuedForReview | UnderAppeal)
    return "A4"


def _notes(state: State) -> list[str]:
    if isinstance(state, AutoApproved):
        return ["Approved automatically: every requested item meets the policy's criteria."]
    if isinstance(state, PendedForInformation):
        return ["Pended for information. Please answer: " + " ".join(
            f"({n}) {q.question}" for n, q in enumerate(state.questions, 1))]
    if isinstance(state, QueuedForReview):
        notes = ["Pended for clinical review by a clinician: " + "; ".join(
            f"{f.item}: {f.detail}" for f in state.flags)]
        if state.questions:
            notes.append("Information that would help: " + " ".join(
                f"({n}) {q.question}" for n, q in enumerate(state.questions, 1)))
        return notes
    if isinstance(state, ApprovedByReviewer):
        return [f"Approved by {state.reviewer.name}: {state.reason.text}"]
    if isinstance(state, DeniedByReviewer):
        return [f"Not certified by {state.reviewer.name} (clinical reviewer): "
                f"{state.reason.text}"]
    return [f"Under appeal since {state.at.date().isoformat()}: {state.reason.text}"]


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def response_bundle(
    request: PasRequest, *, case_id: str, state: State, now: dt.datetime, inquiry: bool = False,
) -> Json:
    """The PAS response Bundle: a ClaimResponse first, then the resources it references, echoed
    from the request with the same fullUrl (spec-30, spec-33)."""
    claim = request.claim.resource
    action = review_action(state)
    approved = action == "A1"
    decided = isinstance(state, AutoApproved | ApprovedByReviewer | DeniedByReviewer)
    notes = _notes(state)
    items = []
    for item, trace in zip(request.items, request.item_traces, strict=True):
        extensions: list[Json] = []
        if trace is not None:
            extensions.append({"url": ITEM_TRACE_NUMBER, "valueIdentifier": trace})
        review: list[Json] = []
        if approved:
            review.append({"url": "number", "valueString": case_id})
        review.append({"url": REVIEW_ACTION_CODE, "valueCodeableConcept": {"coding": [
            {"system": X12_306, "code": action, "display": REVIEW_ACTIONS[action]}]}})
        items.append({
            **({"extension": extensions} if extensions else {}),
            "itemSequence": item.sequence,
            "noteNumber": list(range(1, len(notes) + 1)),
            "adjudication": [{
                "extension": [{"url": REVIEW_ACTION, "extension": review}],
                "category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]},
            }],
        })
    profile = "profile-claiminquiryresponse" if inquiry else "profile-claimresponse"
    response: Json = {
        "resourceType": "ClaimResponse",
        "id": case_id,
        "meta": {"profile": [f"{PAS}/{profile}"]},
        "identifier": [*request.identifiers, {"system": CASE_ID_SYSTEM, "value": case_id}],
        "status": "active",
        "type": claim.get("type"),
        "use": "preauthorization",
        "patient": {"reference": _ref(claim.get("patient"))},
        "created": _utc(now),
        "insurer": {"reference": _ref(claim.get("insurer"))},
        "requestor": {"reference": _ref(claim.get("provider"))},
        "request": {"identifier": request.identifiers[0]},
        "outcome": "complete" if decided else "queued",
        "disposition": notes[0][:1000],
        "item": items,
        "processNote": [{"number": n, "type": "display", "text": text}
                        for n, text in enumerate(notes, 1)],
    }
    if approved:
        response["preAuthRef"] = case_id
    bundle_profile = "profile-pas-inquiry-response-bundle" if inquiry else (
        "profile-pas-response-bundle")
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, case_id + _utc(now))}",
                "resource": response}]
    entries += _echoed(request.index, response)
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [f"{PAS}/{bundle_profile}"]},
        "identifier": {"system": "urn:vertebro:pas-response", "value": str(uuid.uuid4())},
        "type": "collection",
        "timestamp": _utc(now),
        "entry": entries,
    }


def _echoed(index: BundleIndex, response: Json) -> list[Json]:
    """The request's entries that the response references, transitively, as they were sent."""
    out: list[Json] = []
    taken: set[str] = set()
    queue = list(_references(response))
    while queue:
        entry = index.resolve(queue.pop(0))
        if entry is None or entry.full_url is None or entry.full_url in taken:
            continue
        taken.add(entry.full_url)
        out.append({"fullUrl": entry.full_url, "resource": entry.resource})
        queue.extend(_references(entry.resource))
    return out


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref and not ref.startswith("#"):
            yield ref
        for key, value in node.items():
            if key not in {"contained", "text"}:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


# --- Checking a response bundle (ours, or the IG's examples) --------------------------------


CLAIM_RESPONSE_REQUIRED = ("status", "type", "use", "patient", "created", "insurer", "outcome")


def response_problems(bundle: Any, request: Json | None = None) -> list[str]:
    """What makes a PAS response Bundle non-conformant: the first entry is not a ClaimResponse,
    required elements or the profile are missing, a referenced resource is absent (spec-30,
    spec-31 and 'entries for all referenced resources'), and - given the request - a patient
    whose identifier differs from the request's or an item sequence the request did not have."""
    problems: list[str] = []
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return ["not a Bundle"]
    entries = [e for e in bundle.get("entry") or [] if obj(e) and obj(e.get("resource"))]
    if not entries:
        return ["the Bundle has no entries"]
    first = entries[0]["resource"]
    if first.get("resourceType") != "ClaimResponse":
        problems.append(f"the first entry is a {first.get('resourceType')}, not a ClaimResponse")
        return problems
    for element in CLAIM_RESPONSE_REQUIRED:
        if first.get(element) in (None, "", [], {}):
            problems.append(f"ClaimResponse.{element} is missing")
    profiles = (obj(first.get("meta")) or {}).get("profile") or []
    if not any(isinstance(p, str) and p.startswith(f"{PAS}/profile-claim") for p in profiles):
        problems.append("ClaimResponse.meta.profile does not name a PAS ClaimResponse profile")
    index = BundleIndex.of(bundle)
    for ref in dict.fromkeys(_references(first)):
        if index.resolve(ref) is None:
            problems.append(f"ClaimResponse references {ref}, which is not in the Bundle")
    urls = [string(e.get("fullUrl")) for e in entries]
    if len([u for u in urls if u]) != len({u for u in urls if u}):
        problems.append("a fullUrl appears more than once")
    if request is not None:
        problems += _against_request(index, first, request)
    return problems


def _against_request(index: BundleIndex, response: Json, request: Json) -> list[str]:
    problems = []
    req_index = BundleIndex.of(request)
    claim = req_index.entries[0].resource if req_index.entries else {}
    asked = _identifier_key(req_index.resolve(_ref(claim.get("patient"))))
    answered = _identifier_key(index.resolve(_ref(response.get("patient"))))
    if asked is not None and answered != asked:
        problems.append(f"the response's patient ({answered}) is not the request's ({asked})")
    sequences = {i.get("sequence") for i in objs(claim.get("item"))}
    for item in objs(response.get("item")):
        if item.get("itemSequence") not in sequences:
            problems.append(f"ClaimResponse.item {item.get('itemSequence')} echoes no request "
                            "item (spec-34)")
    return problems

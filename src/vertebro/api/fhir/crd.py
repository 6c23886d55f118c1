"""CDS Hooks 2.0 and Da Vinci Coverage Requirements Discovery (CRD): discovery, the hook
request, and the coverage-information system action.

Sources: CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/: discovery `{"services": [...]}`, the
request's `hook`, `hookInstance`, `context`, `prefetch`; the response's `cards` and
`systemActions`); Da Vinci CRD STU 2.x (http://hl7.org/fhir/us/davinci-crd): the
`ext-coverage-information` extension and its codes (CodeSystem coverage-information-codes,
CRD 2.2.1; confidence: confirmed against the IG pages). Coverage information is returned only as
a system action, never as a card (resp-25).

How an assessment becomes coverage information (one extension per vertebral augmentation order):

| situation | covered | pa-needed | doc-needed | info-needed |
|---|---|---|---|---|
| the Coverage in prefetch is not active | not-covered | - | - | - |
| order named by words only, no billing code | conditional | auth-needed | - | detail-code |
| every criterion met (software would approve) | covered | auth-needed | - | - |
| information missing (software would pend) | covered | auth-needed | clinical (withpa) | - |
| a clinician must review (e.g. criteria not met) | covered | auth-needed | clinical (withpa) | - |

`not-covered` is said only for an inactive Coverage - an administrative fact - and never
because clinical criteria are unmet: that is a decision for a clinician, not for software.
Prior authorisation stays `auth-needed` because the shipped payer policy requires it; CRD gives
no authorisation number (`satisfied` is not used).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.codes import PROCEDURE_CODES, procedure_by_words, system_of
from vertebro.adapters.fhir.elements import codings, concept_text, obj, objs, string
from vertebro.core.cases import AutoApproved, PendedForInformation, Triage
from vertebro.core.catalogue import Procedure

Json = dict[str, Any]

COVERAGE_INFORMATION = (
    "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
)
CRD_TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
CPT = "http://www.ama-assn.org/go/cpt"
ORDER_TYPES = ("ServiceRequest",)  # vertebral augmentation is ordered as a ServiceRequest

Covered = Literal["covered", "not-covered", "conditional"]
PaNeeded = Literal["auth-needed", "no-auth", "satisfied", "conditional"]
DocNeeded = Literal["clinical", "admin", "patient", "conditional"]
InfoNeeded = Literal["performer", "location", "timeframe", "contract-window", "detail-code"]

_PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "encounters": "Encounter?patient={{context.patientId}}",
}


@dataclass(frozen=True, slots=True)
class HookService:
    """One CDS service this server offers."""

    id: str
    hook: Literal["order-select", "order-sign"]
    title: str
    description: str


SERVICES: tuple[HookService, ...] = (
    HookService(
        "vertebro-order-select", "order-select",
        "Vertebral augmentation coverage requirements (order-select)",
        "Coverage, prior-authorisation and documentation requirements for vertebroplasty, "
        "kyphoplasty and sacroplasty orders (CPT 22510-22515, 0200T, 0201T) as they are "
        "selected. Answers with the Da Vinci CRD coverage-information system action.",
    ),
    HookService(
        "vertebro-order-sign", "order-sign",
        "Vertebral augmentation coverage requirements (order-sign)",
        "Coverage, prior-authorisation and documentation requirements for vertebroplasty, "
        "kyphoplasty and sacroplasty orders (CPT 22510-22515, 0200T, 0201T) when they are "
        "signed. Answers with the Da Vinci CRD coverage-information system action.",
    ),
)


def discovery() -> Json:
    """The CDS Hooks discovery document."""
    return {"services": [
        {"hook": s.hook, "id": s.id, "title": s.title, "description": s.description,
         "prefetch": dict(_PREFETCH)}
        for s in SERVICES
    ]}


def service(service_id: str) -> HookService | None:
    """The service with this id."""
    return next((s for s in SERVICES if s.id == service_id), None)


class HookRequest(BaseModel):
    """A CDS Hooks request, read leniently: unknown members are kept and ignored."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AugmentationOrder:
    """A draft order for vertebral augmentation."""

    resource: Json
    procedure: Procedure
    billing: Json | None  # the CPT/HCPCS coding when the order carries one


def check_request(request: HookRequest, svc: HookService) -> list[Json]:
    """The draft orders the hook asks about (for order-select: the selected ones).

    Tolerated: a draftOrders Bundle without `type`, entries without a resource, unparseable
    dates elsewhere in the request.

    Raises:
        InputError: the hook does not match the service, or draftOrders is missing or not a
        Bundle.
    """
    if request.hook != svc.hook:
        raise InputError("hook", f"service {svc.id} answers the {svc.hook} hook; this request "
                                 f"is for {request.hook!r}")
    draft = request.context.get("draftOrders")
    if not isinstance(draft, dict) or draft.get("resourceType") != "Bundle":
        raise InputError("context.draftOrders", f"{svc.hook} needs context.draftOrders, a "
                                                "Bundle of the draft orders")
    orders = [e["resource"] for e in objs(draft.get("entry"))
              if obj(e.get("resource")) and string(e["resource"].get("resourceType"))]
    selections = request.context.get("selections")
    if svc.hook == "order-select" and isinstance(selections, list) and selections:
        wanted = {s for s in selections if isinstance(s, str)}
        orders = [o for o in orders if f"{o.get('resourceType')}/{o.get('id')}" in wanted]
    return orders


def augmentation_orders(orders: list[Json]) -> list[AugmentationOrder]:
    """The orders that request vertebroplasty, kyphoplasty or sacroplasty."""
    found = []
    for order in orders:
        if order.get("resourceType") not in ORDER_TYPES:
            continue
        concept = order.get("code")
        procedure: Procedure | None = None
        billing = None
        for coding in codings(concept, "code"):
            system = system_of(coding.system)
            known = PROCEDURE_CODES.get((system, coding.code.upper())) if system else None
            if known is not None:
                procedure = known.procedure
                billing = {"system": coding.system, "code": coding.code}
                break
        if procedure is None:
            words = concept_text(concept)
            procedure = procedure_by_words(words) if words else None
        if procedure is not None:
            found.append(AugmentationOrder(order, procedure, billing))
    return found


def context_bundle(request: HookRequest, orders: list[Json]) -> Json:
    """The orders and every prefetched resource as one collection Bundle, for the FHIR reader."""
    resources: list[Json] = list(orders)
    for value in (request.prefetch or {}).values():
        resource = obj(value)
        if resource is None:
            continue  # the client may send null for a prefetch it could not fill
        if resource.get("resourceType") == "Bundle":
            resources += [e["resource"] for e in objs(resource.get("entry"))
                          if obj(e.get("resource"))]
        elif string(resource.get("resourceType")):
            resources.append(resource)
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def coverages(request: HookRequest) -> list[Json]:
    """The Coverage resources in the prefetch."""
    found = []
    for value in (request.prefetch or {}).values():
        resource = obj(value)
        if resource is None:
            continue
        if resource.get("resourceType") == "Coverage":
            found.append(resource)
        elif resource.get("resourceType") == "Bundle":
            found += [e["resource"] for e in objs(resource.get("entry"))
                      if (obj(e.get("resource")) or {}).get("resourceType") == "Coverage"]
    return found


def coverage_for(request: HookRequest, order: Json) -> tuple[str, Json | None]:
    """The Coverage to answer for: the order's insurance, else the first active prefetched one.

    Raises:
        InputError: no Coverage at all (answered with 412 Precondition Failed).
    """
    prefetched = coverages(request)
    for ref in objs(order.get("insurance")):
        reference = string(ref.get("reference"))
        if reference:
            match = next((c for c in prefetched if reference.endswith(f"Coverage/{c.get('id')}")),
                         None)
            return reference, match
    if prefetched:
        chosen = next((c for c in prefetched if c.get("status") == "active"), prefetched[0])
        return f"Coverage/{chosen.get('id')}", chosen
    raise InputError("prefetch.coverage", "no Coverage: send the 'coverage' prefetch or "
                                          "ServiceRequest.insurance; coverage information "
                                          "cannot be given without one")


@dataclass(frozen=True, slots=True)
class CoverageAnswer:
    """The coded coverage information for one order."""

    covered: Covered
    pa_needed: PaNeeded | None
    doc_needed: DocNeeded | None
    info_needed: InfoNeeded | None
    reasons: tuple[str, ...]


def answer(order: AugmentationOrder, coverage: Json | None, result: Triage) -> CoverageAnswer:
    """The coverage information for an order from the software's triage (table in the module
    docstring)."""
    status = (coverage or {}).get("status")
    if coverage is not None and status not in (None, "active"):
        return CoverageAnswer("not-covered", None, None, None,
                              (f"The member's coverage is {status}, not active.",))
    if order.billing is None:
        return CoverageAnswer("conditional", "auth-needed", None, "detail-code",
                              ("The order names the procedure in words only; a CPT code "
                               "(22510-22515, 0200T, 0201T) is needed to determine coverage.",))
    if isinstance(result, AutoApproved):
        return CoverageAnswer("covered", "auth-needed", None, None, (
            "Prior authorisation is required. On the information in this order the policy's "
            "criteria are met; a PAS request with the same information is approved without "
            "clinical review.",))
    if isinstance(result, PendedForInformation):
        asked = [q.question for q in result.questions]
        shown = " ".join(f"({n}) {q}" for n, q in enumerate(asked[:5], 1))
        more = f" And {len(asked) - 5} more." if len(asked) > 5 else ""
        return CoverageAnswer("covered", "auth-needed", "clinical", None, (
            "Prior authorisation is required with clinical documentation. Missing: "
            f"{shown}{more}",))
    why = "; ".join(f.detail for f in result.flags)
    return CoverageAnswer("covered", "auth-needed", "clinical", None, (
        "Prior authorisation is required with clinical documentation; a clinician will review "
        f"the request ({why}). No adverse decision is made automatically.",))


def coverage_extension(
    ans: CoverageAnswer, *, coverage_ref: str, billing: Json | None, questionnaire: str | None,
    today: dt.date,
) -> Json:
    """The ext-coverage-information extension."""
    parts: list[Json] = [
        {"url": "coverage", "valueReference": {"reference": coverage_ref}},
        {"url": "covered", "valueCode": ans.covered},
    ]
    if ans.pa_needed:
        parts.append({"url": "pa-needed", "valueCode": ans.pa_needed})
    if ans.doc_needed:
        parts.append({"url": "doc-needed", "valueCode": ans.doc_needed})
        parts.append({"url": "doc-purpose", "valueCode": "withpa"})
    if ans.info_needed:
        parts.append({"url": "info-needed", "valueCode": ans.info_needed})
    if billing is not None:
        parts.append({"url": "billingCode", "valueCoding": billing})
    for reason in ans.reasons:
        parts.append({"url": "reason", "valueCodeableConcept": {"text": reason}})
    if ans.doc_needed and questionnaire:
        parts.append({"url": "questionnaire", "valueCanonical": questionnaire})
    parts.append({"url": "date", "valueDate": today.isoformat()})
    parts.append({"url": "coverage-assertion-id", "valueString": str(uuid.uuid4())})
    return {"url": COVERAGE_INFORMATION, "extension": parts}


def system_action(order: Json, extension: Json) -> Json:
    """An `update` system action: the order with the coverage information added."""
    resource = dict(order)
    resource["extension"] = [*objs(order.get("extension")), extension]
    return {"type": "update",
            "description": "Added coverage information to the order (Da Vinci CRD).",
            "resource": resource}


def wants_coverage_info(request: HookRequest) -> bool:
    """False when the client's CRD configuration switches coverage information off."""
    config = obj((request.extension or {}).get("davinci-crd.configuration")) or {}
    return config.get("coverage-info") is not False

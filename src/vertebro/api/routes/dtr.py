"""Da Vinci DTR: `Questionnaire/$questionnaire-package` (see `vertebro.api.fhir.dtr`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vertebro import case_service
from vertebro.adapters import fhir
from vertebro.api.deps import AppState, json_body, require, state
from vertebro.api.errors import ApiError
from vertebro.api.fhir import crd, dtr, pas
from vertebro.api.fhir.outcome import FHIR_JSON
from vertebro.api.security import Permission, Principal
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import FactSet

router = APIRouter(prefix="/fhir", tags=["Da Vinci DTR"])


@router.post(
    "/Questionnaire/$questionnaire-package",
    summary="Get the questionnaire for what a request still needs (DTR)",
    response_class=JSONResponse,
    openapi_extra={"requestBody": {"required": True, "content": {"application/fhir+json": {
        "schema": {"type": "object", "description": "Parameters: order, coverage, "
                                                    "questionnaire, context (a case id)"}}}}},
)
async def questionnaire_package(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.QUESTIONNAIRE))],
) -> JSONResponse:
    """Parameters in (`order` resources and/or `context` = a prior-authorisation case id);
    Parameters out with `PackageBundle`: a Questionnaire asking only what the policy still
    needs, and a QuestionnaireResponse pre-filled from the record (information-origin
    auto-server). Post the completed response to `/cases/{id}/questionnaire-response` or send it
    with the PAS request as supportingInfo."""
    data = await json_body(request)
    body = await run_in_threadpool(_package, state(request), principal, data)
    return JSONResponse(body, media_type=FHIR_JSON)


def _package(app: AppState, principal: Principal, data: Any) -> dict[str, Any]:
    asked = dtr.read_package_request(data)
    now = app.now()
    warnings = [f"questionnaire {c} is not one this server provides (it generates "
                f"{dtr.QUESTIONNAIRE_PREFIX}<policy>-... from the policy's criteria)"
                for c in asked.unknown_questionnaires]
    subject = None
    context: list[dict[str, Any]] = []
    if asked.context is not None:
        stored = case_service.get_case(app.db, principal.actor(), asked.context, now=now,
                                       operation="questionnaire-package")
        facts: FactSet = stored.facts
        requests = stored.requests or tuple(
            ProcedureRequest(i.procedure) for i in stored.items if i.procedure is not None)
        policy_name = stored.policy.id if stored.policy else app.settings.default_policy
        day = stored.case.received_at.date()
        context.append({"identifier": {"system": pas.CASE_ID_SYSTEM, "value": stored.case.id}})
        if stored.channel == "pas":
            subject = pas.patient_reference(stored.submission)
    else:
        orders = crd.augmentation_orders(asked.orders)
        bundle = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"resource": r} for r in [*asked.orders, *asked.coverages]]}
        reading = fhir.read_fhir(bundle, "questionnaire-package order", default_id="order",
                                 as_of=now.date())
        warnings += list(reading.warnings)
        facts = reading.case.facts
        found = {r.procedure: r for r in reading.case.requests}
        requests = tuple(found.get(o.procedure) or ProcedureRequest(o.procedure)
                         for o in orders)
        requests = tuple({r.procedure: r for r in requests}.values())
        policy_name = app.settings.default_policy
        day = now.date()
        subject = next((str(o.resource.get("subject", {}).get("reference"))
                        for o in orders if isinstance(o.resource.get("subject"), dict)), None)
        context += [{"reference": f"{r.get('resourceType')}/{r.get('id')}"}
                    for r in [*(o.resource for o in orders), *asked.coverages] if r.get("id")]
    if not requests:
        unknown = "; ".join(warnings)
        raise ApiError(400, "no vertebroplasty, kyphoplasty or sacroplasty order (CPT "
                            "22510-22515, 0200T, 0201T) or case (context) to build a "
                            f"questionnaire for{'; ' + unknown if unknown else ''}",
                       "not-found", expression="Parameters.parameter")
    result = case_service.assess_procedures(facts, requests, policy_name, day)
    asks = dtr.questions_for(result.policy, list(result.determinations))
    form = dtr.questionnaire(result.policy, asks, base_url=app.settings.public_base_url,
                             today=now.date())
    response = dtr.prefilled_response(form, asks, facts, now=now, subject=subject,
                                      context=context)
    if not asks:
        warnings.append("nothing is missing: the record settles every criterion")
    return dtr.package(form, response, warnings)

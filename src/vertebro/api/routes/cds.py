"""CDS Hooks discovery and the CRD order-select / order-sign services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from vertebro import case_service
from vertebro.adapters import fhir
from vertebro.adapters.errors import InputError
from vertebro.api.deps import AppState, json_body, json_object, require, state
from vertebro.api.errors import ApiError
from vertebro.api.fhir import crd
from vertebro.api.security import Permission
from vertebro.core.evaluator import ProcedureRequest

router = APIRouter(tags=["CDS Hooks / Da Vinci CRD"])


@router.get("/cds-services", summary="CDS Hooks discovery (no authentication)")
def discovery() -> dict[str, Any]:
    """The services this server offers, with their prefetch templates."""
    return crd.discovery()


@router.post("/cds-services/{service_id}", summary="Call a CRD service",
             dependencies=[Depends(require(Permission.HOOKS))],
             responses={400: {"description": "OperationOutcome: a malformed hook request"},
                        404: {"description": "OperationOutcome: no such service"},
                        412: {"description": "OperationOutcome: no Coverage to answer for"}})
async def call_service(service_id: str, request: Request) -> JSONResponse:
    """A CDS Hooks request in; `{"cards": [], "systemActions": [...]}` out, with one
    coverage-information `update` action per vertebral augmentation order. Orders for other
    services get no action from this server."""
    svc = crd.service(service_id)
    if svc is None:
        raise ApiError(404, f"no CDS service {service_id!r}; see GET /cds-services", "not-found")
    data = json_object(await json_body(request), "a CDS Hooks request")
    try:
        hook = crd.HookRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(400, f"{where}: {first['msg']}", "invalid", expression=where) from None
    body = await run_in_threadpool(_answer, state(request), svc, hook)
    return JSONResponse(body)


def _answer(app: AppState, svc: crd.HookService, hook: crd.HookRequest) -> dict[str, Any]:
    orders = crd.check_request(hook, svc)
    wanted = crd.augmentation_orders(orders)
    if not wanted or not crd.wants_coverage_info(hook):
        return {"cards": [], "systemActions": []}
    today = app.now().date()
    reading = fhir.read_fhir(crd.context_bundle(hook, orders), f"CDS Hooks {svc.hook}",
                             default_id=hook.hookInstance, as_of=today)
    base = app.settings.public_base_url.rstrip("/")
    actions = []
    for order in wanted:
        try:
            coverage_ref, coverage = crd.coverage_for(hook, order.resource)
        except InputError as exc:
            raise ApiError(412, exc.message, "incomplete", expression=exc.source) from None
        request = next((r for r in reading.case.requests if r.procedure is order.procedure),
                       ProcedureRequest(order.procedure))
        result = case_service.assess_procedures(reading.case.facts, (request,),
                                                app.settings.default_policy, today)
        answer = crd.answer(order, coverage, result.triage)
        questionnaire = f"{base}/fhir/Questionnaire/vertebro-{result.policy.id}"
        extension = crd.coverage_extension(answer, coverage_ref=coverage_ref,
                                           billing=order.billing, questionnaire=questionnaire,
                                           today=today)
        actions.append(crd.system_action(order.resource, extension))
    return {"cards": [], "systemActions": actions}

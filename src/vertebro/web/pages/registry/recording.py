"""The registry's recording pages: a procedure, and a procedure's complications and follow-ups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vertebro import registry_service
from vertebro.api.deps import state
from vertebro.api.routes.registry import registry_user
from vertebro.api.security import Permission, Principal
from vertebro.core.registry.rows import RECORD_ID
from vertebro.registry_service import BadRecords, RegistryForbidden, RegistryNotFound
from vertebro.web.pages.registry.forms import (
    COMPLICATION_FIELDS,
    FOLLOW_UP_FIELDS,
    PROCEDURE_FIELDS,
    as_record,
    field_errors,
    plausible_id,
    posted_values,
)
from vertebro.web.pages.registry.rendering import detail_page, procedure_form
from vertebro.web.session import PageError, form_data, page_require
from vertebro.web.templating import FLASH_MESSAGES

router = APIRouter()
FLASH_MESSAGES.update(
    {
        "registry-procedure": "The procedure is recorded, with your name and the time.",
        "registry-complication": "The complication is recorded.",
        "registry-follow-up": "The follow-up is recorded.",
    }
)


# --- Recording a procedure --------------------------------------------------------------------


@router.get("/app/registry/new", response_class=HTMLResponse)
async def new_procedure(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.RECORD_OUTCOMES))],
) -> Response:
    """The form to record a procedure of the unit."""
    values = dict.fromkeys(PROCEDURE_FIELDS, "")
    values.update(
        date=state(request).now().date().isoformat(),
        approach="bilateral",
        image_guidance="fluoroscopy",
        procedure="vertebroplasty",
        biopsy="no",
    )
    case_id = request.query_params.get("case_id") or ""
    if RECORD_ID.fullmatch(case_id):
        values["case_id"] = case_id  # "record the procedure" from a case page
    return procedure_form(request, user, values, {})


@router.post("/app/registry/new", response_class=HTMLResponse)
async def record_procedure(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.RECORD_OUTCOMES))],
) -> Response:
    """Record the procedure; a refused value is shown next to its field."""
    form = await form_data(request)
    values = posted_values(form, PROCEDURE_FIELDS)
    data, errors = as_record(values)
    if not errors:
        app = state(request)
        try:
            stored = await run_in_threadpool(
                registry_service.record_procedure, app.db, registry_user(user), data, now=app.now()
            )
        except BadRecords as exc:
            errors = field_errors(exc, PROCEDURE_FIELDS)
        except RegistryForbidden as exc:
            raise PageError(403, str(exc)) from None
        else:
            return RedirectResponse(
                f"/app/registry/procedures/{stored.record.id}?done=registry-procedure",
                status_code=303,
            )
    return procedure_form(request, user, values, errors, status=400)


# --- A procedure, its complications and follow-ups --------------------------------------------


async def _add(
    request: Request, user: Principal, procedure_id: str, kind: str, fields: tuple[str, ...]
) -> Response:
    procedure_id = plausible_id(procedure_id)
    form = await form_data(request)
    values = posted_values(form, fields)
    if kind == "complication" and values.get("further_intervention") not in ("yes", ""):
        values["further_intervention"] = "no"
    data, errors = as_record(values)
    if not errors:
        app = state(request)
        use_case = (
            registry_service.record_complication
            if kind == "complication"
            else registry_service.record_follow_up
        )
        try:
            await run_in_threadpool(
                use_case, app.db, registry_user(user), procedure_id, data, now=app.now()
            )
        except BadRecords as exc:
            errors = field_errors(exc, fields)
        except RegistryNotFound:
            raise PageError(404, "There is no such procedure in your registry.") from None
        except RegistryForbidden as exc:
            raise PageError(403, str(exc)) from None
        else:
            anchor = "complications" if kind == "complication" else "follow-ups"
            return RedirectResponse(
                f"/app/registry/procedures/{procedure_id}?done=registry-{kind}#{anchor}",
                status_code=303,
            )
    return await detail_page(
        request, user, procedure_id, form=kind, values=values, errors=errors, status=400
    )


@router.post(
    "/app/registry/procedures/{procedure_id:path}/complications", response_class=HTMLResponse
)
async def add_complication(
    procedure_id: str,
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.RECORD_OUTCOMES))],
) -> Response:
    """Record a complication of the procedure."""
    return await _add(request, user, procedure_id, "complication", COMPLICATION_FIELDS)


@router.post("/app/registry/procedures/{procedure_id:path}/follow-ups", response_class=HTMLResponse)
async def add_follow_up(
    procedure_id: str,
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.RECORD_OUTCOMES))],
) -> Response:
    """Record the outcome measures at one timepoint."""
    return await _add(request, user, procedure_id, "follow-up", FOLLOW_UP_FIELDS)

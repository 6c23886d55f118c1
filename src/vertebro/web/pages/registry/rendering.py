"""Rendering the form to record a procedure, and a procedure's page with its forms."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vertebro import registry_service
from vertebro.api.deps import state
from vertebro.api.routes.registry import detail_out, registry_user
from vertebro.api.security import Permission, Principal
from vertebro.registry_service import RegistryAmbiguous, RegistryForbidden, RegistryNotFound
from vertebro.settings import Role
from vertebro.web.pages.registry.choices import (
    ANALGESICS,
    APPROACHES,
    CAUSES,
    FRACTURE_SITES,
    GUIDANCE,
    KINDS,
    LEAK_SITES,
    MOBILITY,
    OUTCOMES,
    PROCEDURES,
    SEXES,
    TIMEPOINTS,
    YES_NO_UNKNOWN,
)
from vertebro.web.pages.registry.forms import COMPLICATION_FIELDS, FOLLOW_UP_FIELDS
from vertebro.web.session import PageError
from vertebro.web.templating import render

# --- Recording a procedure --------------------------------------------------------------------


def procedure_form(
    request: Request,
    user: Principal,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status: int = 200,
) -> Response:
    """The form to record a procedure, with the values and refusals so far."""
    return render(
        request,
        "registry_procedure_form.html",
        user,
        status=status,
        values=values,
        errors=errors,
        procedures=PROCEDURES,
        approaches=APPROACHES,
        guidance=GUIDANCE,
        sexes=SEXES,
    )


# --- A procedure, its complications and follow-ups --------------------------------------------


async def detail_page(
    request: Request,
    user: Principal,
    procedure_id: str,
    *,
    organisation: str | None = None,
    form: str | None = None,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    """A procedure's page, with the values and refusals of a form just posted, if any."""
    app = state(request)
    try:
        detail = await run_in_threadpool(
            registry_service.procedure_detail,
            app.db,
            registry_user(user),
            procedure_id,
            now=app.now(),
            organisation=organisation,
        )
    except RegistryNotFound:
        raise PageError(404, "There is no such procedure in your registry.") from None
    except RegistryAmbiguous as exc:
        raise PageError(400, f"{exc}.") from None
    except RegistryForbidden as exc:
        raise PageError(403, str(exc)) from None
    shown = detail_out(detail)
    may_record = (
        user.may(Permission.RECORD_OUTCOMES) and detail.stored.organisation == user.organisation
    )
    complication_values = dict.fromkeys(COMPLICATION_FIELDS, "")
    complication_values.update(
        date=shown.procedure.date.isoformat(), outcome="unknown", further_intervention="no"
    )
    follow_up_values = dict.fromkeys(FOLLOW_UP_FIELDS, "")
    if form == "complication" and values is not None:
        complication_values = dict(values)
    if form == "follow-up" and values is not None:
        follow_up_values = dict(values)
    return render(
        request,
        "registry_procedure.html",
        user,
        status=status,
        detail=shown,
        may_record=may_record,
        form=form,
        errors=errors or {},
        complication_values=complication_values,
        follow_up_values=follow_up_values,
        kinds=KINDS,
        leak_sites=LEAK_SITES,
        fracture_sites=FRACTURE_SITES,
        causes=CAUSES,
        outcomes=OUTCOMES,
        yes_no_unknown=YES_NO_UNKNOWN,
        timepoints=TIMEPOINTS,
        analgesics=ANALGESICS,
        mobility=MOBILITY,
        kind_words=dict(KINDS),
        timepoint_words=dict(TIMEPOINTS),
        outcome_words=dict(OUTCOMES),
        org_query=(
            "?" + urlencode({"organisation": shown.procedure.organisation})
            if user.role is not Role.REQUESTER
            else ""
        ),
    )

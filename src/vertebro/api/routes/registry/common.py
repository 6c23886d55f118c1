"""The registry API's shared plumbing: refusals as OperationOutcomes, running a use case, and
the permission checks and query parameters its routes share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse

from vertebro import registry_service
from vertebro.api.deps import authenticate, check_url, state
from vertebro.api.errors import ApiError
from vertebro.api.fhir.outcome import FHIR_JSON, IssueType, Severity
from vertebro.api.security import Permission, Principal
from vertebro.core.registry.rows import RECORD_ID
from vertebro.registry_service import (
    BadRecords,
    RegistryAmbiguous,
    RegistryForbidden,
    RegistryNotFound,
    RegistryUser,
    RowProblem,
)

# --- Errors -------------------------------------------------------------------------------------


def problems_outcome(
    details: list[RowProblem],
    *,
    severity: Severity = "error",
    notes: list[str] | None = None,
    single: bool = False,
) -> dict[str, Any]:
    """Every problem as an OperationOutcome issue naming its field (`expression`)."""
    issues: list[dict[str, Any]] = []
    for d in details:
        code: IssueType = "duplicate" if d.duplicate else "value"
        text = f"{d.field}: {d.message}" if single else d.text
        issues.append(
            {"severity": severity, "code": code, "diagnostics": text, "expression": [d.field]}
        )
    for note in notes or []:
        issues.append({"severity": "information", "code": "informational", "diagnostics": note})
    if not issues:
        issues.append(
            {"severity": "information", "code": "informational", "diagnostics": "no problems"}
        )
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_reply(status: int, outcome: dict[str, Any]) -> JSONResponse:
    """`outcome` as a FHIR JSON response with `status`."""
    return JSONResponse(outcome, status_code=status, media_type=FHIR_JSON)


class Refused(Exception):
    """A refusal already rendered as its response (an OperationOutcome)."""

    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def run_use_case(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a use case, turning the registry's refusals into API errors."""
    try:
        return function(*args, **kwargs)
    except BadRecords as exc:
        status = 409 if exc.duplicate else 400
        raise Refused(outcome_reply(status, problems_outcome(exc.details, single=True))) from None
    except RegistryNotFound as exc:
        raise ApiError(
            404, f"no registry record {exc} visible to this account", "not-found"
        ) from None
    except RegistryForbidden as exc:
        raise ApiError(403, str(exc), "forbidden", expression="organisation") from None
    except RegistryAmbiguous as exc:
        raise ApiError(400, str(exc), "required", expression="organisation") from None


def registry_user(principal: Principal) -> RegistryUser:
    """The signed-in account as the registry's use cases see it."""
    return RegistryUser(principal.id, principal.name, principal.role, principal.organisation)


def _require(permission: Permission) -> Callable[[Request], Principal]:
    """The caller, who must hold `permission`; a refusal is recorded in the audit trail.

    A URL holding NUL or unpaired surrogates is refused (400; no database column can store
    them), and a record id in the path that no record could have is simply not found.
    """

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        check_url(request)  # NUL, unpaired surrogates, integers beyond 64 bits: 400
        record = request.path_params.get("procedure_id") or request.path_params.get(
            "complication_id"
        )
        plausible = record is None or bool(RECORD_ID.fullmatch(record))
        if not principal.may(permission):
            app = state(request)
            registry_service.record_refusal(
                app.db,
                registry_user(principal),
                now=app.now(),
                operation=f"refused: {permission.value}",
                record=record if plausible else None,
            )
            raise ApiError(
                403, f"the {principal.role.value} role may not {permission.value}", "forbidden"
            )
        if not plausible:
            raise ApiError(
                404,
                "no registry record with such an id (letters, digits and . _ : / -, at most 64)",
                "not-found",
            )
        return principal

    dependency.__name__ = f"registry_require_{permission.value.replace('-', '_')}"
    return dependency


Recorder = Annotated[Principal, Depends(_require(Permission.RECORD_OUTCOMES))]
Reader = Annotated[Principal, Depends(_require(Permission.READ_REGISTRY))]
Organisation = Annotated[
    str | None,
    Query(
        description="the unit whose records to read (auditors and admins; requesters always "
        "read their own)",
        max_length=200,
    ),
]

"""The New assessment routes: the form, the result, answering questions and submitting."""

from __future__ import annotations

import datetime as dt
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from vertebro import case_service
from vertebro.adapters.errors import InputError
from vertebro.api.deps import state
from vertebro.api.security import Permission, Principal
from vertebro.core.cases import Priority
from vertebro.core.catalogue import CATALOGUE
from vertebro.web.pages.assess.answers import coerce_answer, field_name
from vertebro.web.pages.assess.assessing import Assessed, assess_draft, policy_choices, submit
from vertebro.web.pages.assess.draft import (
    MAX_NAME_CHARS,
    Draft,
    DraftExpired,
    decode_draft,
    new_draft,
)
from vertebro.web.pages.assess.rendering import form_page, result_page, today
from vertebro.web.session import PageError, form_data, page_require
from vertebro.web.templating import FLASH_MESSAGES

router = APIRouter()

FLASH_MESSAGES.update(
    {
        "case-submitted": "Submitted for prior authorisation. This is the case it created.",
        "case-resubmitted": "This assessment had already been submitted: this is the case it "
        "created (no second case).",
    }
)


# --- Pages -----------------------------------------------------------------------------------


@router.get("/app/assess", response_class=HTMLResponse)
async def assess_form(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """The form: a note or a file, the policy and an optional as-of date."""
    return form_page(request, user)


@router.post("/app/assess", response_class=HTMLResponse)
async def assess_new(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """Read and assess what was pasted or uploaded; show the result, or the form with what to
    correct beside each field."""
    try:
        form = await form_data(request)
    except StarletteHTTPException:  # the form parser refuses a text field over 1 MB
        return form_page(
            request,
            user,
            status=400,
            errors={
                "note": "The note is far too long (over 1 MB). Paste the relevant letter or "
                "report only."
            },
        )
    note = str(form.get("note") or "").replace("\r\n", "\n")
    upload = form.get("document")
    policy = str(form.get("policy") or "")
    as_of_text = str(form.get("as_of") or "").strip()
    values = {"note": note, "policy": policy, "as_of": as_of_text}
    errors: dict[str, str] = {}

    valid = {c.value for _, options in policy_choices() for c in options}
    if policy not in valid:
        errors["policy"] = "Choose a policy from the list."
    as_of = None
    if as_of_text:
        try:
            as_of = dt.date.fromisoformat(as_of_text)
        except ValueError:
            errors["as_of"] = "Enter the date as year-month-day, for example 2026-10-06."
    file_name = ""
    raw = b""
    if isinstance(upload, UploadFile) and upload.filename:
        file_name = PurePath(upload.filename.replace("\\", "/")).name[:MAX_NAME_CHARS] or "file"
        raw = await upload.read()
    has_note = bool(note.strip())
    if has_note and file_name:
        errors["note"] = "Give a note or a file, not both: clear the note or remove the file."
    elif not has_note and not file_name:
        errors["note"] = "Paste a clinical note here, or choose a file below."
    draft = None
    if not errors:
        try:
            draft = new_draft(note, file_name, raw, policy, as_of)
        except InputError as exc:
            errors["note" if has_note else "document"] = _sentence(exc, named=not has_note)
    if draft is None:
        return form_page(request, user, status=400, errors=errors, values=values)
    try:
        assessed = await run_in_threadpool(assess_draft, draft, user, today(request))
    except InputError as exc:
        field = "policy" if _is_policy_error(exc) else "note" if has_note else "document"
        errors[field] = _sentence(exc, named=field == "document")
        return form_page(request, user, status=400, errors=errors, values=values)
    return result_page(request, user, draft, assessed)


def _is_policy_error(exc: InputError) -> bool:
    return exc.source in ("--policy", "policy")


def _sentence(exc: InputError, *, named: bool = False) -> str:
    """An input error as a sentence beside a field (`named`: starting with the file's name)."""
    where = f"line {exc.line}: " if exc.line is not None else ""
    if named:
        where = f"{exc.source}, {where}" if where else f"{exc.source}: "
    message = exc.message[0].upper() + exc.message[1:] if exc.message else "Cannot be read"
    return (where[0].upper() + where[1:] if where and not named else where) + (
        message.rstrip(".") + "."
    )


def _draft_or_error(request: Request, form: FormData) -> Draft:
    try:
        return decode_draft(request, form.get("draft"))
    except DraftExpired:
        raise PageError(
            400,
            "This assessment cannot be continued: it was started in an "
            "earlier session or the page was changed. Start a new "
            "assessment.",
        ) from None


@router.post("/app/assess/answers", response_class=HTMLResponse)
async def assess_answers(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """Lay the answers over the facts and assess again."""
    form = await form_data(request)
    draft = _draft_or_error(request, form)
    asked = [str(f) for f in form.getlist("asked")]
    unknown = [f for f in asked if f not in CATALOGUE]
    if unknown:
        raise PageError(
            400, "The form asked about something vertebro does not know; start a new assessment."
        )
    answers = {f: v for f, v in draft.answers.items() if f not in asked}
    errors: dict[str, str] = {}
    for fact in dict.fromkeys(asked):
        try:
            value = coerce_answer(CATALOGUE[fact], [str(v) for v in form.getlist(field_name(fact))])
        except ValueError as exc:
            errors[fact] = str(exc)
            continue
        if value is not None:
            answers[fact] = value
    if errors:
        assessed = await _assess_or_error(draft, user, request)
        return result_page(
            request, user, draft, assessed, status=400, answer_errors=errors, posted=form
        )
    updated = draft.model_copy(update={"answers": answers})
    assessed = await _assess_or_error(updated, user, request)
    return result_page(request, user, updated, assessed)


async def _assess_or_error(draft: Draft, user: Principal, request: Request) -> Assessed:
    try:
        return await run_in_threadpool(assess_draft, draft, user, today(request))
    except InputError as exc:
        # The input was read before; only a policy change since (or an edited page) gets here.
        raise PageError(
            400, f"This assessment can no longer be made: {exc.message}. Start a new assessment."
        ) from None


@router.post("/app/assess/submit")
async def assess_submit(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.SUBMIT))],
) -> Response:
    """Turn the assessment into a prior-authorisation case, as POST /cases does, and go to it."""
    form = await form_data(request)
    draft = _draft_or_error(request, form)
    priority = str(form.get("priority") or "standard")
    identifier = str(form.get("identifier") or "").strip()
    assessed = await _assess_or_error(draft, user, request)
    if priority not in ("standard", "expedited") or not 0 < len(identifier) <= 500:
        return result_page(
            request,
            user,
            draft,
            assessed,
            status=400,
            submit_error="Choose standard or expedited, and submit the form as the page gave it.",
        )
    app = state(request)
    try:
        outcome = await run_in_threadpool(
            submit, app, user, draft, assessed, identifier, Priority(priority)
        )
    except InputError as exc:
        return result_page(request, user, draft, assessed, status=400, submit_error=_sentence(exc))
    except case_service.Conflict as exc:
        raise PageError(409, f"The request was not submitted: {exc}.") from None
    done = "case-resubmitted" if outcome.replayed else "case-submitted"
    return RedirectResponse(f"/app/cases/{outcome.stored.case.id}?done={done}", status_code=303)

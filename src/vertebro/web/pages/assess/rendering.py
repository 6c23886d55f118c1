"""Rendering the New assessment pages: the form, and the result of a draft's assessment."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from vertebro.api.deps import state
from vertebro.api.security import Permission, Principal
from vertebro.web.pages.assess.answers import NONE_OF_THESE, question_views
from vertebro.web.pages.assess.assessing import Assessed, policy_choices, split_policy
from vertebro.web.pages.assess.draft import MAX_DRAFT_CHARS, Draft, encode_draft
from vertebro.web.pages.assess.views import determination_views, note_marks
from vertebro.web.templating import render


def today(request: Request) -> dt.date:
    """Today by the service's clock (tests set it)."""
    return state(request).now().date()


def form_page(
    request: Request,
    user: Principal,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The input form, with the user's values and the errors that sent it back, if any."""
    app = state(request)
    chosen = dict(values or {})
    chosen.setdefault("policy", app.settings.default_policy)
    return render(
        request,
        "assess_form.html",
        user,
        status=status,
        errors=errors or {},
        values=chosen,
        policies=policy_choices(),
        today=today(request),
    )


def result_page(
    request: Request,
    user: Principal,
    draft: Draft,
    assessed: Assessed,
    *,
    status: int = 200,
    answer_errors: dict[str, str] | None = None,
    posted: FormData | None = None,
    submit_error: str | None = None,
) -> Response:
    """The assessment of a draft: determinations, evidence and the questions left open."""
    report = assessed.report
    note_html = None
    marks: dict[tuple[int, int], str] = {}
    source = None
    if draft.kind == "note":
        source = draft.name
        note_html, marks = note_marks(report, draft.text, source)
    token = encode_draft(request, draft)
    policy_id, version = split_policy(draft.policy)
    return render(
        request,
        "assess_result.html",
        user,
        status=status,
        report=report,
        draft=draft,
        draft_token=token if len(token) <= MAX_DRAFT_CHARS else None,
        kind_words={
            "note": "clinical note",
            "json": assessed.read.kind,
            "yaml": assessed.read.kind,
        }[draft.kind],
        warnings=list(assessed.read.warnings),
        determinations=determination_views(report, marks, source),
        questions=question_views(report, draft, answer_errors or {}, posted),
        answer_errors=answer_errors or {},
        note_html=note_html,
        none_of_these=NONE_OF_THESE,
        may_submit=user.may(Permission.SUBMIT),
        submit_error=submit_error,
        identifier=f"web-{uuid.uuid4()}",
        chosen_version=version,
        policy_id=policy_id,
    )

"""Reading and assessing a draft, the policies to choose from, and submitting it as a case."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from vertebro import case_service
from vertebro.adapters import fhir, policy_files, yaml_lines
from vertebro.adapters.case_files import MAX_CASE_BYTES
from vertebro.adapters.errors import InputError
from vertebro.api.deps import AppState
from vertebro.api.schemas import case_out
from vertebro.api.security import Principal
from vertebro.core.cases import Priority
from vertebro.report import AssessmentReport
from vertebro.web.pages.assess.draft import Draft

# --- Policies to choose from -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyChoice:
    """An option of the policy list."""

    value: str
    label: str


def policy_choices() -> list[tuple[str, list[PolicyChoice]]]:
    """Per shipped policy: the version in effect on the date, then each version by name."""
    groups = []
    for policy_id in policy_files.known_ids():
        versions = [v.policy for v in policy_files.versions_of(policy_id)]
        options = [PolicyChoice(policy_id, f"{policy_id}: the version in effect on the date")]
        for p in reversed(versions):
            until = f" to {p.effective_to}" if p.effective_to else ""
            options.append(
                PolicyChoice(
                    f"{policy_id}@{p.version}",
                    f"{policy_id} version {p.version} only (in effect from "
                    f"{p.effective_from}{until})",
                )
            )
        groups.append((versions[-1].title, options))
    return groups


def split_policy(value: str) -> tuple[str, str | None]:
    """'carefirst@2022' -> ('carefirst', '2022'); 'carefirst' -> ('carefirst', None)."""
    policy_id, _, version = value.partition("@")
    return policy_id, version or None


# --- Reading and assessing -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assessed:
    """A draft read and assessed."""

    read: case_service.ReadResult
    report: AssessmentReport
    data: Any  # the parsed document (None for a note)


def read_draft(draft: Draft, today: dt.date) -> tuple[case_service.ReadResult, Any]:
    """Read the draft's input as `vertebro assess` and POST /assessments would.

    Raises:
        InputError: the input cannot be read.
    """
    if draft.kind == "note":
        note_date = draft.as_of or case_service.note_date(draft.text)
        return case_service.read_note_text(draft.text, draft.name, note_date=note_date), None
    if draft.kind == "json":
        data = fhir.parse_json(draft.text.encode("utf-8"), draft.name)
    else:
        if len(draft.text.encode("utf-8")) > MAX_CASE_BYTES:
            raise InputError(
                draft.name, f"file is over the limit of {MAX_CASE_BYTES:,} bytes for a case file"
            )
        try:
            data = yaml_lines.load(draft.text)
        except yaml_lines.YamlError as exc:
            raise InputError(draft.name, exc.message, exc.line) from None
    read = case_service.read_json_document(data, draft.name, as_of=draft.as_of or today)
    return read, data


def assess_draft(draft: Draft, user: Principal, today: dt.date) -> Assessed:
    """Read the input, lay the answers over its facts, and assess it.

    Raises:
        InputError: the input cannot be read or assessed, or the policy cannot be applied.
    """
    read, data = read_draft(draft, today)
    if draft.answers:
        answers = case_service.answered_facts(
            dict(draft.answers),
            answered_by=user.name,
            how=f"answered on the assessment page by {user.id}",
            kind=case_service.answer_kind(user.actor()),
        )
        facts = case_service.merge_answers(read.case.facts, answers)
        read = dataclasses.replace(read, case=dataclasses.replace(read.case, facts=facts))
    policy_id, version = split_policy(draft.policy)
    report = case_service.assess_document(
        read, policy_id, as_of=draft.as_of, today=today, version=version
    )
    return Assessed(read, report, data)


def submit(
    app: AppState,
    user: Principal,
    draft: Draft,
    assessed: Assessed,
    identifier: str,
    priority: Priority,
) -> case_service.SubmitOutcome:
    """Submit the assessed draft as a prior-authorisation case, as POST /cases does."""
    now = app.now()
    policy_id, _ = split_policy(draft.policy)
    inner = {"note": draft.text} if draft.kind == "note" else _plain_json(assessed.data)
    # Stored as POST /cases stores its body, with the page's answers beside the document.
    document: dict[str, Any] = {
        "identifier": identifier,
        "priority": priority.value,
        "policy": policy_id,
        "document": inner,
    }
    if draft.answers:
        document["answers"] = dict(draft.answers)
    sub = case_service.Submission(
        key=identifier,
        priority=priority,
        channel="web",
        document=document,
        items=case_service.requested_items(assessed.read.case),
        case=assessed.read.case,
        policy_name=policy_id,
    )
    return case_service.submit(
        app.db,
        user.actor(),
        sub,
        now=now,
        respond=lambda stored: case_out(stored, now).model_dump(mode="json"),
    )


def _plain_json(data: Any) -> Any:
    """A parsed YAML or JSON document as plain JSON (YAML dates become ISO strings)."""
    return json.loads(json.dumps(data, default=str))

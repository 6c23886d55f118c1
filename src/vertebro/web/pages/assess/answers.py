"""The questions to answer (with their inputs) and reading the answers back as facts' values."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData

from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import FactSpec, FactType
from vertebro.report import AssessmentReport, JsonValue, json_value
from vertebro.web.pages.assess.draft import Draft

NONE_OF_THESE = "__none__"  # the checkbox that answers a list question with "none"


@dataclass(frozen=True, slots=True)
class QuestionView:
    """A question to answer (or an earlier answer to change), with its input."""

    fact: str
    field: str  # the input's name
    dom_id: str
    question: str
    title: str
    type: str
    choices: list[tuple[str, str]]  # (value, words)
    unit: str | None
    minimum: float | None
    maximum: float | None
    value: str  # the current answer for single inputs ("" when none)
    checked: list[str]  # the current answer for checkboxes
    procedures: str  # which requested procedures it matters for ("" for an earlier answer)
    error: str | None


def question_views(
    report: AssessmentReport, draft: Draft, errors: dict[str, str], posted: FormData | None
) -> list[QuestionView]:
    """The open questions across the requested procedures, then the earlier answers (so that
    they can be changed), each with the input its fact's type needs."""
    wanted: dict[str, tuple[str, list[str]]] = {}
    for det in report.determinations:
        for missing in det.missing:
            question, procedures = wanted.setdefault(missing.fact, (missing.question, []))
            procedures.append(det.procedure)
    facts = list(wanted) + [f for f in draft.answers if f not in wanted]
    views = []
    for fact in facts:
        spec = CATALOGUE.get(fact)
        if spec is None:
            continue
        question, procedures = wanted.get(fact, (spec.question, []))
        if posted is not None:
            raw = [str(v) for v in posted.getlist(field_name(fact))]
        else:
            raw = _raw_answer(spec, draft.answers.get(fact))
        views.append(
            QuestionView(
                fact=fact,
                field=field_name(fact),
                dom_id="q-" + fact.replace(".", "-"),
                question=question,
                title=spec.title,
                type=spec.type.value,
                choices=[(c, c.replace("-", " ")) for c in spec.choices],
                unit=spec.unit,
                minimum=spec.minimum,
                maximum=spec.maximum,
                value=raw[0] if raw else "",
                checked=raw,
                procedures=", ".join(dict.fromkeys(procedures)),
                error=errors.get(fact),
            )
        )
    return views


def field_name(fact: str) -> str:
    """The form field of a fact's answer."""
    return f"answer.{fact}"


def _raw_answer(spec: FactSpec, value: JsonValue) -> list[str]:
    """An earlier answer as the values of its inputs."""
    if value is None:
        return []
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    if isinstance(value, list):
        if spec.type is FactType.LEVELS:
            return [", ".join(value)]
        return list(value) or [NONE_OF_THESE]
    if isinstance(value, float | int):
        return [f"{value:g}"]
    return [str(value)]


def coerce_answer(spec: FactSpec, raw: list[str]) -> JsonValue:
    """One question's inputs as the fact's value (None: not answered, stays unknown).

    Raises:
        ValueError: the inputs do not fit the fact, with a sentence for the person.
    """
    values = [r.strip() for r in raw if r.strip()]
    if spec.type is FactType.CHOICES:
        if NONE_OF_THESE in values:
            if len(values) > 1:
                raise ValueError("Choose “none of these” or some of the others, not both.")
            return []
        if not values:
            return None
        return json_value(spec.coerce(values))
    if len(values) > 1:
        raise ValueError("Give one answer.")
    if not values:
        return None
    try:
        return json_value(spec.coerce(values[0]))
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message[0].upper() + message[1:] + ".") from None

"""Reading the case page's posted forms: text fields, the answers as facts, errors as sentences."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from vertebro.adapters.fhir.bundle import json_shape_problem
from vertebro.api.security import Principal
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import Fact, FactSet, FactType, Provenance

FormErrors = dict[str, str]


def form_text(form: FormData, name: str) -> str:
    """A form field's text ("" when it is missing or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


UNSTORABLE = "This text holds a character that cannot be stored (a NUL or a broken character)."


def sentence(text: str) -> str:
    """A message as a sentence: stripped, capitalised and ending in a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


ANSWER_PREFIX = "answer:"
QUOTE_PREFIX = "quote:"


def read_answers(form: FormData, user: Principal) -> tuple[FactSet, FormErrors, dict[str, Any]]:
    """The answered facts in a form (`answer:<fact>`, optional `quote:<fact>`), each coerced
    by its catalogue definition and recorded as an answer by the signed-in person (as the
    API's POST /cases/{id}/answers records them); blank fields are unanswered."""
    facts: list[Fact] = []
    errors: FormErrors = {}
    values: dict[str, Any] = {}
    for key in dict.fromkeys(form.keys()):
        if not key.startswith(ANSWER_PREFIX):
            continue
        name = key.removeprefix(ANSWER_PREFIX)
        spec = CATALOGUE.get(name)
        raw = [v for v in form.getlist(key) if isinstance(v, str)]
        quote = form_text(form, QUOTE_PREFIX + name).strip()
        values[key], values[QUOTE_PREFIX + name] = raw, quote
        field = "answer-" + name.replace(".", "-").replace("_", "-")
        if spec is None:
            errors["answers"] = (
                "The form asked about a fact vertebro does not know; reload "
                "the case page and answer again."
            )
            continue
        if any(json_shape_problem(v) for v in [*raw, quote]):
            errors[field] = UNSTORABLE
            continue
        given = [v.strip() for v in raw if v.strip()]
        if not given:
            continue
        try:
            value = spec.coerce(given if spec.type is FactType.CHOICES else given[0])
        except ValueError as exc:
            errors[field] = sentence(str(exc))
            continue
        if value is None:  # 'unknown' adds nothing: the question stays open
            continue
        facts.append(
            Fact(
                name,
                value,
                (
                    Provenance(
                        "answer",
                        user.name,
                        quote or None,
                        None,
                        f"answered on the web page by {user.id}",
                    ),
                ),
            )
        )
    if not facts and not errors:
        errors["answers"] = "Answer at least one question (leave the others empty)."
    return FactSet(facts), errors, values

"""Da Vinci Documentation Templates and Rules (DTR): a Questionnaire generated from the
policy's criteria, pre-filled from the record, and a QuestionnaireResponse read back as facts.

Sources: Da Vinci DTR STU 2.x (http://hl7.org/fhir/us/davinci-dtr): the `$questionnaire-package`
operation (input Parameters `coverage`, `order`, `questionnaire`, `context`; output Parameters
`PackageBundle`, a collection Bundle whose first entry is a Questionnaire, and
`operationOutcome`), the `dtr-std-questionnaire` and `dtr-questionnaireresponse` profiles, and
the `information-origin` extension (sub-extension `source`: auto-client | auto-server |
override | manual, DTR 2.2.0; `author` required for override and manual). Confidence:
confirmed against the IG pages.

What is asked: for each requested procedure whose outcome is still open, the criteria that are
unknown on the rules that could still decide it; under them, each fact the criteria test is an
item (its linkId is the fact's name). Facts the record already holds are pre-filled in the
QuestionnaireResponse with information-origin `auto-server`; the unknown ones are left blank.
Nothing is asked about an outcome that is already settled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.elements import obj, objs, string
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.criteria import Predicate
from vertebro.core.evaluator import CriterionResult, Determination
from vertebro.core.facts import Fact, FactSet, FactSpec, FactType, FactValue, Provenance
from vertebro.core.policy import Outcome, Policy
from vertebro.core.tri import Tri

Json = dict[str, Any]

DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"
INFORMATION_ORIGIN = f"{DTR}/information-origin"
STD_QUESTIONNAIRE = f"{DTR}/dtr-std-questionnaire"
QUESTIONNAIRE_RESPONSE = f"{DTR}/dtr-questionnaireresponse"
QR_CONTEXT = f"{DTR}/qr-context"
QUESTIONNAIRE_PREFIX = "vertebro-"
ORIGINS = frozenset({"auto-client", "auto-server", "override", "manual", "auto"})


def fact_system(name: str) -> str:
    """The code system of a fact's answer options."""
    return f"urn:vertebro:fact:{name}"


@dataclass(frozen=True, slots=True)
class Ask:
    """One question of the form: a fact, whether it is still unknown, and what it is for."""

    fact: str
    unknown: bool
    procedures: tuple[str, ...]


def questions_for(policy: Policy, determinations: list[Determination]) -> list[Ask]:
    """The facts to ask about, in policy order: every fact tested under the unknown criteria of
    the rules that could still decide an open outcome (known ones are pre-filled)."""
    found: dict[str, tuple[bool, list[str]]] = {}

    def add(fact: str, unknown: bool, procedure: str) -> None:
        was_unknown, procedures = found.get(fact, (False, []))
        if procedure not in procedures:
            procedures.append(procedure)
        found[fact] = (was_unknown or unknown, procedures)

    for det in determinations:
        if det.outcome is not Outcome.INSUFFICIENT_INFORMATION:
            continue
        status = {r.node.id: r for r in det.criteria}
        children: dict[str | None, list[CriterionResult]] = {}
        for result in det.criteria:
            children.setdefault(result.parent, []).append(result)
        for rule in policy.rules[det.procedure]:
            top = status.get(rule.when) if rule.when else None
            if rule.when is None or top is None:
                break
            if top.status is Tri.TRUE:
                break
            if top.status is Tri.UNKNOWN:
                for fact, unknown in _open_facts(top, children):
                    add(fact, unknown, det.procedure.value)
        for req in det.requirements:
            for result in req.criteria:
                tested = result.node.fact if isinstance(result.node, Predicate) else None
                if tested and result.status is Tri.UNKNOWN and req.applies is not Tri.FALSE:
                    add(tested, True, det.procedure.value)
    return [Ask(f, unknown, tuple(procs)) for f, (unknown, procs) in found.items()
            if f in CATALOGUE and not f.startswith("request.procedure")]


def _open_facts(
    node: CriterionResult, children: dict[str | None, list[CriterionResult]]
) -> Iterator[tuple[str, bool]]:
    """Facts under an unknown node reached through unknown nodes only: unknown predicates,
    and the known predicates beside them (to confirm)."""
    if isinstance(node.node, Predicate):
        yield node.node.fact, node.status is Tri.UNKNOWN
        return
    for child in children.get(node.node.id, []):
        if child.status is Tri.UNKNOWN:
            yield from _open_facts(child, children)
        elif isinstance(child.node, Predicate):
            yield child.node.fact, False


def questionnaire(
    policy: Policy, asks: list[Ask], *, base_url: str, today: dt.date
) -> Json:
    """A DTR standard Questionnaire asking the facts (linkId = fact name)."""
    digest = hashlib.sha256(
        (policy.content_hash + "|" + ",".join(a.fact for a in asks)).encode()
    ).hexdigest()[:12]
    qid = f"{QUESTIONNAIRE_PREFIX}{policy.id}-{digest}"
    items: list[Json] = [_item(CATALOGUE[a.fact]) for a in asks]
    if not items:
        items = [{"linkId": "nothing-missing", "type": "display",
                  "text": "The record already settles the policy's criteria: nothing is asked."}]
    return {
        "resourceType": "Questionnaire",
        "id": qid,
        "meta": {"profile": [STD_QUESTIONNAIRE]},
        "url": f"{base_url.rstrip('/')}/fhir/Questionnaire/{qid}",
        "version": policy.version,
        "name": f"Vertebro{policy.id.title()}",
        "title": f"{policy.title}: information still needed",
        "status": "active",
        "subjectType": ["Patient"],
        "date": today.isoformat(),
        "publisher": "vertebro",
        "description": f"Generated from {policy.id} {policy.version} (content hash "
                       f"{policy.content_hash[:12]}): the criteria still open for this request.",
        "item": items,
    }


def _item(spec: FactSpec) -> Json:
    item: Json = {
        "linkId": spec.name,
        "code": [{"system": "urn:vertebro:fact", "code": spec.name, "display": spec.title}],
        "text": spec.question,
        "type": _item_type(spec.type),
        "required": False,
    }
    if spec.type in (FactType.CHOICE, FactType.CHOICES):
        item["answerOption"] = [{"valueCoding": {"system": fact_system(spec.name), "code": c}}
                                for c in spec.choices]
        if spec.type is FactType.CHOICES:
            item["repeats"] = True
    if spec.unit:
        item["prefix"] = spec.unit
    return item


def _item_type(kind: FactType) -> str:
    return {
        FactType.BOOLEAN: "boolean",
        FactType.CHOICE: "choice",
        FactType.CHOICES: "choice",
        FactType.NUMBER: "decimal",
        FactType.DATE: "date",
        FactType.LEVELS: "string",
    }[kind]


def prefilled_response(
    form: Json, asks: list[Ask], facts: FactSet, *, now: dt.datetime, subject: str | None,
    context: list[Json] | None = None,
) -> Json:
    """A QuestionnaireResponse with the known facts filled in (origin `auto-server`); `context`
    are references to the orders, coverages or case it is about (qr-context extension)."""
    items = []
    for ask in asks:
        fact = facts.get(ask.fact)
        if fact is None or fact.value is None:
            continue
        answers = [
            {**value, "extension": [{"url": INFORMATION_ORIGIN,
                                     "extension": [{"url": "source", "valueCode": "auto-server"}]}]}
            for value in answer_values(CATALOGUE[ask.fact], fact.value)
        ]
        items.append({"linkId": ask.fact, "text": CATALOGUE[ask.fact].question,
                      "answer": answers})
    response: Json = {
        "resourceType": "QuestionnaireResponse",
        "meta": {"profile": [QUESTIONNAIRE_RESPONSE]},
        **({"extension": [{"url": QR_CONTEXT, "valueReference": ref} for ref in context]}
           if context else {}),
        "questionnaire": f"{form['url']}|{form['version']}",
        "status": "in-progress",
        "authored": now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "item": items,
    }
    if subject:
        response["subject"] = {"reference": subject}
    return response


def answer_values(spec: FactSpec, value: FactValue) -> list[Json]:
    """A fact value as QuestionnaireResponse answer values."""
    if spec.type is FactType.BOOLEAN:
        return [{"valueBoolean": bool(value)}]
    if spec.type is FactType.CHOICE:
        return [{"valueCoding": {"system": fact_system(spec.name), "code": str(value)}}]
    if spec.type is FactType.CHOICES:
        assert isinstance(value, frozenset)
        return [{"valueCoding": {"system": fact_system(spec.name), "code": c}}
                for c in sorted(value)]
    if spec.type is FactType.NUMBER:
        assert isinstance(value, float)
        return [{"valueDecimal": int(value) if value.is_integer() else value}]
    if spec.type is FactType.DATE:
        assert isinstance(value, dt.date)
        return [{"valueDate": value.isoformat()}]
    assert isinstance(value, tuple)
    return [{"valueString": ", ".join(str(level) for level in value)}]


def package(form: Json, response: Json, warnings: list[str]) -> Json:
    """The $questionnaire-package output Parameters."""
    params: list[Json] = [{
        "name": "PackageBundle",
        "resource": {"resourceType": "Bundle", "type": "collection",
                     "entry": [{"fullUrl": form["url"], "resource": form},
                               {"resource": response}]},
    }]
    if warnings:
        params.append({"name": "operationOutcome", "resource": {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": w}
                      for w in warnings]}})
    return {"resourceType": "Parameters", "parameter": params}


# --- Reading the input Parameters and a QuestionnaireResponse --------------------------------


@dataclass(frozen=True, slots=True)
class PackageRequest:
    """What $questionnaire-package was asked for."""

    orders: list[Json]
    coverages: list[Json]
    questionnaires: list[str]
    context: str | None
    unknown_questionnaires: list[str]


def read_package_request(data: Any) -> PackageRequest:
    """Read the input Parameters of $questionnaire-package.

    Raises:
        InputError: not Parameters, or none of order, questionnaire and context (dtr-1).
    """
    if not isinstance(data, dict) or data.get("resourceType") != "Parameters":
        got = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise InputError("resourceType", f"$questionnaire-package takes a Parameters resource; "
                                         f"got {got!r}")
    orders: list[Json] = []
    coverages: list[Json] = []
    questionnaires: list[str] = []
    context = None
    for position, param in enumerate(objs(data.get("parameter"))):
        name = param.get("name")
        resource = obj(param.get("resource"))
        if name == "order" and resource is not None:
            orders.append(resource)
        elif name == "coverage" and resource is not None:
            coverages.append(resource)
        elif name == "questionnaire":
            canonical = string(param.get("valueCanonical")) or string(param.get("valueUri"))
            if canonical is None:
                raise InputError(f"Parameters.parameter[{position}]",
                                 "questionnaire needs a valueCanonical")
            questionnaires.append(canonical)
        elif name == "context":
            context = string(param.get("valueString")) or string(param.get("valueId"))
    if not orders and not questionnaires and context is None:
        raise InputError("Parameters.parameter", "give at least one of order, questionnaire "
                                                 "or context (dtr-1)")
    unknown = [c for c in questionnaires if not is_ours(c)]
    return PackageRequest(orders, coverages, [c for c in questionnaires if is_ours(c)], context,
                          unknown)


def is_ours(canonical: str) -> bool:
    """Whether a Questionnaire canonical names one this server generated."""
    return f"/Questionnaire/{QUESTIONNAIRE_PREFIX}" in canonical.split("|")[0]


def facts_from_response(
    qr: Any, *, source: str, kind: Literal["answer", "attestation"] = "attestation",
) -> FactSet:
    """The answers of a QuestionnaireResponse to one of our Questionnaires, as facts with
    provenance `kind`: 'attestation' (the requesting side's answers, the default) or 'answer'
    (a reviewer's). Unanswered items stay unknown.

    Raises:
        InputError: not a QuestionnaireResponse, one to another Questionnaire, an item whose
        linkId is not a known fact, or an answer that does not fit its fact.
    """
    if not isinstance(qr, dict) or qr.get("resourceType") != "QuestionnaireResponse":
        got = qr.get("resourceType") if isinstance(qr, dict) else type(qr).__name__
        raise InputError("resourceType", f"expected a QuestionnaireResponse; got {got!r}")
    canonical = string(qr.get("questionnaire")) or ""
    if not is_ours(canonical):
        raise InputError("QuestionnaireResponse.questionnaire",
                         f"answers {canonical or 'no questionnaire'!s}, not a questionnaire from "
                         "this server's $questionnaire-package")
    rid = string(qr.get("id"))
    where = f"QuestionnaireResponse/{rid}" if rid else source
    author = string((obj(qr.get("author")) or {}).get("reference"))
    facts: list[Fact] = []
    for path, item in _items(qr.get("item"), "QuestionnaireResponse.item"):
        link = string(item.get("linkId"))
        answers = objs(item.get("answer"))
        if link == "nothing-missing" or not answers:
            continue
        spec = CATALOGUE.get(link or "")
        if spec is None:
            raise InputError(f"{path}.linkId", f"linkId {link!r} is not a fact this server asks "
                                               "about")
        raw = _raw(spec, answers, path)
        try:
            value = spec.coerce(raw)
        except ValueError as exc:
            raise InputError(f"{path}.answer", f"{link}: {exc}") from None
        origin, who = _origin(answers[0])
        facts.append(Fact(spec.name, value, (Provenance(
            kind, who or author or where, string(item.get("text")) or spec.question, None,
            f"{where} item {link} (information-origin {origin})"),)))
    return FactSet(facts)


def _items(node: object, path: str) -> Iterator[tuple[str, Json]]:
    for position, item in enumerate(objs(node)):
        here = f"{path}[{position}]"
        yield here, item
        yield from _items(item.get("item"), f"{here}.item")


def _raw(spec: FactSpec, answers: list[Json], path: str) -> object:
    values = []
    for answer in answers:
        for key, value in answer.items():
            if not key.startswith("value"):
                continue
            if key == "valueCoding":
                coding = obj(value) or {}
                values.append(coding.get("code"))
            elif key == "valueQuantity":
                values.append((obj(value) or {}).get("value"))
            else:
                values.append(value)
    if not values:
        raise InputError(f"{path}.answer", f"{spec.name}: an answer without a value")
    if spec.type is FactType.CHOICES:
        return values
    if len(values) > 1:
        raise InputError(f"{path}.answer", f"{spec.name} takes one answer; got {len(values)}")
    return values[0]


def _origin(answer: Json) -> tuple[str, str | None]:
    for ext in objs(answer.get("extension")):
        if ext.get("url") != INFORMATION_ORIGIN:
            continue
        source = "unknown"
        who = None
        for part in objs(ext.get("extension")):
            if part.get("url") == "source":
                source = string(part.get("valueCode")) or "unknown"
            elif part.get("url") == "author":
                ref = obj(part.get("valueReference")) or {}
                who = string(ref.get("display")) or string(ref.get("reference"))
        return (source if source in ORIGINS else "unknown"), who
    return "not stated", None

"""Domain values to JSON for storage, and back. Reading back re-validates through the domain types
(a stored denial without a reviewer cannot be loaded)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from vertebro.core.cases import (
    ApprovedByReviewer,
    AutoApproved,
    CaseError,
    DeniedByReviewer,
    HumanReviewer,
    PendedForInformation,
    Question,
    QueuedForReview,
    Reason,
    RequestedItem,
    ReviewCause,
    ReviewFlag,
    State,
    UnderAppeal,
)
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactSet, FactValue, Provenance
from vertebro.core.levels import parse_levels

Json = dict[str, Any]


class CodecError(ValueError):
    """Stored data that no longer reads as a valid domain value."""


def _time(value: dt.datetime) -> str:
    return value.isoformat()


def _parse_time(value: object) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


# --- States --------------------------------------------------------------------------------


def state_to_json(state: State) -> Json:
    """A lifecycle state as JSON."""
    if isinstance(state, AutoApproved):
        return {"kind": state.kind, "basis": list(state.basis)}
    if isinstance(state, PendedForInformation):
        return {"kind": state.kind, "questions": [_question(q) for q in state.questions]}
    if isinstance(state, QueuedForReview):
        return {
            "kind": state.kind,
            "flags": [{"cause": f.cause.value, "item": f.item, "detail": f.detail}
                      for f in state.flags],
            "questions": [_question(q) for q in state.questions],
        }
    if isinstance(state, ApprovedByReviewer | DeniedByReviewer):
        return {"kind": state.kind, **_decision(state)}
    return {
        "kind": state.kind,
        "denial": _decision(state.denial),
        "appellant": state.appellant,
        "reason": state.reason.text,
        "at": _time(state.at),
    }


def _question(q: Question) -> Json:
    return {"fact": q.fact, "question": q.question, "items": list(q.items)}


def _decision(d: ApprovedByReviewer | DeniedByReviewer) -> Json:
    return {
        "reviewer": {"id": d.reviewer.id, "name": d.reviewer.name},
        "reason": d.reason.text,
        "at": _time(d.at),
    }


def state_from_json(data: Json) -> State:
    """A stored state read back through the domain constructors.

    Raises:
        CodecError: the stored state is not a valid state (e.g. a denial with no reviewer).
    """
    try:
        kind = data["kind"]
        if kind == "approved-automatically":
            return AutoApproved(tuple(data["basis"]))
        if kind == "pended-for-information":
            return PendedForInformation(tuple(_read_question(q) for q in data["questions"]))
        if kind == "queued-for-review":
            return QueuedForReview(
                tuple(ReviewFlag(ReviewCause(f["cause"]), f["item"], f["detail"])
                      for f in data["flags"]),
                tuple(_read_question(q) for q in data.get("questions", [])),
            )
        if kind == "approved-by-reviewer":
            return ApprovedByReviewer(*_read_decision(data))
        if kind == "denied-by-reviewer":
            return DeniedByReviewer(*_read_decision(data))
        if kind == "under-appeal":
            return UnderAppeal(
                DeniedByReviewer(*_read_decision(data["denial"])),
                data["appellant"],
                Reason(data["reason"]),
                _parse_time(data["at"]),
            )
    except (KeyError, TypeError, ValueError, CaseError) as exc:
        raise CodecError(f"stored state cannot be read: {exc}") from None
    raise CodecError(f"stored state has an unknown kind {data.get('kind')!r}")


def _read_question(q: Json) -> Question:
    return Question(q["fact"], q["question"], tuple(q["items"]))


def _read_decision(d: Json) -> tuple[HumanReviewer, Reason, dt.datetime]:
    reviewer = d["reviewer"]
    if not isinstance(reviewer, dict):
        raise CodecError("a decision without a reviewer")
    return (HumanReviewer(reviewer["id"], reviewer["name"]), Reason(d["reason"]),
            _parse_time(d["at"]))


# --- Facts, requests, items ----------------------------------------------------------------


def value_to_json(value: FactValue | None) -> Any:
    """A fact value as plain JSON (levels as 'L1', sets as sorted lists, dates as ISO)."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, frozenset):
        return sorted(value)
    return [str(level) for level in value]


def value_from_json(name: str, raw: Any) -> FactValue | None:
    """A stored value read back through the fact's own coercion."""
    if raw is None:
        return None
    spec = CATALOGUE.get(name)
    if spec is None:
        raise CodecError(f"stored fact {name!r} is not in the catalogue")
    try:
        return spec.coerce(raw)
    except ValueError as exc:
        raise CodecError(f"stored fact {name!r}: {exc}") from None


def _provenance(p: Provenance) -> Json:
    return {"kind": p.kind, "source": p.source, "quote": p.quote,
            "span": list(p.span) if p.span else None, "location": p.location}


def _read_provenance(d: Json) -> Provenance:
    span = d.get("span")
    return Provenance(d["kind"], d["source"], d.get("quote"),
                      (int(span[0]), int(span[1])) if span else None, d.get("location"))


def fact_to_json(fact: Fact) -> Json:
    """One fact with its evidence and conflicting readings."""
    return {
        "name": fact.name,
        "value": value_to_json(fact.value),
        "evidence": [_provenance(p) for p in fact.evidence],
        "conflicts": [fact_to_json(c) for c in fact.conflicts],
    }


def fact_from_json(d: Json) -> Fact:
    """A stored fact."""
    name = d["name"]
    return Fact(
        name,
        value_from_json(name, d.get("value")),
        tuple(_read_provenance(p) for p in d.get("evidence", [])),
        tuple(fact_from_json(c) for c in d.get("conflicts", [])),
    )


def facts_to_json(facts: FactSet) -> list[Json]:
    """A fact set as a JSON list."""
    return [fact_to_json(fact) for fact in facts.values()]


def facts_from_json(data: list[Json]) -> FactSet:
    """A stored fact set."""
    return FactSet(fact_from_json(d) for d in data)


def requests_to_json(requests: tuple[ProcedureRequest, ...]) -> list[Json]:
    """Requested procedures as JSON."""
    return [
        {
            "procedure": r.procedure.value,
            "levels": [str(level) for level in r.levels] if r.levels else None,
            "evidence": [_provenance(p) for p in r.evidence],
        }
        for r in requests
    ]


def requests_from_json(data: list[Json]) -> tuple[ProcedureRequest, ...]:
    """Stored requested procedures."""
    out = []
    for d in data:
        levels = None
        if d.get("levels"):
            found = sorted({lv for text in d["levels"] for lv in parse_levels(text)})
            levels = tuple(found)
        out.append(ProcedureRequest(Procedure(d["procedure"]), levels,
                                    tuple(_read_provenance(p) for p in d.get("evidence", []))))
    return tuple(out)


def items_to_json(items: tuple[RequestedItem, ...]) -> list[Json]:
    """Requested items as JSON."""
    return [
        {"sequence": i.sequence, "label": i.label,
         "procedure": i.procedure.value if i.procedure else None, "codes": list(i.codes)}
        for i in items
    ]


def items_from_json(data: list[Json]) -> tuple[RequestedItem, ...]:
    """Stored requested items."""
    return tuple(
        RequestedItem(int(d["sequence"]), d["label"],
                      Procedure(d["procedure"]) if d.get("procedure") else None,
                      tuple(d.get("codes", [])))
        for d in data
    )

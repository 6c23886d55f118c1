"""The policy file format: a strict schema and its conversion into a validated `Policy`.

Unknown keys are rejected, every node must cite a declared source, ids are unique, and every
predicate must name a catalogued fact with an operator and values that fit its type.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import (
    OPERATOR_TYPES,
    AllOf,
    AnyOf,
    Citation,
    Criterion,
    Not,
    Predicate,
    Test,
)
from vertebro.core.facts import FactType
from vertebro.core.levels import Region
from vertebro.core.policy import (
    Confidence,
    HistoryEntry,
    Outcome,
    Policy,
    Requirement,
    RequirementKind,
    Rule,
    Source,
)

Loc = tuple[str | int, ...]
_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class PolicyFormatError(ValueError):
    """A policy document that does not follow the format; `loc` points at the offending element."""

    def __init__(self, message: str, loc: Loc = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CiteDoc(_Strict):
    source: str
    section: str = Field(min_length=1)
    words: str = Field(min_length=1)


class NodeDoc(_Strict):
    id: str = Field(pattern=_ID)
    title: str = Field(min_length=1)
    cite: list[CiteDoc] = Field(min_length=1)
    note: str | None = None
    all_: list[NodeDoc] | None = Field(default=None, alias="all", min_length=1)
    any_: list[NodeDoc] | None = Field(default=None, alias="any", min_length=1)
    not_: NodeDoc | None = Field(default=None, alias="not")
    fact: str | None = None
    is_: bool | None = Field(default=None, alias="is")
    in_: list[str] | None = Field(default=None, alias="in", min_length=1)
    includes: list[str] | None = Field(default=None, min_length=1)
    at_least: float | None = None
    less_than: float | None = None
    weeks_at_least: float | None = None
    weeks_less_than: float | None = None
    regions_all: list[Region] | None = Field(default=None, min_length=1)
    regions_any: list[Region] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> NodeDoc:
        kinds = [k for k in ("all_", "any_", "not_", "fact") if getattr(self, k) is not None]
        operators = [op for op in OPERATOR_TYPES if getattr(self, op) is not None]
        if len(kinds) != 1:
            names = [k.rstrip("_") for k in kinds] or ["none"]
            raise ValueError(
                f"node {self.id!r} needs exactly one of all, any, not, fact; has {names}"
            )
        if kinds == ["fact"] and len(operators) != 1:
            raise ValueError(
                f"predicate {self.id!r} needs exactly one test "
                f"({', '.join(op.rstrip('_') for op in OPERATOR_TYPES)})"
            )
        if kinds != ["fact"] and operators:
            raise ValueError(f"node {self.id!r} has a test but no fact")
        return self


class SourceDoc(_Strict):
    id: str = Field(pattern=_ID)
    title: str
    publisher: str
    published: str | dt.date | None = None
    url: str | None = None
    text_file: str | None = None
    confidence: Confidence
    note: str | None = None


class EffectiveDoc(_Strict):
    from_: dt.date = Field(alias="from")
    to: dt.date | None = None
    note: str | None = None


class HistoryDoc(_Strict):
    date: str
    summary: str
    cite: CiteDoc


class RuleDoc(_Strict):
    outcome: Outcome
    when: str | None = None
    otherwise: bool = False

    @model_validator(mode="after")
    def _when_or_otherwise(self) -> RuleDoc:
        if (self.when is None) == (not self.otherwise):
            raise ValueError("a rule has either 'when: <criterion id>' or 'otherwise: true'")
        if self.outcome is Outcome.INSUFFICIENT_INFORMATION:
            raise ValueError("insufficient-information is computed from unknowns, never written")
        return self


class RequirementDoc(_Strict):
    id: str = Field(pattern=_ID)
    kind: RequirementKind
    title: str
    cite: list[CiteDoc] = Field(min_length=1)
    procedures: list[Procedure] = Field(min_length=1)
    applies_when: NodeDoc | None = None
    confirm: NodeDoc | None = None
    note: str | None = None


class PolicyDoc(_Strict):
    id: str = Field(pattern=_ID)
    title: str
    version: str = Field(min_length=1)
    jurisdiction: str
    effective: EffectiveDoc
    sources: list[SourceDoc] = Field(min_length=1)
    history: list[HistoryDoc] = []
    criteria: list[NodeDoc] = Field(min_length=1)
    determinations: dict[Procedure, list[RuleDoc]]
    requirements: list[RequirementDoc] = []


def content_hash(data: Any) -> str:
    """A SHA-256 of the document's canonical JSON: the same content always hashes the same."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def policy_from_dict(data: Any) -> Policy:
    """Validate a parsed policy document and build the `Policy`.

    Raises:
        PolicyFormatError: with a message and the location of the first problem.
    """
    try:
        doc = PolicyDoc.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PolicyFormatError(schema_message(first), tuple(first["loc"])) from None
    return _Builder(doc, content_hash(data)).build()


def schema_message(error: Any) -> str:
    """A pydantic validation error in the words of a file format's reader."""
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return f"unknown key {error['loc'][-1]!r}"
    if error["type"] == "missing":
        return f"missing key {error['loc'][-1]!r}"
    return message.removeprefix("Value error, ")


class CriterionBuilder:
    """Builds cited criterion trees from their documents, for policy and pathway files alike:
    criterion ids unique across the document, every citation naming a declared source, every
    fact catalogued and every test fitting its fact's type.

    `error` makes the format's own exception from a message and a location; `document` names
    the kind of file in messages ("policy", "pathway").
    """

    def __init__(self, source_ids: set[str], *, document: str,
                 error: Callable[[str, Loc], ValueError]) -> None:
        self.source_ids = source_ids
        self.document = document
        self.error = error
        self.seen_ids: dict[str, Loc] = {}

    def unique(self, ids: list[str], loc: Loc, what: str, *, suffix: Loc = ()) -> None:
        """Refuse a repeated id in a list; the location points at the second one."""
        seen: set[str] = set()
        for i, item in enumerate(ids):
            if item in seen:
                raise self.error(f"duplicate {what} {item!r}", (*loc, i, *suffix))
            seen.add(item)

    def cite(self, cite: CiteDoc, loc: Loc) -> Citation:
        """A citation of a declared source, its words with whitespace normalised."""
        if cite.source not in self.source_ids:
            known = ", ".join(sorted(self.source_ids))
            raise self.error(
                f"citation names source {cite.source!r}, which the {self.document} does not "
                f"declare (declared: {known})",
                (*loc, "source"),
            )
        return Citation(cite.source, cite.section, words(cite.words))

    def cites(self, cites: list[CiteDoc], loc: Loc) -> tuple[Citation, ...]:
        """Each citation of an element (`loc` is the element; the list is its `cite`)."""
        return tuple(self.cite(c, (*loc, "cite", i)) for i, c in enumerate(cites))

    def claim_id(self, node_id: str, loc: Loc) -> None:
        """Record a criterion id, refusing one used before anywhere in the document."""
        if node_id in self.seen_ids:
            raise self.error(f"duplicate criterion id {node_id!r}", (*loc, "id"))
        self.seen_ids[node_id] = loc

    def node(self, node: NodeDoc, loc: Loc) -> Criterion:
        """A criterion tree."""
        self.claim_id(node.id, loc)
        common = (node.id, words(node.title), self.cites(node.cite, loc), node.note)
        if node.all_ is not None:
            kids = tuple(self.node(c, (*loc, "all", i)) for i, c in enumerate(node.all_))
            return AllOf(*common, children=kids)
        if node.any_ is not None:
            kids = tuple(self.node(c, (*loc, "any", i)) for i, c in enumerate(node.any_))
            return AnyOf(*common, children=kids)
        if node.not_ is not None:
            return Not(*common, child=self.node(node.not_, (*loc, "not")))
        assert node.fact is not None
        return Predicate(*common, fact=node.fact, test=self._test(node, loc))

    def _test(self, node: NodeDoc, loc: Loc) -> Test:
        fact = node.fact
        assert fact is not None
        spec = CATALOGUE.get(fact)
        if spec is None:
            raise self.error(f"unknown fact {fact!r}", (*loc, "fact"))
        operator = next(op for op in OPERATOR_TYPES if getattr(node, op) is not None)
        key = operator.rstrip("_")
        if OPERATOR_TYPES[operator] is not spec.type:
            raise self.error(
                f"'{key}' does not apply to {fact!r}, a {spec.type.value} fact", (*loc, key)
            )
        raw = getattr(node, operator)
        if spec.type in (FactType.CHOICE, FactType.CHOICES):
            for i, value in enumerate(raw):
                if value not in spec.choices:
                    raise self.error(
                        f"{value!r} is not a value of {fact!r} ({', '.join(spec.choices)})",
                        (*loc, key, i),
                    )
        if isinstance(raw, list):
            raw = tuple(raw)
        return Test(**{operator: raw})


def words(text: str) -> str:
    """Text with its whitespace runs made single spaces (YAML folds lines unevenly)."""
    return " ".join(text.split())


class _Builder:
    def __init__(self, doc: PolicyDoc, digest: str) -> None:
        self.doc = doc
        self.digest = digest
        self.trees = CriterionBuilder({source.id for source in doc.sources}, document="policy",
                                      error=PolicyFormatError)

    def build(self) -> Policy:
        doc = self.doc
        if doc.effective.to is not None and doc.effective.to < doc.effective.from_:
            raise PolicyFormatError("effective 'to' is before 'from'", ("effective", "to"))
        self.trees.unique([s.id for s in doc.sources], ("sources",), "source id", suffix=("id",))
        criteria = {
            node.id: self.trees.node(node, ("criteria", i)) for i, node in enumerate(doc.criteria)
        }
        requirements = tuple(self._requirement(r, i) for i, r in enumerate(doc.requirements))
        rules = {}
        for procedure in Procedure:
            if procedure not in doc.determinations:
                raise PolicyFormatError(
                    f"no determination rules for {procedure.value}", ("determinations",)
                )
            rules[procedure] = self._rules(procedure, doc.determinations[procedure], criteria)
        history = tuple(
            HistoryEntry(h.date, h.summary, self.trees.cite(h.cite, ("history", i, "cite")))
            for i, h in enumerate(doc.history)
        )
        sources = {
            s.id: Source(
                s.id,
                s.title,
                s.publisher,
                _text(s.published),
                s.url,
                s.text_file,
                s.confidence,
                s.note,
            )
            for s in doc.sources
        }
        return Policy(
            id=doc.id,
            title=doc.title,
            version=doc.version,
            jurisdiction=doc.jurisdiction,
            effective_from=doc.effective.from_,
            effective_to=doc.effective.to,
            effective_note=doc.effective.note,
            sources=sources,
            history=history,
            criteria=criteria,
            rules=rules,
            requirements=requirements,
            content_hash=self.digest,
        )

    def _requirement(self, req: RequirementDoc, i: int) -> Requirement:
        loc: Loc = ("requirements", i)
        self.trees.claim_id(req.id, loc)
        trees = self.trees
        applies = trees.node(req.applies_when, (*loc, "applies_when")) if req.applies_when else None
        confirm = trees.node(req.confirm, (*loc, "confirm")) if req.confirm else None
        return Requirement(
            req.id,
            req.kind,
            words(req.title),
            self.trees.cites(req.cite, loc),
            tuple(req.procedures),
            applies,
            confirm,
            req.note,
        )

    def _rules(
        self, procedure: Procedure, docs: list[RuleDoc], criteria: dict[str, Criterion]
    ) -> tuple[Rule, ...]:
        loc: Loc = ("determinations", procedure.value)
        if not docs or not docs[-1].otherwise:
            raise PolicyFormatError("the last rule must be 'otherwise: true'", loc)
        rules = []
        for i, rule in enumerate(docs):
            if rule.otherwise and i != len(docs) - 1:
                raise PolicyFormatError("only the last rule may be 'otherwise'", (*loc, i))
            if rule.when is not None and rule.when not in criteria:
                raise PolicyFormatError(
                    f"rule refers to {rule.when!r}, which is not a top-level criterion",
                    (*loc, i, "when"),
                )
            rules.append(Rule(rule.outcome, rule.when))
        return tuple(rules)


def _text(value: str | dt.date | None) -> str | None:
    return None if value is None else str(value)

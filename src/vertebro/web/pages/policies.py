"""The policies as readable, cited documents: the list with versions and effective dates, and one
policy version with its sources, rules in order, criteria trees (every criterion's words quoted
and cited) and requirements. Built from the policy model, as `render.render_policy` is for
Markdown; nothing here decides anything."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from vertebro.adapters import policy_files
from vertebro.adapters.errors import InputError
from vertebro.api.deps import state
from vertebro.api.security import Principal
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.criteria import (
    AllOf,
    AnyOf,
    Citation,
    Criterion,
    Not,
    Predicate,
    children,
    test_operator,
)
from vertebro.core.policy import Policy
from vertebro.web.session import PageError, page_user
from vertebro.web.templating import render

router = APIRouter()

# How an outcome reads to a person. No automatic outcome is a denial: the two adverse ones say
# that a reviewer decides.
OUTCOME_WORDS: dict[str, str] = {
    "meets-criteria": "Meets criteria",
    "insufficient-information": "Insufficient information - questions below",
    "does-not-meet-criteria": "Does not meet criteria - a reviewer will decide",
    "investigational": "Investigational - a reviewer will decide",
}
OUTCOME_CLASS: dict[str, str] = {
    "meets-criteria": "status-met",
    "insufficient-information": "status-unknown",
    "does-not-meet-criteria": "status-not-met",
    "investigational": "status-info",
}
STATUS_WORDS: dict[str, str] = {"met": "Met", "not-met": "Not met", "unknown": "Unknown"}


@dataclass(frozen=True, slots=True)
class CitationView:
    """A citation as shown: the document's title and link, the section and the quoted words."""

    document: str
    url: str | None
    section: str
    words: str


@dataclass(frozen=True, slots=True)
class NodeView:
    """A criterion as shown in the policy document."""

    id: str
    title: str
    kind: str  # "All of these", "Any of these", "Not", or the test in words
    citations: tuple[CitationView, ...]
    note: str | None
    children: tuple[NodeView, ...]


@dataclass(frozen=True, slots=True)
class RuleView:
    """One step of a procedure's rules: if this criterion is met, this outcome."""

    when_id: str | None
    when_title: str | None
    outcome: str


@dataclass(frozen=True, slots=True)
class RequirementView:
    """A requirement beside the criteria."""

    id: str
    title: str
    kind: str
    procedures: str
    citations: tuple[CitationView, ...]
    applies_when: NodeView | None
    confirm: NodeView | None
    note: str | None


def cite(citation: Citation, policy: Policy) -> CitationView:
    """A citation with its source document's title and address."""
    source = policy.sources[citation.source]
    return CitationView(source.title, source.url, citation.section, citation.words)


def test_words(node: Predicate) -> str:
    """A predicate's test in plain English, naming the fact by its title."""
    spec = CATALOGUE[node.fact]
    title = spec.title
    test = node.test
    operator = test_operator(test)
    value = getattr(test, operator)
    unit = f" {spec.unit}" if spec.unit and spec.unit not in ("weeks",) else ""
    if operator == "is_":
        return f"{title}: {'yes' if value else 'no'}"
    if operator in ("in_", "includes", "regions_all", "regions_any"):
        joined = _joined([str(v).replace("-", " ") for v in value],
                         "and" if operator == "includes" else "or")
        return {
            "in_": f"{title}: {joined}",
            "includes": f"{title} include {joined}",
            "regions_all": f"{title}: every level is {joined}",
            "regions_any": f"{title}: at least one level is {joined}",
        }[operator]
    number = f"{value:g}"
    return {
        "at_least": f"{title}: at least {number}{unit}",
        "less_than": f"{title}: less than {number}{unit}",
        "weeks_at_least": f"{title}: at least {number} weeks before the assessment date",
        "weeks_less_than": f"{title}: less than {number} weeks before the assessment date",
    }[operator]


def _joined(items: list[str], last: str) -> str:
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def node_view(node: Criterion, policy: Policy) -> NodeView:
    """A criterion tree as shown."""
    if isinstance(node, AllOf):
        kind = "All of these"
    elif isinstance(node, AnyOf):
        kind = "Any of these"
    elif isinstance(node, Not):
        kind = "Not the following"
    else:
        assert isinstance(node, Predicate)
        kind = test_words(node)
    return NodeView(node.id, node.title, kind, tuple(cite(c, policy) for c in node.citations),
                    node.note, tuple(node_view(c, policy) for c in children(node)))


def rules_view(policy: Policy) -> list[tuple[str, list[RuleView]]]:
    """Each procedure's rules in the order they are tried."""
    return [
        (procedure.value, [
            RuleView(rule.when, policy.criteria[rule.when].title if rule.when else None,
                     rule.outcome.value)
            for rule in rules
        ])
        for procedure, rules in policy.rules.items()
    ]


def requirements_view(policy: Policy) -> list[RequirementView]:
    """The requirements that do not decide the outcome."""
    return [
        RequirementView(
            r.id, r.title, r.kind.value, ", ".join(p.value for p in r.procedures),
            tuple(cite(c, policy) for c in r.citations),
            node_view(r.applies_when, policy) if r.applies_when is not None else None,
            node_view(r.confirm, policy) if r.confirm is not None else None, r.note,
        )
        for r in policy.requirements
    ]


def period(policy: Policy) -> str:
    """The effective period in words."""
    if policy.effective_to is None:
        return f"from {policy.effective_from:%d %B %Y}, open-ended"
    return f"from {policy.effective_from:%d %B %Y} to {policy.effective_to:%d %B %Y}"


def chosen_version(policy_id: str, version: str | None, today: dt.date) -> tuple[
        Policy, list[Policy]]:
    """The version asked for, else the one in effect today, else the latest; and all versions.

    Raises:
        PageError: no such policy or version (404).
    """
    try:
        versions = [v.policy for v in policy_files.versions_of(policy_id)]
    except InputError:
        raise PageError(404, f"There is no policy {policy_id!r}. Known policies: "
                             f"{', '.join(policy_files.known_ids())}.") from None
    if version:
        found = next((p for p in versions if p.version == version), None)
        if found is None:
            raise PageError(404, f"Policy {policy_id} has no version {version!r}; its versions "
                                 f"are {', '.join(p.version for p in versions)}.")
        return found, versions
    in_effect = [p for p in versions if p.in_effect_on(today)]
    return (in_effect or versions)[-1], versions


@router.get("/app/policies", response_class=HTMLResponse)
async def policy_list(request: Request,
                      user: Annotated[Principal, Depends(page_user)]) -> Response:
    """Every shipped policy with its versions and effective dates."""
    today = state(request).now().date()
    policies = []
    for policy_id in policy_files.known_ids():
        versions = [v.policy for v in policy_files.versions_of(policy_id)]
        policies.append({
            "id": policy_id,
            "title": versions[-1].title,
            "jurisdiction": versions[-1].jurisdiction,
            "versions": [{"version": p.version, "period": period(p),
                          "in_effect": p.in_effect_on(today), "hash": p.content_hash}
                         for p in reversed(versions)],
        })
    return render(request, "policies_list.html", user, policies=policies, today=today,
                  default_policy=state(request).settings.default_policy)


@router.get("/app/policies/{policy_id}", response_class=HTMLResponse)
async def policy_page(
    request: Request, policy_id: str, user: Annotated[Principal, Depends(page_user)],
    version: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """One policy version as a cited document."""
    today = state(request).now().date()
    policy, versions = chosen_version(policy_id, version, today)
    return render(
        request, "policies_detail.html", user, policy=policy, versions=versions,
        period=period(policy), in_effect=policy.in_effect_on(today), today=today,
        sources=list(policy.sources.values()), rules=rules_view(policy),
        trees=[node_view(tree, policy) for tree in policy.criteria.values()],
        requirements=requirements_view(policy),
        history=[(h.date, h.summary, cite(h.citation, policy)) for h in policy.history],
        outcome_words=OUTCOME_WORDS, outcome_class=OUTCOME_CLASS,
    )

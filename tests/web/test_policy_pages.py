"""The Policies pages in-process: the list with versions and dates for every role, and a policy
version as a cited document - sources, rules in order, every criterion quoted and cited, the
requirements, the version selector and content hash - with unknown ids and versions as 404
pages."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from vertebro.adapters import policy_files
from vertebro.core.criteria import Predicate
from vertebro.web.pages import policies as policies_page

from .conftest import Web
from .test_assess_pages import El, dom, words


@pytest.mark.parametrize("who", ["requester", "reviewer", "coder", "auditor", "admin"])
def test_every_signed_in_account_sees_the_policies_with_versions_and_dates(
    web: Web, who: str,
) -> None:
    web.sign_in(who)
    response = web.client.get("/app/policies")
    assert response.status_code == 200
    page = dom(response.text)
    links = {a.attrs["href"] for a in page.find("a")}
    for version in policy_files.shipped():
        p = version.policy
        assert f"/app/policies/{p.id}" in links
        assert f"/app/policies/{p.id}?version={p.version}" in links
        assert policies_page.period(p) in words(response.text)
    # 6 October 2026 (the test clock): both shipped versions are in effect.
    assert words(response.text).count("In effect ") >= 2


def test_signed_out_people_are_sent_to_sign_in(web: Web) -> None:
    response = web.client.get("/app/policies/nice", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=%2Fapp%2Fpolicies%2Fnice"


@pytest.mark.parametrize("policy_id", ["carefirst", "nice"])
def test_a_policy_page_quotes_and_cites_every_criterion(web: Web, policy_id: str) -> None:
    web.sign_in("auditor")
    response = web.client.get(f"/app/policies/{policy_id}")
    assert response.status_code == 200
    html = response.text
    page = dom(html)
    policy = policy_files.versions_of(policy_id)[-1].policy
    assert page.find("h1")[0].text() == policy.title
    assert policy.content_hash in html
    for node in policy.nodes():
        item = page.by_id(f"criterion-{node.id}")
        quotes = item.find("blockquote")
        # Each of the node's own citations is quoted (its children's come after).
        for citation in node.citations:
            assert any(str(escape(citation.words)) in _html_text(q) for q in quotes), node.id
            source = policy.sources[citation.source]
            assert any(f"{source.title}, {citation.section}" in words(_html_text(q))
                       for q in quotes), node.id
        if isinstance(node, Predicate):
            assert policies_page.test_words(node) in item.text()
    for source in policy.sources.values():
        assert str(escape(source.title)) in html


def _html_text(element: El) -> str:
    """An element's text, escaped again to compare with escaped words."""
    return str(escape(element.text()))


def test_the_tree_is_nested_as_the_policy_is(web: Web) -> None:
    web.sign_in("reviewer")
    page = dom(web.client.get("/app/policies/carefirst").text)
    child = page.by_id("criterion-cf-p1-six-weeks")
    parents = child.ancestors()
    assert page.by_id("criterion-cf-pathway-failed-conservative") in parents
    assert page.by_id("criterion-cf-medically-necessary") in parents


def test_rules_are_listed_in_order_with_outcomes_in_words_and_never_a_denial(web: Web) -> None:
    web.sign_in("reviewer")
    html = web.client.get("/app/policies/carefirst").text
    page = dom(html)
    heading = next(h for h in page.find("h3") if h.text() == "Vertebroplasty")
    assert heading.parent is not None
    steps = [re.sub(r"\s+", " ", li.text()).strip() for li in heading.parent.find("li")]
    assert steps == [
        "If Sacroplasty (cement augmentation of the sacrum) is requested is met: "
        "Investigational - a reviewer will decide",
        "If Meets one of the three medically necessary indications is met: Meets criteria",
        "If The request is for an indication the policy covers (whether or not its criteria "
        "are met) is met: Does not meet criteria - a reviewer will decide",
        "Otherwise: Investigational - a reviewer will decide",
    ]
    badges = {b.text() for b in page.find("span") if "badge" in b.attrs.get("class", "")
              and b.text() in policies_page.OUTCOME_WORDS.values()}
    assert len(badges) == 3
    assert not any(re.search(r"\bden(y|ied|ial)\b", b, re.IGNORECASE) for b in badges)


def test_predicates_read_as_plain_english() -> None:
    policy = policy_files.versions_of("carefirst")[-1].policy
    nodes = {n.id: n for n in policy.nodes() if isinstance(n, Predicate)}
    assert policies_page.test_words(nodes["cf-p1-six-weeks"]) == (
        "Weeks of conservative treatment: at least 6")
    assert policies_page.test_words(nodes["cf-p2-under-six-weeks"]) == (
        "Date of fracture: less than 6 weeks before the assessment date")
    assert policies_page.test_words(nodes["cf-p3-thoracic-or-lumbar"]) == (
        "Levels to be treated: every level is thoracic or lumbar")
    assert policies_page.test_words(nodes["cf-p3-myeloma-or-metastasis"]) == (
        "Cause of the fracture or lesion: myeloma or metastasis")


def test_the_version_selector_shows_the_chosen_version(web: Web) -> None:
    web.sign_in("coder")
    response = web.client.get("/app/policies/nice?version=2026.01")
    assert response.status_code == 200
    page = dom(response.text)
    select = page.by_id("version")
    options = select.find("option")
    assert [o.attrs["value"] for o in options] == [
        v.policy.version for v in reversed(policy_files.versions_of("nice"))]
    assert "selected" in next(o for o in options if o.attrs["value"] == "2026.01").attrs
    labels = [lab for lab in page.find("label") if lab.attrs.get("for") == "version"]
    assert labels


@pytest.mark.parametrize(("path", "message"), [
    ("/app/policies/acme", "There is no policy 'acme'. Known policies: carefirst, nice."),
    ("/app/policies/nice?version=1999", "Policy nice has no version '1999'; its versions are "
                                        "2026.01."),
])
def test_unknown_policies_and_versions_are_404_pages(web: Web, path: str, message: str) -> None:
    web.sign_in("reviewer")
    response = web.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert message in words(response.text)

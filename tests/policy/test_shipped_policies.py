"""The shipped policies: valid, cited verbatim, and fully covered by their own test cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertebro.adapters import policy_files
from vertebro.policy_tests import Verdict, run_policy_tests

VERSIONS = policy_files.shipped()
IDS = [f"{v.policy.id}-{v.policy.version}" for v in VERSIONS]


def _normalise(text: str) -> str:
    # Markdown emphasis in the reference notes and typographic apostrophes are not wording.
    return " ".join(text.replace("*", "").replace("’", "'").split())


def test_both_policies_ship() -> None:
    assert {"carefirst", "nice"} <= {v.policy.id for v in VERSIONS}


@pytest.mark.parametrize("version", VERSIONS, ids=IDS)
def test_every_citation_quotes_its_source_verbatim(
    version: policy_files.PolicyVersion, shared: Path
) -> None:
    policy = version.policy
    texts = {}
    for source in policy.sources.values():
        assert source.text_file, f"{source.id} has no text_file to check quotes against"
        texts[source.id] = _normalise((shared / source.text_file).read_text(encoding="utf-8"))
    citations = [c for node in policy.nodes() for c in node.citations]
    citations += [c for req in policy.requirements for c in req.citations]
    citations += [entry.citation for entry in policy.history]
    assert citations
    unquoted = [c.words for c in citations if _normalise(c.words) not in texts[c.source]]
    assert unquoted == []


@pytest.mark.parametrize("version", VERSIONS, ids=IDS)
def test_policy_cases_pass_and_cover_every_criterion(version: policy_files.PolicyVersion) -> None:
    run = run_policy_tests(version)
    failures = [
        (r.name, r.problems) for r in run.results if r.verdict in (Verdict.FAIL, Verdict.ERROR)
    ]
    assert failures == []
    assert run.ok
    assert run.coverage_gaps() == {}


@pytest.mark.parametrize("version", VERSIONS, ids=IDS)
def test_titles_are_plain_words(version: policy_files.PolicyVersion) -> None:
    for node in version.policy.nodes():
        assert node.title[:1].isupper() or node.title[:1].isdigit(), node.id
        assert "_" not in node.title, node.id


@pytest.mark.parametrize("version", VERSIONS, ids=IDS)
def test_policy_review_documents_are_current(version: policy_files.PolicyVersion) -> None:
    """docs/policies/<id>.md is what clinicians review; regenerate with `vertebro policy <id>`."""
    from vertebro.render import render_policy

    doc = Path(__file__).resolve().parents[2] / "docs" / "policies" / f"{version.policy.id}.md"
    assert doc.read_text(encoding="utf-8") == render_policy(version.policy), (
        f"run: vertebro policy {version.policy.id} > docs/policies/{version.policy.id}.md"
    )

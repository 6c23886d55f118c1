"""Policy files load strictly and errors name the file and line."""

from __future__ import annotations

import textwrap

import pytest

from vertebro.adapters.errors import InputError
from vertebro.adapters.policy_files import parse_policy_text

MINIMAL = textwrap.dedent(
    """\
    id: demo
    title: Demo policy
    version: "1"
    jurisdiction: Nowhere
    effective: {from: 2026-01-01}
    sources:
      - {id: src, title: Source, publisher: Someone, confidence: confirmed}
    criteria:
      - id: severe
        title: Severe pain
        cite: [{source: src, section: "1", words: severe pain}]
        fact: pain.severe
        is: true
    determinations:
      vertebroplasty:
        - {when: severe, outcome: meets-criteria}
        - {otherwise: true, outcome: does-not-meet-criteria}
      kyphoplasty:
        - {otherwise: true, outcome: does-not-meet-criteria}
      sacroplasty:
        - {otherwise: true, outcome: investigational}
    """
)


def test_minimal_policy_loads() -> None:
    policy = parse_policy_text(MINIMAL, "demo.yaml")
    assert policy.id == "demo" and policy.content_hash.startswith("sha256:")
    assert [node.id for node in policy.nodes()] == ["severe"]


def test_hash_changes_with_content_only() -> None:
    a = parse_policy_text(MINIMAL, "a.yaml").content_hash
    b = parse_policy_text(MINIMAL + "\n# a comment\n", "b.yaml").content_hash
    c = parse_policy_text(MINIMAL.replace("Severe pain", "Very severe pain"), "c.yaml").content_hash
    assert a == b != c


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("    is: true", "    is: true\n    colour: red", 14, "unknown key 'colour'"),
        ("source: src, section", "source: nowhere, section", 11, "does not declare"),
        ("fact: pain.severe", "fact: pain.sevre", 12, "unknown fact 'pain.sevre'"),
        ("    is: true", "    at_least: 3", 13, "'at_least' does not apply to 'pain.severe'"),
        ("{when: severe,", "{when: nothing,", 16, "not a top-level criterion"),
        (
            "  sacroplasty:\n    - {otherwise: true, outcome: investigational}\n",
            "",
            14,
            "no determination rules for sacroplasty",
        ),
        (
            "- {otherwise: true, outcome: does-not-meet-criteria}\n  kyphoplasty",
            "- {when: severe, outcome: does-not-meet-criteria}\n  kyphoplasty",
            15,
            "last rule must be 'otherwise",
        ),
        (
            "    cite: [{source: src",
            "    cite: []\n    xcite: [{source: src",
            11,
            "at least 1 item",
        ),
        ("title: Severe pain\n", "title: Severe pain\n    any: []\n", 11, "at least 1 item"),
    ],
)
def test_errors_name_the_line(old: str, new: str, line: int, message: str) -> None:
    assert old in MINIMAL
    with pytest.raises(InputError) as caught:
        parse_policy_text(MINIMAL.replace(old, new), "demo.yaml")
    assert str(caught.value).startswith(f"demo.yaml:{line}: ")
    assert message in str(caught.value)


def test_duplicate_ids_are_rejected() -> None:
    text = MINIMAL.replace(
        "    fact: pain.severe\n    is: true\n",
        "    all:\n      - {id: severe, title: t, cite: [{source: src, section: s, words: w}], "
        "fact: pain.severe, is: true}\n",
    )
    with pytest.raises(InputError, match="duplicate criterion id 'severe'"):
        parse_policy_text(text, "demo.yaml")


def test_duplicate_yaml_keys_are_rejected() -> None:
    with pytest.raises(InputError, match=r"demo.yaml:3: duplicate key 'title'"):
        parse_policy_text(MINIMAL.replace("version:", "title: again\nversion:", 1), "demo.yaml")


def test_choice_values_are_checked() -> None:
    text = MINIMAL.replace(
        "fact: pain.severe\n    is: true", "fact: fracture.aetiology\n    in: [viral]"
    )
    with pytest.raises(InputError, match=r"'viral' is not a value of 'fracture\.aetiology'"):
        parse_policy_text(text, "demo.yaml")


def test_not_yaml() -> None:
    with pytest.raises(InputError, match=r"^demo.yaml:\d+: "):
        parse_policy_text("id: [unclosed", "demo.yaml")

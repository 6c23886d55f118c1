"""The rules files: strict loading, every fact known, and the pattern language."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vertebro.adapters.nlp.pipeline import Pipeline
from vertebro.adapters.nlp.rules import (
    ConceptRule,
    ContextFile,
    RulesError,
    SectionFile,
    compile_pattern,
    load_rules,
)
from vertebro.core.catalogue import CATALOGUE


def tokenize(text: str) -> list[str]:
    """A stand-in tokenizer: spaces, and hyphens and slashes as their own tokens."""
    return text.replace("-", " - ").replace("/", " / ").split()


def test_rules_load_and_name_known_facts() -> None:
    rules = load_rules()
    assert len(rules.concepts) > 50
    for label, concept in rules.concepts.items():
        assert label in rules.groups[concept.group]
        for name in [*concept.affirmed, *concept.negated, *concept.resolved]:
            assert name in CATALOGUE, (label, name)


def test_pipeline_accepts_every_rule(pipeline: Pipeline) -> None:
    assert pipeline.rules is load_rules()
    assert pipeline.kind == "vertebro"


def test_concept_rejects_unknown_key() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ConceptRule.model_validate({"patterns": ["x"], "group": "g", "colour": "red"})


def test_concept_rejects_unknown_fact_and_bad_value() -> None:
    with pytest.raises(ValidationError, match="unknown fact"):
        ConceptRule.model_validate({"patterns": ["x"], "group": "g", "affirmed": {"no.such": True}})
    with pytest.raises(ValidationError, match="spiral"):
        ConceptRule.model_validate(
            {"patterns": ["x"], "group": "g", "affirmed": {"fracture.type": "spiral"}}
        )


def test_concept_accepts_unsure() -> None:
    rule = ConceptRule.model_validate(
        {"patterns": ["x"], "group": "g", "affirmed": {"cord_compression.present": "unsure"}}
    )
    assert rule.affirmed == {"cord_compression.present": "unsure"}


def test_context_and_section_files_are_strict() -> None:
    with pytest.raises(ValidationError):
        ContextFile.model_validate(
            {"rules": [{"literal": "x", "category": "MAYBE", "direction": "FORWARD"}]}
        )
    with pytest.raises(ValidationError):
        SectionFile.model_validate({"effects": {"x": "forget"}, "sections": {}})


def test_literal_phrase_compiles_to_one_pattern() -> None:
    [pattern] = compile_pattern("bone marrow oedema", tokenize)
    words = [token["LOWER"] for token in pattern if "LOWER" in token]
    assert words == ["bone", "marrow", "oedema"]


def test_alternatives_optional_wildcard_and_classes() -> None:
    [pattern] = compile_pattern("acute|recent? ~level *3 fracture", tokenize)
    assert pattern[0] == {"LOWER": {"IN": ["acute", "recent"]}, "OP": "?"}
    assert any("REGEX" in str(token) for token in pattern)
    assert any(token.get("OP") == "{0,3}" for token in pattern)


def test_multi_token_alternatives_expand() -> None:
    patterns = compile_pattern("x-ray|radiograph shows", tokenize)
    assert len(patterns) == 2


@pytest.mark.parametrize("bad", ["", "a *0 b", "a *13 b", "~nonsense", "a|| b"])
def test_bad_patterns_are_errors(bad: str) -> None:
    with pytest.raises(RulesError):
        compile_pattern(bad, tokenize)

"""The note reader's rules: target concepts, ConText modifiers and section headings, read from the
YAML files in `rules/` (package data) and checked strictly: unknown keys, unknown facts, values a
fact cannot take and patterns that cannot be compiled are errors naming the file and the rule.

Patterns use a small language (described at the top of `rules/targets.yaml`) that is compiled
here into spaCy token patterns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import product
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vertebro.adapters import yaml_lines
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import FactType

UNSURE = "unsure"  # a rule value meaning "this finding makes the fact uncertain"
MAX_VARIANTS = 256  # a pattern whose alternatives expand to more token sequences is an error

Assertion = Literal["hypothetical", "uncertain", "historical", "family"]
Direction = Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"]
ContextCategory = Literal[
    "NEGATED_EXISTENCE",
    "POSSIBLE_EXISTENCE",
    "HYPOTHETICAL",
    "HISTORICAL",
    "FAMILY",
    "RESOLVED",
    "HEALED",
    "RECENT",
    "AGE_UNKNOWN",
    "INCIDENTAL",
    "TERMINATE",
    "PSEUDO",
]
SectionEffect = Literal["family", "historical", "ignore", "team", "exam", "admission"]

TokenPattern = list[dict[str, Any]]
Tokenize = Callable[[str], list[str]]


class RulesError(ValueError):
    """A rules file is invalid; the message names the file, the line when known, and the fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ConceptRule(_Strict):
    """One target concept: its patterns and what a mention of it says about the facts."""

    patterns: list[str] = Field(min_length=1)
    group: str
    affirmed: dict[str, Any] = Field(default_factory=dict)
    negated: dict[str, Any] = Field(default_factory=dict)
    resolved: dict[str, Any] = Field(default_factory=dict)
    strength: int = Field(default=2, ge=1, le=3)
    scope: Literal["patient", "level"] = "patient"
    chronic: bool = False
    allow: list[Assertion] = Field(default_factory=list)
    attrs: dict[str, str] = Field(default_factory=dict)

    @field_validator("affirmed", "negated", "resolved")
    @classmethod
    def _facts_exist(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, raw in value.items():
            spec = CATALOGUE.get(name)
            if spec is None:
                raise ValueError(f"unknown fact {name!r}")
            if raw == UNSURE:
                continue
            if spec.type in (FactType.CHOICES, FactType.LEVELS, FactType.DATE):
                raise ValueError(f"fact {name!r} is set by the extractor, not by a rule")
            spec.coerce(raw)  # raises ValueError naming what was expected
        return value


class TargetFile(_Strict):
    """rules/targets.yaml."""

    groups: dict[str, list[str]]
    concepts: dict[str, ConceptRule]


class ModifierRule(_Strict):
    """One ConText modifier rule added by vertebro."""

    literal: str
    category: ContextCategory
    direction: Direction
    pattern: str | None = None
    allowed: list[str] | None = None
    excluded: list[str] | None = None
    max_scope: int | None = Field(default=None, ge=1)


class ContextFile(_Strict):
    """rules/context.yaml."""

    drop: list[str] = Field(default_factory=list)
    recategorise: dict[str, ContextCategory] = Field(default_factory=dict)
    rules: list[ModifierRule]


class SectionFile(_Strict):
    """rules/sections.yaml."""

    effects: dict[str, SectionEffect]
    sections: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Rules:
    """Every rule the note reader uses, validated."""

    concepts: Mapping[str, ConceptRule]
    groups: Mapping[str, tuple[str, ...]]
    context: ContextFile
    sections: SectionFile

    def group_of(self, label: str) -> str:
        """The group a concept belongs to."""
        return self.concepts[label].group

    def expand_types(self, names: list[str] | None) -> set[str] | None:
        """Concept labels named directly or through their group."""
        if names is None:
            return None
        labels: set[str] = set()
        for name in names:
            labels.update(self.groups.get(name, (name,)))
        return labels


def _read(name: str) -> Any:
    display = f"nlp/rules/{name}"
    text = (resources.files("vertebro.adapters.nlp") / "rules" / name).read_text(encoding="utf-8")
    try:
        return yaml_lines.load(text), display
    except yaml_lines.YamlError as exc:
        raise RulesError(f"{display}:{exc.line}: {exc.message}") from None


def _validate(model: type[BaseModel], name: str) -> Any:
    data, display = _read(name)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line = yaml_lines.line_of(data, loc)
        where = ".".join(str(part) for part in loc)
        raise RulesError(f"{display}:{line}: {where}: {first['msg']}") from None


@cache
def load_rules() -> Rules:
    """Read and check the three rules files (cached: they are package data)."""
    targets: TargetFile = _validate(TargetFile, "targets.yaml")
    context: ContextFile = _validate(ContextFile, "context.yaml")
    sections: SectionFile = _validate(SectionFile, "sections.yaml")
    groups = {name: tuple(labels) for name, labels in targets.groups.items()}
    grouped = {label for labels in groups.values() for label in labels}
    for label, concept in targets.concepts.items():
        if concept.group not in groups or label not in groups[concept.group]:
            raise RulesError(
                f"nlp/rules/targets.yaml: {label}: not listed in group {concept.group!r}"
            )
    unknown = grouped - set(targets.concepts)
    if unknown:
        raise RulesError(f"nlp/rules/targets.yaml: groups name unknown concepts: {sorted(unknown)}")
    rules = Rules(targets.concepts, groups, context, sections)
    for rule in context.rules:
        for names in (rule.allowed, rule.excluded):
            for name in names or ():
                if name not in groups and name not in targets.concepts:
                    raise RulesError(
                        f"nlp/rules/context.yaml: {rule.literal}: unknown concept or group {name!r}"
                    )
    for category in sections.effects:
        if category not in sections.sections:
            raise RulesError(f"nlp/rules/sections.yaml: effect for unknown section {category!r}")
    return rules


_SPECIAL = set("|?~*=")
_LEVEL_REGEX = r"^[CTLSctls]\d{1,2}$"
_SPACE: dict[str, Any] = {"IS_SPACE": True, "OP": "*"}


def compile_pattern(pattern: str, tokenize: Tokenize) -> list[TokenPattern]:
    """Compile one pattern of the rules language into spaCy token patterns.

    Whitespace tokens (line breaks inside a sentence) may appear between any two tokens.

    Raises:
        RulesError: the pattern is empty, malformed, or expands into too many variants.
    """
    if not pattern.strip():
        raise RulesError("empty pattern")
    if not (_SPECIAL & set(pattern)):
        words = tokenize(pattern)
        return [_join([[{"LOWER": word.lower()}] for word in words])]
    slots: list[list[TokenPattern]] = []
    for item in pattern.split():
        slots.append(_slot(item, tokenize, pattern))
    variants = list(product(*slots))
    if len(variants) > MAX_VARIANTS:
        raise RulesError(f"pattern {pattern!r} expands into {len(variants)} variants")
    return [_join(list(variant)) for variant in variants]


def _join(pieces: list[TokenPattern]) -> TokenPattern:
    joined: TokenPattern = []
    for index, piece in enumerate(pieces):
        if index:
            joined.append(dict(_SPACE))
        joined.extend(piece)
    return joined


def _slot(item: str, tokenize: Tokenize, pattern: str) -> list[TokenPattern]:
    """The alternatives one slot can take: each a short token sequence (one token usually)."""
    optional = item.endswith("?") and len(item) > 1
    body = item[:-1] if optional else item
    op = {"OP": "?"} if optional else {}
    if body.startswith("*"):
        count = body[1:]
        if not count.isdigit() or not 0 < int(count) <= 12:
            raise RulesError(f"pattern {pattern!r}: wildcard {item!r} must be *1 to *12")
        # Any tokens within the sentence, except full stops and semicolons.
        return [[{"IS_SENT_START": False, "TEXT": {"NOT_IN": [".", ";"]}, "OP": f"{{0,{count}}}"}]]
    classes: dict[str, dict[str, Any]] = {
        "~level": {"TEXT": {"REGEX": _LEVEL_REGEX}},
        "~num": {"LIKE_NUM": True},
        "~qmark": {"TEXT": "?"},
        "~agesex": {"TEXT": {"REGEX": r"^\d{1,3}[FM]$"}},
        "~newline": {"IS_SPACE": True, "TEXT": {"REGEX": "\n"}},
    }
    exact = body.startswith("=")
    if exact:
        body = body[1:]
    alternatives = body.split("|")
    if not all(alternatives):
        raise RulesError(f"pattern {pattern!r}: empty alternative in {item!r}")
    attr = "TEXT" if exact else "LOWER"
    single: list[str] = []
    sequences: list[TokenPattern] = []
    for alt in alternatives:
        if alt.startswith("~"):
            if alt not in classes:
                raise RulesError(f"pattern {pattern!r}: unknown token class {alt!r}")
            sequences.append([{**classes[alt], **op}])
            continue
        words = tokenize(alt)
        if len(words) == 1:
            single.append(words[0] if exact else words[0].lower())
        elif optional:
            raise RulesError(f"pattern {pattern!r}: optional {item!r} must be single tokens")
        else:
            sequences.append(_join([[{attr: word if exact else word.lower()}] for word in words]))
    choices: list[TokenPattern] = []
    if single:
        value: Any = single[0] if len(single) == 1 else {"IN": sorted(set(single))}
        choices.append([{attr: value, **op}])
    choices.extend(sequences)
    return choices

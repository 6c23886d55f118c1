"""The medspaCy pipeline, built once: tokenizer, PyRuSH sentence splitter, sectionizer, target
matcher and ConText, with vertebro's rules. spaCy and medspaCy are untyped, so this module is the
only one that touches them; it hands back plain typed records (`Annotation`, `Mention`).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from vertebro.adapters.nlp.rules import (
    Rules,
    RulesError,
    TokenPattern,
    compile_pattern,
    load_rules,
)

ContextRules = Literal["vertebro", "default"]


@dataclass(frozen=True, slots=True)
class Cue:
    """A ConText modifier that applies to a mention: its category and character span."""

    category: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of the note, by character offsets into the original text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Mention:
    """One matched concept with its assertion cues, sentence and section."""

    label: str
    start: int
    end: int
    text: str
    sentence: int  # index into Annotation.sentences
    section: str | None  # the section category, None before any heading
    cues: tuple[Cue, ...]

    @property
    def categories(self) -> frozenset[str]:
        """The ConText categories that modify this mention."""
        return frozenset(cue.category for cue in self.cues)


@dataclass(frozen=True, slots=True)
class SectionSpan:
    """A section: its category and the characters its heading and body cover."""

    category: str | None
    start: int
    end: int
    title_end: int


@dataclass(frozen=True, slots=True)
class Annotation:
    """Everything the pipeline found in one note."""

    text: str
    sentences: tuple[Sentence, ...]
    mentions: tuple[Mention, ...]
    sections: tuple[SectionSpan, ...]

    def sentence_text(self, index: int) -> str:
        """The text of a sentence, as written."""
        sentence = self.sentences[index]
        return self.text[sentence.start : sentence.end]


class Pipeline:
    """The medspaCy components and vertebro's rules, ready to annotate notes."""

    def __init__(self, rules: Rules, context: ContextRules = "vertebro") -> None:
        import spacy
        from medspacy.context import ConText, ConTextRule  # type: ignore[import-untyped]
        from medspacy.custom_tokenizer import create_medspacy_tokenizer  # type: ignore[import-untyped]
        from medspacy.section_detection import Sectionizer, SectionRule  # type: ignore[import-untyped]
        from medspacy.target_matcher import TargetMatcher, TargetRule  # type: ignore[import-untyped]

        _quiet_pyrush()
        self._lock = threading.Lock()
        self.rules = rules
        self.kind = context
        nlp: Any = spacy.blank("en")
        nlp.tokenizer = create_medspacy_tokenizer(nlp)
        self._nlp = nlp

        def tokenize(text: str) -> list[str]:
            return [token.text for token in nlp.tokenizer(text) if not token.is_space]

        # Components are built while the pipeline is only a tokenizer (medspaCy runs the whole
        # pipeline over each literal rule as it is added) and are then called in turn.
        self._targets: Any = TargetMatcher(nlp, result_type=None, prune=False)
        target_rules = []
        self._priority: dict[str, int] = {}
        for order, (label, concept) in enumerate(rules.concepts.items()):
            self._priority[label] = order
            for pattern in concept.patterns:
                for compiled in _compile(pattern, tokenize, f"targets.yaml {label}"):
                    target_rules.append(
                        TargetRule(literal=pattern, category=label, pattern=compiled)
                    )
        self._targets.add(target_rules)

        self._context: Any = ConText(
            nlp,
            rules=None,
            span_attrs=None,
            prune_on_modifier_overlap=True,
            prune_on_target_overlap=False,
        )
        defaults = ConText(nlp, rules="default", span_attrs=None).rules
        if context == "default":
            self._context.add(defaults)
        else:
            self._context.add(_vertebro_context(rules, defaults, ConTextRule, tokenize))

        self._sectionizer: Any = Sectionizer(
            nlp, rules=None, require_start_line=True, span_attrs=None
        )
        section_rules = []
        for category, titles in rules.sections.sections.items():
            for title in titles:
                for compiled in _compile(title, tokenize, f"sections.yaml {category}"):
                    heading = [*compiled, {"IS_SPACE": True, "OP": "*"}, {"TEXT": ":"}]
                    section_rules.append(
                        SectionRule(literal=title, category=category, pattern=heading)
                    )
        self._sectionizer.add(section_rules)
        nlp.add_pipe("medspacy_pyrush")

    def annotate(self, text: str) -> Annotation:
        """Run the pipeline over a note and return its sentences, sections and mentions.
        One note at a time: the pipeline is shared by the service's threads and its components
        keep per-call state (PyRuSH's sentence rules raised IndexError under concurrent use)."""
        with self._lock:
            return self._annotate(text)

    def _annotate(self, text: str) -> Annotation:
        from spacy.tokens import Span

        doc: Any = self._nlp(unwrap(text))
        doc = self._sectionizer(doc)
        spans = _prune(self._targets(doc), self._priority)
        doc.ents = tuple(Span(doc, s.start, s.end, label=s.label_) for s in spans)
        sentences: list[Sentence] = []
        sections = tuple(_sections(doc))
        sents = list(doc.sents)
        starts = [sent.start for sent in sents]
        ents_in: dict[int, list[Any]] = {}
        for ent in doc.ents:  # doc.ents is rebuilt on every access: read it once
            ents_in.setdefault(bisect_right(starts, ent.start) - 1, []).append(ent)
        mentions = []
        for index, sent in enumerate(sents):
            sentences.append(Sentence(sent.start_char, sent.end_char))
            for start, end, label, cues in self._context_in(sent, ents_in.get(index, [])):
                mentions.append(
                    Mention(
                        label,
                        start,
                        end,
                        text[start:end],
                        index,
                        _section_at(sections, start),
                        cues,
                    )
                )
        return Annotation(text, tuple(sentences), tuple(mentions), sections)

    def _context_in(
        self, sent: Any, ents: list[Any]
    ) -> list[tuple[int, int, str, tuple[Cue, ...]]]:
        """ConText over one sentence (its scope never leaves a sentence). Run sentence by
        sentence because ConText compares every modifier with every other and with every target
        in the document, which grows with the square of a long note."""
        from spacy.tokens import Doc, Span

        if not ents:
            return []
        sub: Any = Doc(
            self._nlp.vocab,
            words=[token.text for token in sent],
            spaces=[bool(token.whitespace_) for token in sent],
            sent_starts=[token.i == sent.start for token in sent],
        )
        sub.ents = tuple(
            Span(sub, e.start - sent.start, e.end - sent.start, label=e.label_) for e in ents
        )
        sub = self._context(sub)
        inside = [(ent.start, ent.end) for ent in sub.ents]
        offset = sent.start_char
        found = []
        for ent in sub.ents:
            cues = tuple(
                Cue(cue.category, cue.start + offset, cue.end + offset, cue.text)
                for modifier in ent._.modifiers
                # A modifier inside another finding belongs to it ("no longer able to walk"
                # does not make the rest of the sentence resolved); one that merely contains a
                # finding's word ("before this admission") still applies.
                if not any(
                    s <= modifier.modifier_span[0] and modifier.modifier_span[1] <= e
                    for s, e in inside
                )
                for cue in _cues(sub, modifier)
            )
            found.append((ent.start_char + offset, ent.end_char + offset, ent.label_, cues))
        return found

    def assert_target(self, text: str, start: int, end: int) -> tuple[frozenset[str], str | None]:
        """ConText categories (and the section) for one given target span: for benchmarks."""

        doc: Any = self._nlp(unwrap(text))
        doc = self._sectionizer(doc)
        span = doc.char_span(start, end, label="TARGET", alignment_mode="expand")
        if span is None:
            return frozenset(), None
        doc.ents = (span,)
        doc = self._context(doc)
        if self.kind == "vertebro":
            categories = frozenset(
                cue.category for m in doc.ents[0]._.modifiers for cue in _cues(doc, m)
            )
        else:
            categories = frozenset(m.category for m in doc.ents[0]._.modifiers)
        return categories, _section_at(tuple(_sections(doc)), start)


@cache
def get_pipeline(context: ContextRules = "vertebro") -> Pipeline:
    """The pipeline, built on first use and cached for the life of the process."""
    return Pipeline(load_rules(), context)


def _compile(pattern: str, tokenize: Any, where: str) -> list[TokenPattern]:
    try:
        return compile_pattern(pattern, tokenize)
    except RulesError as exc:
        raise RulesError(f"nlp/rules/{where}: {exc}") from None


# ConText lets a terminating word cut another modifier's scope only when their scopes overlap by
# its test (one scope's start or end inside the other). A terminator's scope is its whole sentence
# unless limited, so it never cuts a modifier with a short scope inside that sentence ("...
# bracing)<line break>Osteomyelitis: No" would negate "bracing"). A one-token window around the
# terminator makes the test work for every modifier in the sentence.
_TERMINATE_SCOPE = 1


def _vertebro_context(
    rules: Rules, defaults: list[Any], rule_type: Any, tokenize: Any
) -> list[Any]:
    """medspaCy's default ConText rules with vertebro's drops, changes and additions."""
    config = rules.context
    known = {rule.literal for rule in defaults}
    for literal in [*config.drop, *config.recategorise]:
        if literal not in known:
            raise RulesError(f"nlp/rules/context.yaml: no default ConText rule {literal!r}")
    result = []
    for rule in defaults:
        if rule.literal in config.drop:
            continue
        category = config.recategorise.get(rule.literal)
        if category is not None or rule.direction == "TERMINATE":
            rule = rule_type(
                literal=rule.literal,
                category=category or rule.category,
                pattern=rule.pattern,
                direction=rule.direction,
                allowed_types=rule.allowed_types,
                excluded_types=rule.excluded_types,
                max_scope=_TERMINATE_SCOPE if rule.direction == "TERMINATE" else rule.max_scope,
            )
        result.append(rule)
    for added in config.rules:
        where = f"context.yaml {added.literal}"
        for compiled in _compile(added.pattern or added.literal, tokenize, where):
            result.append(
                rule_type(
                    literal=added.literal,
                    category=added.category,
                    pattern=compiled,
                    direction=added.direction,
                    allowed_types=rules.expand_types(added.allowed),
                    excluded_types=rules.expand_types(added.excluded),
                    max_scope=_TERMINATE_SCOPE
                    if added.direction == "TERMINATE"
                    else added.max_scope,
                )
            )
    return result


def _prune(spans: list[Any], priority: dict[str, int]) -> list[Any]:
    """Keep the longest of overlapping matches (ties: the concept listed first in targets.yaml)."""
    ordered = sorted(spans, key=lambda s: (-(s.end - s.start), s.start, priority[s.label_]))
    taken: set[int] = set()
    kept = []
    for span in ordered:
        tokens = set(range(span.start, span.end))
        if tokens & taken:
            continue
        taken |= tokens
        kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def _sections(doc: Any) -> list[SectionSpan]:
    found = []
    for section in doc._.sections:
        if section.body_end <= section.title_start and section.category is None:
            continue
        start = doc[section.title_start].idx if section.title_start < len(doc) else len(doc.text)
        title_end = (
            doc[section.title_end - 1].idx + len(doc[section.title_end - 1])
            if section.title_end > section.title_start
            else start
        )
        end = (
            doc[section.body_end - 1].idx + len(doc[section.body_end - 1])
            if section.body_end > 0
            else 0
        )
        found.append(SectionSpan(section.category, start, end, title_end))
    return found


def _cues(doc: Any, modifier: Any) -> list[Cue]:
    """The cues of one ConText modifier (usually one; "no history of" gives two)."""
    first, last = modifier.modifier_span[0], modifier.modifier_span[1] - 1
    start, end = doc[first].idx, doc[last].idx + len(doc[last])
    text = doc[first : last + 1].text
    return [Cue(category, start, end, text) for category in _categories(modifier.category, text)]


def _categories(category: str, text: str) -> tuple[str, ...]:
    """A modifier's categories: "no history of" is a negation and a statement about the past."""
    if category == "NEGATED_EXISTENCE" and _HISTORY_WORD.search(text):
        return (category, "HISTORICAL")
    return (category,)


_HISTORY_WORD = re.compile(r"histor|\bhx\b|\bh/o\b", re.IGNORECASE)


def _section_at(sections: tuple[SectionSpan, ...], offset: int) -> str | None:
    for section in sections:
        if section.start <= offset < max(section.end, section.start + 1):
            return section.category
    return None


_HEADING = re.compile(
    r"[ \t]*(?:[A-Z][A-Za-z0-9 /&'(),.-]{0,60}:|\d{1,2}[.)]\s|[-•*]\s|[A-Z][A-Z /&-]{2,}$)"
)


def unwrap(text: str) -> str:
    """Join lines broken inside a paragraph, keeping every character offset.

    A single line break (\\n or \\r\\n) becomes spaces unless the next line starts a heading
    ("PLAN:"), a numbered or bulleted item, or the line before ends with a colon. Nothing else
    changes, so offsets in the result are offsets in the note.
    """
    chars = list(text)
    for match in _SINGLE_BREAK.finditer(text):
        start, end = match.span()
        line_start = max(text.rfind("\n", 0, start), -1) + 1
        previous = text[line_start:start].rstrip()
        next_break = text.find("\n", end)
        following = text[end : next_break if next_break >= 0 else None].rstrip("\r")
        if not previous or previous.endswith(":") or _HEADING.match(following):
            continue
        chars[start:end] = " " * (end - start)
    return "".join(chars)


_SINGLE_BREAK = re.compile(r"(?<![\r\n])\r?\n(?![\r\n])")


def _quiet_pyrush() -> None:
    """PyRuSH logs every sentence at DEBUG level through loguru; silence it."""
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - PyRuSH depends on loguru
        return
    logger.disable("PyRuSH")

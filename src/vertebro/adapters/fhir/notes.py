"""The hand-over to the free-text note reader (vertebro.adapters.nlp.read_note).

The note reader is loaded on first use only (it loads a language pipeline). If it is not
installed or fails on a text, the text is skipped with a warning and the coded facts stand.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vertebro.adapters.combine import Reading
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.context import ReadContext
from vertebro.adapters.fhir.documents import DocumentText
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import FactSet

NoteReader = Callable[..., Any]
_MODULES = ("vertebro.adapters.nlp", "vertebro.adapters.nlp.extract")
_FOUND: dict[str, Callable[..., Any] | None] = {}


def nlp_function(name: str) -> Callable[..., Any] | None:
    """A function of the note reader package (or its `extract` module); None if unavailable."""
    if name not in _FOUND:
        found: Callable[..., Any] | None = None
        for module_name in _MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                break
            candidate = getattr(module, name, None)
            if callable(candidate):
                found = candidate
                break
        _FOUND[name] = found
    return _FOUND[name]


def note_reader() -> NoteReader | None:
    """`read_note` of vertebro.adapters.nlp, or None when that reader is not available."""
    return nlp_function("read_note")


@dataclass(frozen=True, slots=True)
class TextFindings:
    """What the note reader found in one text."""

    readings: list[Reading]
    requests: tuple[ProcedureRequest, ...]


def read_texts(
    ctx: ReadContext, texts: list[DocumentText], reader: NoteReader | None = None
) -> list[TextFindings]:
    """Run the note reader over each text; readings carry the text's rank and date."""
    if not texts:
        return []
    read_note = reader if reader is not None else note_reader()
    if read_note is None:
        ctx.warn(f"{len(texts)} report/document text(s) not read: the note reader "
                 "(vertebro.adapters.nlp) is not available")
        return []
    out = []
    for item in texts:
        try:
            reading = read_note(item.text, source=item.source, note_date=item.date)
        except (InputError, ValueError) as exc:
            ctx.warn(f"{item.source}: text not read: {exc}")
            continue
        facts = getattr(reading, "facts", None)
        requests = getattr(reading, "requests", ())
        if not isinstance(facts, FactSet):
            ctx.warn(f"{item.source}: the note reader returned no facts")
            continue
        when = item.date or ctx.request_date
        readings = [  # the request itself is taken from `requests`, not from facts
            Reading(fact, item.rank, 0, when)
            for fact in facts.values()
            if not fact.name.startswith("request.")
        ]
        found = tuple(r for r in requests if isinstance(r, ProcedureRequest))
        out.append(TextFindings(readings, found))
    return out

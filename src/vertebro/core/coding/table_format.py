"""The format of the shipped code-table files, parsed from plain data (no I/O here).

    system: opcs4                         # opcs4 | icd10 | cpt | icd10cm
    title: ...
    sources:                              # every entry and concept cites one of these
      - {id: nice-ipg12-coding, cite: "NICE IPG12 coding recommendations", title: ...,
         url: ..., confidence: confirmed}
    codes:                                # entries with their own source and confidence
      - {code: V55.1, title: One level of spine, source: nice-ipg387, confidence: confirmed}
    titles:                               # compact entries sharing `default`
      M80.08XA: Age-related osteoporosis with current pathological fracture, ...
    default: {source: cms-fy2026, confidence: confirmed}
    concepts:                             # the rules' concepts and the codes that say them
      procedure.vertebroplasty:
        code: V44.4                       # null when no code is confirmed
        meaning: Vertebroplasty of fracture of spine
        source: nice-ipg12-coding
        confidence: unconfirmed
        verify: [vertebroplasty]          # words a loaded official title must hold
        search: [V44.]                    # where to look for it when code is null
        note: ...
        question: ...

Unknown keys are rejected, so a typo cannot silently drop a citation.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from vertebro.core.coding.tables import (
    CodeEntry,
    CodeSystem,
    CodeTable,
    Concept,
    Confidence,
    Crosswalk,
)

_TOP = {"system", "title", "sources", "codes", "titles", "default", "concepts", "note"}
_SOURCE = {"id", "cite", "title", "url", "publisher", "text_file", "confidence", "note", "version"}
_ENTRY = {"code", "title", "source", "confidence", "note"}
_CONCEPT = {"code", "meaning", "source", "confidence", "verify", "search", "note", "question"}


class TableFormatError(ValueError):
    """A table file that does not follow the format; `loc` is the path of keys to the fault."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


@dataclass(frozen=True, slots=True)
class SourceDoc:
    """A document that entries cite."""

    id: str
    cite: str
    title: str
    confidence: Confidence
    url: str | None = None


@dataclass(frozen=True, slots=True)
class TableFile:
    """A parsed table file: the code table, its crosswalk and the sources they cite."""

    table: CodeTable
    crosswalk: Crosswalk
    sources: dict[str, SourceDoc]
    title: str


def table_from_dict(data: Any, label: str) -> TableFile:
    """Validate and build a table file from parsed YAML/JSON."""
    _mapping(data, _TOP, ())
    try:
        system = CodeSystem(str(data.get("system")))
    except ValueError:
        known = ", ".join(s.value for s in CodeSystem)
        raise TableFormatError(f"system must be one of {known}", ("system",)) from None
    sources = _sources(data.get("sources"))
    entries: dict[str, CodeEntry] = {}
    for i, raw in enumerate(data.get("codes") or []):
        loc: tuple[str | int, ...] = ("codes", i)
        _mapping(raw, _ENTRY, loc)
        code, title = _text(raw, "code", loc), _text(raw, "title", loc)
        doc = _cited(raw, sources, loc)
        confidence = _confidence(raw.get("confidence"), loc)
        if code in entries:
            raise TableFormatError(f"duplicate code {code}", loc)
        entries[code] = CodeEntry(code, title, doc.cite, confidence, raw.get("note"))
    titles = data.get("titles") or {}
    if titles:
        default = data.get("default")
        _mapping(default, {"source", "confidence"}, ("default",))
        doc = _cited(default, sources, ("default",))
        confidence = _confidence(default.get("confidence"), ("default",))
        if not isinstance(titles, dict):
            raise TableFormatError("titles must map codes to titles", ("titles",))
        for code, title in titles.items():
            if code in entries:
                raise TableFormatError(f"duplicate code {code}", ("titles", code))
            entries[str(code)] = CodeEntry(str(code), str(title), doc.cite, confidence)
    concepts = {
        str(key): _concept(str(key), raw, sources)
        for key, raw in (data.get("concepts") or {}).items()
    }
    table = CodeTable(system, label, "shipped", MappingProxyType(entries))
    crosswalk = Crosswalk(system, MappingProxyType(concepts))
    return TableFile(table, crosswalk, sources, str(data.get("title") or label))


def _sources(raw: Any) -> dict[str, SourceDoc]:
    if not isinstance(raw, list) or not raw:
        raise TableFormatError("sources must list at least one source", ("sources",))
    out: dict[str, SourceDoc] = {}
    for i, item in enumerate(raw):
        loc: tuple[str | int, ...] = ("sources", i)
        _mapping(item, _SOURCE, loc)
        sid = _text(item, "id", loc)
        out[sid] = SourceDoc(
            sid,
            str(item.get("cite") or item.get("title") or sid),
            _text(item, "title", loc),
            _confidence(item.get("confidence"), loc),
            item.get("url"),
        )
    return out


def _concept(key: str, raw: Any, sources: dict[str, SourceDoc]) -> Concept:
    loc: tuple[str | int, ...] = ("concepts", key)
    _mapping(raw, _CONCEPT, loc)
    if "code" not in raw:
        raise TableFormatError("a concept needs 'code' (null when not confirmed)", loc)
    code = raw.get("code")
    doc = _cited(raw, sources, loc)
    return Concept(
        key=key,
        code=None if code is None else str(code),
        meaning=_text(raw, "meaning", loc),
        source=doc.cite,
        confidence=_confidence(raw.get("confidence"), loc),
        verify=tuple(str(w).lower() for w in raw.get("verify") or ()),
        search=tuple(str(p) for p in raw.get("search") or ()),
        note=raw.get("note"),
        question=raw.get("question"),
    )


def _mapping(raw: Any, allowed: set[str], loc: tuple[str | int, ...]) -> None:
    if not isinstance(raw, dict):
        raise TableFormatError("expected a mapping", loc)
    for key in raw:
        if key not in allowed:
            raise TableFormatError(
                f"unknown key {key!r} (expected {', '.join(sorted(allowed))})", (*loc, str(key))
            )


def _text(raw: dict[str, Any], key: str, loc: tuple[str | int, ...]) -> str:
    value = raw.get(key)
    if value is None or not str(value).strip():
        raise TableFormatError(f"{key!r} is required", (*loc, key))
    return str(value).strip()


def _cited(
    raw: dict[str, Any], sources: dict[str, SourceDoc], loc: tuple[str | int, ...]
) -> SourceDoc:
    sid = _text(raw, "source", loc)
    if sid not in sources:
        raise TableFormatError(f"source {sid!r} is not listed under sources", (*loc, "source"))
    return sources[sid]


def _confidence(raw: Any, loc: tuple[str | int, ...]) -> Confidence:
    try:
        return Confidence(str(raw))
    except ValueError:
        raise TableFormatError(
            "confidence must be confirmed, likely or unconfirmed", (*loc, "confidence")
        ) from None

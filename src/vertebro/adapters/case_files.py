"""Read vertebro's own case format (YAML or JSON): requested procedures plus facts with evidence.

id: case-01                      # optional
request_date: 2026-10-01         # optional; the default as-of date
requests:
  - procedure: vertebroplasty
    levels: T12-L1
facts:
  fracture.aetiology: osteoporotic
  conservative_treatment.duration_weeks:
    value: 8
    source: GP letter 2026-09-01
    quote: "Eight weeks of analgesia and physiotherapy without benefit."
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from vertebro.adapters import yaml_lines
from vertebro.adapters.errors import InputError
from vertebro.core.case import Case
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactSet, FactType, Provenance

MAX_CASE_BYTES = 1_000_000
_CASE_KEYS = {"id", "request_date", "requests", "facts"}
_FACT_KEYS = {"value", "source", "quote"}
_REQUEST_KEYS = {"procedure", "levels"}


def load_case_file(path: Path) -> Case:
    """Read one case file.

    Raises:
        InputError: the file cannot be read or does not follow the format.
    """
    name = str(path)
    data = read_document(path)
    return parse_case(data, name, default_id=path.stem)


def read_document(path: Path) -> Any:
    """Read a YAML or JSON file with line numbers, within the size limit."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_CASE_BYTES:
            raise InputError(name, f"file is {size:,} bytes; the limit is {MAX_CASE_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(name, "not UTF-8 text") from None
    except OSError as exc:
        raise InputError(name, exc.strerror or "cannot be read") from None
    try:
        return yaml_lines.load(text)
    except yaml_lines.YamlError as exc:
        raise InputError(name, exc.message, exc.line) from None


def parse_case(data: Any, source: str, *, default_id: str, allowed: set[str] | None = None) -> Case:
    """Build a Case from a parsed document; `allowed` widens the keys (policy test cases use it)."""
    if not isinstance(data, dict):
        raise InputError(source, "a case is a mapping with 'requests' and 'facts'", _line(data))
    _reject_unknown(data, allowed or _CASE_KEYS, source)
    requests = _requests(data.get("requests"), data, source)
    facts = parse_facts(data.get("facts") or {}, source)
    request_date = data.get("request_date")
    if request_date is not None:
        try:
            request_date = dt.date.fromisoformat(str(request_date)[:10])
        except ValueError:
            raise InputError(
                source, "request_date must be a date YYYY-MM-DD", _key_line(data, "request_date")
            ) from None
    case_id = str(data.get("id") or default_id)
    return Case(case_id, source, requests, facts, request_date)


def parse_facts(data: Any, source: str) -> FactSet:
    """Read a `facts:` mapping of fact name to value or {value, source, quote}."""
    if not isinstance(data, dict):
        raise InputError(source, "'facts' must be a mapping of fact names to values", _line(data))
    facts = []
    for name, raw in data.items():
        line = _key_line(data, name)
        spec = CATALOGUE.get(name)
        if spec is None:
            raise InputError(source, f"unknown fact {name!r}{_suggest(name)}", line)
        evidence_source, quote = source, None
        if isinstance(raw, dict):
            _reject_unknown(raw, _FACT_KEYS, source)
            if "value" not in raw:
                raise InputError(source, f"fact {name!r} has no 'value'", line)
            evidence_source = str(raw.get("source") or source)
            quote = raw.get("quote")
            raw = raw["value"]
        try:
            value = spec.coerce(raw)
        except ValueError as exc:
            raise InputError(source, f"fact {name!r}: {exc}", line) from None
        provenance = Provenance(
            "case-file",
            evidence_source,
            str(quote) if quote else None,
            None,
            _where(source, evidence_source, line),
        )
        facts.append(Fact(name, value, (provenance,)))
    return FactSet(facts)


def _requests(data: Any, parent: Any, source: str) -> tuple[ProcedureRequest, ...]:
    if not isinstance(data, list) or not data:
        raise InputError(
            source,
            "'requests' must list at least one {procedure, levels}",
            _key_line(parent, "requests"),
        )
    levels_spec = CATALOGUE["request.levels"]
    assert levels_spec.type is FactType.LEVELS
    requests = []
    for item in data:
        line = _line(item)
        if isinstance(item, str):
            item = {"procedure": item}
        if not isinstance(item, dict):
            raise InputError(source, "each request is {procedure, levels}", line)
        _reject_unknown(item, _REQUEST_KEYS, source)
        try:
            procedure = Procedure(str(item.get("procedure", "")).strip().lower())
        except ValueError:
            known = ", ".join(p.value for p in Procedure)
            raise InputError(
                source, f"procedure {item.get('procedure')!r} is not one of: {known}", line
            ) from None
        levels = None
        if item.get("levels") is not None:
            try:
                value = levels_spec.coerce(item["levels"])
            except ValueError as exc:
                raise InputError(source, f"levels: {exc}", _key_line(item, "levels")) from None
            assert isinstance(value, tuple)
            levels = value
        provenance = Provenance("case-file", source, None, None, _where(source, source, line))
        requests.append(ProcedureRequest(procedure, levels, (provenance,)))
    return tuple(requests)


def _where(source: str, evidence_source: str, line: int | None) -> str | None:
    """Where in the file a fact was read; JSON sent to the API has no lines to point at."""
    if line is None:
        return None if evidence_source == source else source
    return f"line {line}" if evidence_source == source else f"{source} line {line}"


def _reject_unknown(data: dict[str, Any], allowed: set[str], source: str) -> None:
    for key in data:
        if key not in allowed:
            raise InputError(
                source,
                f"unknown key {key!r} (expected {', '.join(sorted(allowed))})",
                _key_line(data, key),
            )


def _suggest(name: str) -> str:
    prefix = name.split(".")[0]
    close = [known for known in CATALOGUE if known.startswith(prefix + ".")]
    return f"; did you mean one of: {', '.join(close)}" if close else ""


def _line(data: Any) -> int | None:
    return getattr(data, "line", None)


def _key_line(data: Any, key: str) -> int | None:
    lines = getattr(data, "key_lines", None)
    return lines.get(key) if lines else _line(data)

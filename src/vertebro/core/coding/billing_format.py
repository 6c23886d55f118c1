"""The format of billing rule files (coding_data/billing/*.yaml), parsed from plain data.

    id: carefirst
    title: ...
    payer: CareFirst BlueCross BlueShield
    sources:
      - {id: carefirst-policy, title: ..., url: ..., confidence: unconfirmed}
    rules:
      - id: kyphoplasty-not-paid-with-vertebroplasty      # stable; never reused
        title: ...
        severity: deny                                    # deny | warn | info
        when: {codes_all: [[22510, 22511, 22512], [22513, 22514, 22515]]}
        flag: [22513, 22514, 22515]                       # the lines the finding is about
        message: ...
        cite: {source: carefirst-policy, section: Benefit Applications, words: "..."}
        confidence: confirmed                             # how sure the encoding is
        note: ...                                         # how the encoding reads the source

`when` keys: codes_any, codes_all (list of lists), codes_none, diagnoses_any, diagnoses_none,
mentions_any, preauth_missing (true), units_over ({codes: [...], max: 1}), any (list of `when`).
Unknown keys are rejected.
"""

from __future__ import annotations

from typing import Any

from vertebro.core.coding.billing import BillingRule, Citation, Condition, RuleSet, Severity
from vertebro.core.coding.tables import Confidence

_TOP = {"id", "title", "payer", "sources", "rules", "note"}
_SOURCE = {"id", "title", "url", "text_file", "publisher", "confidence", "note", "published"}
_RULE = {"id", "title", "severity", "when", "flag", "message", "cite", "confidence", "note"}
_WHEN = {
    "codes_any", "codes_all", "codes_none", "diagnoses_any", "diagnoses_none", "mentions_any",
    "preauth_missing", "units_over", "any",
}  # fmt: skip
_SEVERITIES: tuple[Severity, ...] = ("deny", "warn", "info")


class RuleFormatError(ValueError):
    """A rule file that does not follow the format; `loc` is the path of keys to the fault."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


def ruleset_from_dict(data: Any) -> RuleSet:
    """Validate and build a rule set from parsed YAML/JSON."""
    _keys(data, _TOP, ())
    sources: dict[str, dict[str, Any]] = {}
    for i, src in enumerate(data.get("sources") or []):
        _keys(src, _SOURCE, ("sources", i))
        sources[_req(src, "id", ("sources", i))] = src
    if not sources:
        raise RuleFormatError("sources must list at least one source", ("sources",))
    rules = []
    ids: set[str] = set()
    for i, raw in enumerate(data.get("rules") or []):
        loc: tuple[str | int, ...] = ("rules", i)
        _keys(raw, _RULE, loc)
        rid = _req(raw, "id", loc)
        if rid in ids:
            raise RuleFormatError(f"duplicate rule id {rid!r}", (*loc, "id"))
        ids.add(rid)
        severity = raw.get("severity")
        if severity not in _SEVERITIES:
            raise RuleFormatError("severity must be deny, warn or info", (*loc, "severity"))
        cite = raw.get("cite")
        _keys(cite, {"source", "section", "words"}, (*loc, "cite"))
        sid = _req(cite, "source", (*loc, "cite"))
        if sid not in sources:
            raise RuleFormatError(
                f"source {sid!r} is not listed under sources", (*loc, "cite", "source")
            )
        try:
            confidence = Confidence(str(raw.get("confidence")))
        except ValueError:
            raise RuleFormatError(
                "confidence must be confirmed, likely or unconfirmed", (*loc, "confidence")
            ) from None
        rules.append(
            BillingRule(
                id=rid,
                title=_req(raw, "title", loc),
                severity=severity,
                when=_condition(raw.get("when"), (*loc, "when")),
                message=" ".join(_req(raw, "message", loc).split()),
                cite=Citation(
                    source=sid,
                    document=str(sources[sid].get("title")),
                    section=_req(cite, "section", (*loc, "cite")),
                    words=" ".join(_req(cite, "words", (*loc, "cite")).split()),
                    url=sources[sid].get("url") or sources[sid].get("text_file"),
                    confidence=sources[sid].get("confidence"),
                ),
                confidence=confidence,
                flag=_codes(raw.get("flag")),
                note=" ".join(str(raw["note"]).split()) if raw.get("note") else None,
            )
        )
    if not rules:
        raise RuleFormatError("rules must list at least one rule", ("rules",))
    return RuleSet(
        _req(data, "id", ()), _req(data, "title", ()), _req(data, "payer", ()), tuple(rules)
    )


def _condition(raw: Any, loc: tuple[str | int, ...]) -> Condition:
    _keys(raw, _WHEN, loc)
    if not raw:
        raise RuleFormatError("a condition needs at least one test", loc)
    units = raw.get("units_over")
    if units is not None:
        _keys(units, {"codes", "max"}, (*loc, "units_over"))
    groups = raw.get("codes_all") or []
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise RuleFormatError("codes_all is a list of lists of codes", (*loc, "codes_all"))
    return Condition(
        codes_any=_codes(raw.get("codes_any")),
        codes_all=tuple(_codes(g) for g in groups),
        codes_none=_codes(raw.get("codes_none")),
        diagnoses_any=_codes(raw.get("diagnoses_any")),
        diagnoses_none=_codes(raw.get("diagnoses_none")),
        mentions_any=tuple(str(w) for w in raw.get("mentions_any") or ()),
        preauth_missing=bool(raw.get("preauth_missing")),
        units_codes=_codes(units.get("codes")) if units else frozenset(),
        units_over=int(units["max"]) if units else None,
        any=tuple(_condition(sub, (*loc, "any", i)) for i, sub in enumerate(raw.get("any") or [])),
    )


def _codes(raw: Any) -> frozenset[str]:
    return frozenset(str(c).strip() for c in raw or ())


def _keys(raw: Any, allowed: set[str], loc: tuple[str | int, ...]) -> None:
    if not isinstance(raw, dict):
        raise RuleFormatError("expected a mapping", loc)
    for key in raw:
        if key not in allowed:
            raise RuleFormatError(
                f"unknown key {key!r} (expected {', '.join(sorted(allowed))})", (*loc, str(key))
            )


def _req(raw: dict[str, Any], key: str, loc: tuple[str | int, ...]) -> str:
    value = raw.get(key)
    if value is None or not str(value).strip():
        raise RuleFormatError(f"{key!r} is required", (*loc, key))
    return str(value)

"""Coding use cases: code operative notes and FHIR Bundles, check claims against payer billing
rules, and load official code tables. Returns typed, JSON-ready reports; renders them as text."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vertebro.adapters import code_tables
from vertebro.adapters.coding_input import read_bundle, read_claim, resources_of
from vertebro.adapters.errors import InputError
from vertebro.adapters.operative_notes import read_operative_note
from vertebro.core.coding.billing import Finding, RuleSet, check_claim
from vertebro.core.coding.model import OperativeRecord, Question
from vertebro.core.coding.result import CodeLine
from vertebro.core.coding.run import ALL_SYSTEMS, CodeSet, code_record
from vertebro.core.coding.tables import CodeSystem, resolve
from vertebro.core.facts import Provenance

NOTE_SUFFIXES = (".txt", ".text")
BUNDLE_SUFFIXES = (".json",)
MAX_INPUT_BYTES = 5_000_000
Style = Callable[[str, str], str]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class EvidenceOut(_Out):
    """Where a finding came from: a note sentence (with its span) or a FHIR element."""

    kind: str
    source: str
    quote: str | None = None
    span: tuple[int, int] | None = None
    location: str | None = None


class ProcedureOut(_Out):
    """What was done at one level."""

    level: str | None
    region: str | None
    technique: str
    side: str
    implant: bool | None
    guidance: list[str]
    biopsy: bool
    cement_leak: bool | None
    evidence: list[EvidenceOut]


class DiagnosisOut(_Out):
    """A condition the procedure treated."""

    aetiology: str
    fracture: bool | None
    levels: list[str]
    osteoporosis: str
    myeloma: str
    encounter: str
    primary_site: str | None
    evidence: list[EvidenceOut]


class CodeOut(_Out):
    """One code line; `code` is null for a placeholder whose code is not confirmed."""

    system: str
    code: str | None  # None: a placeholder whose code is not confirmed
    display: str
    units: int
    sequence: int
    kind: Literal["procedure", "diagnosis"]
    levels: list[str]
    evidence: list[EvidenceOut]
    confidence: Literal["confirmed", "likely", "unconfirmed"]
    notes: list[str]


class WarningOut(_Out):
    """Something left open, and the question to ask the operator or coder."""

    message: str
    question: str
    evidence: list[EvidenceOut]


class CodedInput(_Out):
    """The coding of one input: what was done, the codes, and the questions left open."""

    input: str
    augmentation: bool
    message: str | None
    procedures: list[ProcedureOut]
    diagnoses: list[DiagnosisOut]
    codes: list[CodeOut]
    warnings: list[WarningOut]


class CodingItem(_Out):
    """One input's coding, or the one-line error that stopped it."""

    input: str
    result: CodedInput | None = None
    error: str | None = None


def evidence_out(items: Iterable[Provenance]) -> list[EvidenceOut]:
    """Provenance as JSON."""
    return [
        EvidenceOut(kind=p.kind, source=p.source, quote=p.quote, span=p.span, location=p.location)
        for p in items
    ]


def expand(paths: list[Path], suffixes: tuple[str, ...]) -> Iterator[Path | InputError]:
    """Files as given; folders as their files with the suffixes, sorted; missing paths as errors."""
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
            )
            if not found:
                yield InputError(str(path), f"folder holds no input files ({', '.join(suffixes)})")
            yield from found
        elif path.exists():
            yield path
        else:
            yield InputError(str(path), "no such file or folder")


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError(str(path), f"file is {size:,} bytes; the limit is {MAX_INPUT_BYTES:,}")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text") from None
    except OSError as exc:
        raise InputError(str(path), exc.strerror or "cannot be read") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON: {exc.msg}", exc.lineno) from None


def read_record(path: Path) -> OperativeRecord:
    """An operative record from a note (.txt, .text) or a FHIR resource or Bundle (.json)."""
    if path.suffix.lower() in BUNDLE_SUFFIXES:
        data = _read_json(path)
        if not isinstance(data, dict) or "resourceType" not in data:
            raise InputError(
                str(path), "a .json input must be a FHIR resource or Bundle (no resourceType)"
            )
        return read_bundle(data, str(path))
    return read_operative_note(_read_text(path), str(path))


def read_record_text(text: str, name: str) -> OperativeRecord:
    """An operative record from pasted or uploaded text (the web page's input): FHIR JSON when
    `name` ends in .json or the text is a JSON object, otherwise an operative note.

    Raises:
        InputError: empty or too long, broken JSON, or JSON that is not a FHIR resource.
    """
    if not text.strip():
        raise InputError(name, "there is no text")
    size = len(text.encode("utf-8"))
    if size > MAX_INPUT_BYTES:
        raise InputError(name, f"the text is {size:,} bytes; the limit is {MAX_INPUT_BYTES:,}")
    if name.lower().endswith(BUNDLE_SUFFIXES) or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(name, f"not valid JSON: {exc.msg}", exc.lineno) from None
        if not isinstance(data, dict) or "resourceType" not in data:
            raise InputError(name, "JSON input must be a FHIR resource or Bundle (no resourceType)")
        return read_bundle(data, name)
    return read_operative_note(text, name)


def code_one(
    record: OperativeRecord, systems: tuple[CodeSystem, ...], codes: CodeSet
) -> CodedInput:
    """Code one record in the systems asked for."""
    result = code_record(record, systems, codes)
    return CodedInput(
        input=record.source,
        augmentation=record.augmentation,
        message=None if record.augmentation else f"No codes: {record.reason}.",
        procedures=[
            ProcedureOut(
                level=str(t.level) if t.level else None,
                region=t.region.value if t.region else None,
                technique=t.technique.value,
                side=t.side.value,
                implant=t.implant,
                guidance=sorted(g.value for g in t.guidance),
                biopsy=t.biopsy,
                cement_leak=t.cement_leak,
                evidence=evidence_out(t.evidence),
            )
            for t in record.levels
        ],
        diagnoses=[
            DiagnosisOut(
                aetiology=d.aetiology.value,
                fracture=d.fracture,
                levels=[str(lv) for lv in d.levels],
                osteoporosis=d.osteoporosis.value,
                myeloma=d.myeloma.value,
                encounter=d.encounter.value,
                primary_site=d.primary_site,
                evidence=evidence_out(d.evidence),
            )
            for d in record.diagnoses
        ],
        codes=[_code(line) for line in result.lines],
        warnings=[_warning(q) for q in result.warnings],
    )


def _code(line: CodeLine) -> CodeOut:
    return CodeOut(
        system=line.system.uri,
        code=line.code,
        display=line.display,
        units=line.units,
        sequence=line.sequence,
        kind=line.kind,
        levels=[str(lv) for lv in line.levels],
        evidence=evidence_out(line.evidence),
        confidence=line.confidence.value,
        notes=list(line.notes),
    )


def _warning(q: Question) -> WarningOut:
    return WarningOut(message=q.message, question=q.question, evidence=evidence_out(q.evidence))


def code_inputs(
    paths: list[Path], systems: tuple[CodeSystem, ...], codes: CodeSet | None = None
) -> Iterator[CodingItem]:
    """Code every input; a bad input yields its error and the others still go ahead."""
    codes = codes or code_tables.load_codeset()
    for item in expand(paths, NOTE_SUFFIXES + BUNDLE_SUFFIXES):
        if isinstance(item, InputError):
            yield CodingItem(input=item.source, error=str(item))
            continue
        try:
            result = code_one(read_record(item), systems, codes)
        except InputError as exc:
            yield CodingItem(input=str(item), error=str(exc))
        else:
            yield CodingItem(input=str(item), result=result)


def systems_of(choice: str) -> tuple[CodeSystem, ...]:
    """The systems a --system value names: one system, "uk", "us" or "all"."""
    if choice == "all":
        return ALL_SYSTEMS
    if choice == "uk":
        return (CodeSystem.OPCS4, CodeSystem.ICD10)
    if choice == "us":
        return (CodeSystem.CPT, CodeSystem.ICD10CM)
    return (CodeSystem(choice),)


# --- claims ---------------------------------------------------------------------------------


class CitationOut(_Out):
    """The source words a billing rule encodes."""

    document: str
    section: str
    words: str
    url: str | None
    confidence: str | None


class FindingOut(_Out):
    """A billing rule that fired on a claim."""

    ruleset: str
    payer: str
    rule: str
    title: str
    severity: Literal["deny", "warn", "info"]
    message: str
    lines: list[str]
    evidence: list[str]
    citation: CitationOut
    confidence: str
    note: str | None


class ClaimReport(_Out):
    """The findings of the billing rules on one claim."""

    input: str
    claim: str
    use: str
    lines: list[str]
    diagnoses: list[str]
    rulesets: list[str]
    findings: list[FindingOut]


def _finding(f: Finding) -> FindingOut:
    r = f.rule
    return FindingOut(
        ruleset=f.ruleset.id,
        payer=f.ruleset.payer,
        rule=r.id,
        title=r.title,
        severity=r.severity,
        message=r.message,
        lines=[f"{i.sequence}: {i.code} x{i.units}" for i in f.items],
        evidence=list(f.evidence),
        citation=CitationOut(
            document=r.cite.document,
            section=r.cite.section,
            words=r.cite.words,
            url=r.cite.url,
            confidence=r.cite.confidence,
        ),
        confidence=r.confidence.value,
        note=r.note,
    )


def rulesets_for(payer: str) -> tuple[RuleSet, ...]:
    """The rule sets for a payer id (the CPT conventions always apply), or all of them."""
    shipped = code_tables.shipped_rulesets()
    if payer == "all":
        return shipped
    known = {r.id for r in shipped}
    if payer not in known:
        raise InputError(
            "--payer", f"unknown payer {payer!r}; known: all, {', '.join(sorted(known))}"
        )
    return tuple(r for r in shipped if r.id in {payer, "cpt"})


def check_claims(path: Path, payer: str) -> list[ClaimReport]:
    """Check every Claim in a FHIR Bundle (or a bare Claim) against the payer's billing rules."""
    rulesets = rulesets_for(payer)
    data = _read_json(path)
    claims = [r for r in resources_of(data) if r.get("resourceType") == "Claim"]
    if not claims:
        raise InputError(str(path), "holds no FHIR Claim resource")
    reports = []
    for resource in claims:
        claim = read_claim(resource, str(path))
        reports.append(
            ClaimReport(
                input=str(path),
                claim=claim.ref,
                use=claim.use,
                lines=[
                    f"{i.sequence}: {i.code} x{i.units}" + (f" ({i.text})" if i.text else "")
                    for i in claim.items
                ],
                diagnoses=[f"{d.sequence}: {d.code}" for d in claim.diagnoses],
                rulesets=[r.id for r in rulesets],
                findings=[_finding(f) for f in check_claim(claim, rulesets)],
            )
        )
    return reports


# --- code tables ----------------------------------------------------------------------------


class TableRow(_Out):
    """One code of a table in use, with its source and confidence."""

    system: str
    origin: Literal["shipped", "loaded"]
    label: str
    code: str
    title: str
    source: str
    confidence: str


def table_rows(home: Path | None = None, system: CodeSystem | None = None) -> list[TableRow]:
    """Every code of the tables in use (a loaded release replaces the shipped table)."""
    codes = code_tables.load_codeset(home)
    rows = []
    for s in ALL_SYSTEMS if system is None else (system,):
        table = codes.tables[s]
        for entry in table.entries.values():
            rows.append(
                TableRow(
                    system=s.value,
                    origin=table.origin,
                    label=table.label,
                    code=entry.code,
                    title=entry.title,
                    source=entry.source,
                    confidence=entry.confidence.value,
                )
            )
    return rows


class ConceptRow(_Out):
    """How one crosswalk concept resolves against the tables in use."""

    system: str
    concept: str
    meaning: str
    code: str | None
    display: str
    confidence: str
    source: str
    problem: str | None


def concept_rows(home: Path | None = None, system: CodeSystem | None = None) -> list[ConceptRow]:
    """How the rules' concepts resolve against the tables in use (crosswalk with confidence)."""
    codes = code_tables.load_codeset(home)
    rows = []
    for s in ALL_SYSTEMS if system is None else (system,):
        crosswalk = codes.crosswalks[s]
        for key, concept in crosswalk.concepts.items():
            r = resolve(key, codes.tables[s], crosswalk)
            rows.append(
                ConceptRow(
                    system=s.value,
                    concept=key,
                    meaning=concept.meaning,
                    code=r.code,
                    display=r.display,
                    confidence=r.confidence.value,
                    source=concept.source,
                    problem=r.problem,
                )
            )
    return rows


def load_release(path: Path, system: CodeSystem, now: dt.datetime, home: Path | None = None) -> str:
    """Load an official release file into the user data directory; a one-line summary."""
    home = code_tables.user_home() if home is None else home
    info = code_tables.install_release(path, system, home, now)
    return (
        f"loaded {info.count:,} {system.label} codes from {info.file} ({info.format}; sha256 "
        f"{info.sha256[:12]}) into {home / 'codes'}; they replace the shipped {system.label} table"
    )


# --- text -----------------------------------------------------------------------------------

_SYSTEM_TITLE = {s.uri: s.label for s in CodeSystem}
_CONF_ROLE = {"confirmed": "met", "likely": "unknown", "unconfirmed": "not-met"}
_SEV_ROLE = {"deny": "not-met", "warn": "unknown", "info": "heading"}


def _plain(text: str, role: str) -> str:  # noqa: ARG001 - the no-colour style ignores the role
    return text


def render_coded(out: CodedInput, style: Style = _plain) -> str:
    """A readable coding: what was done, codes per system in sequence, and open questions."""
    lines = [style(out.input, "heading")]
    if not out.augmentation:
        lines.append(f"  {out.message}")
        lines.extend(f"  → {w.question}" for w in out.warnings)
        return "\n".join(lines) + "\n"
    if out.procedures:
        lines.append("Procedure (per level)")
        for p in out.procedures:
            extra = [p.side, "+".join(p.guidance)]
            if p.implant:
                extra.append("implant")
            if p.biopsy:
                extra.append("biopsy")
            if p.cement_leak:
                extra.append("cement leak")
            lines.append(f"  {p.level or '(unnamed)':<7} {p.technique:<24} {', '.join(extra)}")
    if out.diagnoses:
        lines.append("Diagnosis")
        for d in out.diagnoses:
            where = f" at {', '.join(d.levels)}" if d.levels else ""
            kind = f" ({d.osteoporosis})" if d.aetiology == "osteoporosis" else ""
            lines.append(f"  {d.aetiology}{kind}{where}")
    systems = list(dict.fromkeys(c.system for c in out.codes))
    for system in systems:
        lines.append(style(f"{_SYSTEM_TITLE.get(system, system)}  ({system})", "heading"))
        for c in (c for c in out.codes if c.system == system):
            code = c.code or "—"
            units = f" x{c.units}" if c.units > 1 else ""
            conf = style(
                c.confidence.upper() if c.confidence != "confirmed" else "confirmed",
                _CONF_ROLE[c.confidence],
            )
            where = f"  [{', '.join(c.levels)}]" if c.levels else ""
            lines.append(f"  {c.sequence:>2}. {code + units:<10} {c.display}{where}  {conf}")
            shown = c.notes if c.confidence != "confirmed" else c.notes[:1]
            lines.extend(f"      · {note}" for note in shown)
    if out.warnings:
        lines.append(style("Questions", "heading"))
        for w in out.warnings:
            lines.append(f"  ? {w.message}")
            lines.append(f"    → {w.question}")
    return "\n".join(lines) + "\n"


def render_claim(report: ClaimReport, style: Style = _plain) -> str:
    """A readable claim check: every finding with its source words."""
    lines = [
        style(f"{report.input}  {report.claim}", "heading") + f"  (use: {report.use or 'claim'})",
        f"Lines: {'; '.join(report.lines) or 'none'}",
        f"Diagnoses: {'; '.join(report.diagnoses) or 'none'}",
        f"Rule sets: {', '.join(report.rulesets)}",
    ]
    if not report.findings:
        lines.append(style("No findings.", "met"))
    for f in report.findings:
        lines.append(style(f"[{f.severity.upper()}] {f.payer}: {f.title}", _SEV_ROLE[f.severity]))
        lines.append(f"  {f.message}")
        if f.lines:
            lines.append(f"  Lines: {'; '.join(f.lines)}")
        lines.append(f"  Found: {'; '.join(f.evidence)}")
        lines.append(f'  Source: {f.citation.document}, {f.citation.section}: "{f.citation.words}"')
        if f.citation.url:
            lines.append(f"          {f.citation.url}")
        source = f"; source document: {f.citation.confidence}" if f.citation.confidence else ""
        lines.append(
            f"  Confidence: encoding {f.confidence}{source}" + (f". {f.note}" if f.note else "")
        )
    return "\n".join(lines) + "\n"

"""Read a bulk FHIR export (NDJSON, or a folder of bundles) into the facts table, in an engine.

Steps: find the input files; check every line (a line that is not a JSON object with a
`resourceType` is bad: reported with its file and line, and skipped only when asked); parse
each resource type's lines into structs; run the reader's statements (`extract`), asking the
lookups once per distinct concept and the note reader once per document (in worker
processes), for its readings and the requests it finds; leave the table `facts` in the engine.
A case whose documents come to more text than the per-case reader takes from one bundle is
bad input too (reported, and left out only when asked), as the reader refuses it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from vertebro.adapters.fhir.bundle import BundleIndex
from vertebro.adapters.fhir.context import ReadContext
from vertebro.adapters.fhir.documents import (
    MAX_BUNDLE_TEXT_CHARS,
    MAX_BUNDLE_TEXTS,
    document_texts,
)
from vertebro.adapters.fhir.notes import NoteReader
from vertebro.batch.dialect import SqlType, string_literal
from vertebro.batch.engines import Engine, InputFile
from vertebro.batch.extract import (
    NOTE_READINGS,
    NOTE_REQUEST_COLUMNS,
    NOTE_REQUESTS,
    PARSED_SCHEMAS,
    READING_COLUMNS,
    REF,
    REFUSED_CASES,
    SCHEMAS,
    STRICT_SCHEMAS,
    TEXT_KEPT,
    Extraction,
    RunDates,
    Stage,
    as_read,
    as_read_strict,
    concept_value,
)
from vertebro.batch.lookups import LOOKUPS
from vertebro.batch.notes import (
    Document,
    ReadingRow,
    json_object,
    read_documents,
    reader_available,
)

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
BUNDLE_SUFFIXES = (".json",)
MAX_BAD_LINES = 20  # bad lines listed before the rest are only counted


class BadInputError(Exception):
    """Lines that are not FHIR resources; nothing has been written."""

    def __init__(self, lines: list[BadLine], total: int) -> None:
        super().__init__(f"{total} bad line(s)")
        self.lines = lines
        self.total = total


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line (or bundle entry) that is not a FHIR resource: where, and why."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


@dataclass
class ReadReport:
    """What was read: resources by type, bad lines skipped, documents, cases and requests."""

    files: int = 0
    resources: dict[str, int] = field(default_factory=dict)
    ignored_types: dict[str, int] = field(default_factory=dict)
    # Bad lines, and cases whose documents come to more text than the per-case reader takes
    # (`line` None): the first MAX_BAD_LINES, and how many in all.
    bad_lines: list[BadLine] = field(default_factory=list)
    bad_total: int = 0
    documents_read: int = 0
    documents_unread: int = 0
    cases: int = 0
    requests: int = 0
    patients_without_request: int = 0
    as_of_dates: set[dt.date] = field(default_factory=set)  # of the requests


def discover(path: Path) -> list[InputFile]:
    """The input files: NDJSON files (*.ndjson, *.jsonl, optionally gzipped) and bundles
    (*.json), in name order; a single file may be given instead of a folder.

    Raises:
        FileNotFoundError: the path does not exist or holds no such file.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    candidates = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    files: list[InputFile] = []
    for item in candidates:
        name = item.name.lower()
        if name.endswith(NDJSON_SUFFIXES + BUNDLE_SUFFIXES):
            bundle = not name.endswith(NDJSON_SUFFIXES)
            files.append(InputFile(len(files), str(item.resolve()), bundle, _stem(item)))
    if not files:
        raise FileNotFoundError(
            f"{path}: no NDJSON (.ndjson, .jsonl) or bundle (.json) files to read"
        )
    return files


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


Progress = Callable[[int, int, str], None]


def read_bulk(
    engine: Engine,
    files: Sequence[InputFile],
    *,
    dates: RunDates,
    skip_bad: bool,
    workers: int,
    progress: Progress | None = None,
    document_progress: Callable[[int, int], None] | None = None,
    note_reader: NoteReader | None = None,
) -> ReadReport:
    """Read the files into the engine's view `facts` (one row per case and request).

    `progress(done, total, label)` follows the statements (the total grows once the resource
    types are known); `document_progress(done, total)` follows the note reader, which is
    `note_reader` when given (a module-level function), else the installed one.

    Raises:
        BadInputError: some lines are not FHIR resources and `skip_bad` is false.
    """
    steps = _Steps(progress)
    report = ReadReport(files=len(files))
    types, sources = _load(engine, files, report, skip_bad, steps)
    extraction = Extraction(engine.dialect, types, dates, bundles=any(f.bundle for f in files))
    flatten = extraction.flatten()
    derived = extraction.derive()
    steps.total = steps.done + len(flatten) + len(LOOKUPS) + len(derived) + 9
    for stage in flatten:
        steps.run(engine, stage)
    queries = extraction.lookup_values()
    for name, lookup in LOOKUPS.items():
        steps.tell(name)
        found = engine.values(queries[name]) if name in queries else []
        concepts = [(key, concept_value(value)) for key, value in found]
        engine.register(name, (("key", SqlType.BIGINT), *lookup.columns), lookup.rows(concepts))
    for stage in derived:
        steps.run(engine, stage)
    steps.tell("reading notes")
    notes = _Notes(files, skip_bad, workers, note_reader, document_progress)
    note_facts = _read_notes(engine, extraction, report, notes)
    for name in sources:  # the resources are read: free their memory
        engine.drop(name)
    merged = extraction.merge(note_facts)
    for stage in merged:
        steps.run(engine, stage)
    present = {
        row[0]
        for row in engine.rows(
            "SELECT DISTINCT fact FROM m_merged UNION SELECT DISTINCT fact FROM m_sets"
        )
    }
    pivot, facts = extraction.finish(present)
    steps.run(engine, pivot)
    report.cases, report.requests = engine.rows(
        "SELECT count(DISTINCT pid), count(*) FROM d_request"
    )[0]
    report.patients_without_request = engine.rows(
        "SELECT count(*) FROM f_patient WHERE pid NOT IN (SELECT pid FROM d_request)"
    )[0][0]
    report.as_of_dates = {row[0] for row in engine.rows(extraction.as_of_dates())}
    engine.view(facts.name, facts.sql)  # made once, by the caller's evaluation or Parquet
    needed = extraction.facts_inputs()
    for stage in (*flatten, *derived, *merged):
        if stage.name not in needed:
            engine.drop(stage.name)
    steps.tell("facts ready")
    return report


class _Steps:
    """Counts the statements run, for a progress display."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total = 0

    def tell(self, label: str) -> None:
        """Report the next step."""
        if self.progress:
            self.progress(self.done, max(self.total, self.done + 1), label)
        self.done += 1

    def run(self, engine: Engine, stage: Stage) -> None:
        """Report and run one statement (a view is only named)."""
        self.tell(stage.name)
        if stage.view:
            engine.view(stage.name, stage.sql)
        else:
            engine.run(stage.name, stage.sql)


@dataclass(frozen=True, slots=True)
class _Group:
    """Files read together: all presumed to hold `rtype` (None: bundles, or types unknown)."""

    name: str
    rtype: str | None
    files: tuple[InputFile, ...]
    keep_text: bool


def _load(
    engine: Engine, files: Sequence[InputFile], report: ReadReport, skip_bad: bool, steps: _Steps
) -> tuple[set[str], list[str]]:
    """Check every line and parse each resource type into `src_<Type>`; the types found, and
    the tables and views made (to drop when done).

    Each line is parsed once: NDJSON files are grouped by the type their first line holds
    ($export writes one type per file) and parsed with that type's shape; lines of another
    type, bundles and files of unknown type keep their text and are parsed per type.
    """
    d = engine.dialect
    read_types = set(SCHEMAS) | set(TEXT_KEPT)
    by_type: dict[str | None, list[InputFile]] = {}
    for item in files:
        presumed = None if item.bundle else _first_type(Path(item.path))
        by_type.setdefault(presumed, []).append(item)
    groups = [
        _Group(f"raw_{index}", rtype, tuple(group), rtype is None or rtype in TEXT_KEPT)
        for index, (rtype, group) in enumerate(sorted(by_type.items(), key=lambda kv: kv[0] or ""))
    ]
    steps.total = len(groups) + len(read_types) + 40
    for group in groups:
        steps.tell(f"reading {group.rtype or 'bundles and other files'}")
        if not _fast(engine, group):
            engine.run(group.name, _raw_sql(engine, group))
    counts = engine.rows(
        " UNION ALL ".join(
            f"SELECT file, rtype, count(*) FROM {g.name} WHERE nonblank GROUP BY file, rtype"
            for g in groups
        )
    )
    found: dict[str, set[str]] = {}
    for file, rtype, count in counts:
        if rtype is None:
            report.bad_total += int(count)
        elif rtype in read_types:
            report.resources[rtype] = report.resources.get(rtype, 0) + int(count)
            found.setdefault(rtype, set()).add(file)
        else:
            report.ignored_types[rtype] = report.ignored_types.get(rtype, 0) + int(count)
    if report.bad_total:
        report.bad_lines = _bad_lines(engine, groups, files)
        if not skip_bad:
            raise BadInputError(report.bad_lines, report.bad_total)
    # Lines of a type other than their file's: read those files again, keeping the text.
    wanted = ", ".join(map(string_literal, sorted(read_types)))
    stray_sql = [
        f"SELECT DISTINCT file FROM {g.name} WHERE rtype IS NOT NULL AND "
        f"rtype <> {string_literal(g.rtype)} AND rtype IN ({wanted})"
        for g in groups
        if g.rtype is not None
    ]
    strays = engine.rows(" UNION ALL ".join(stray_sql)) if stray_sql else []
    by_number = {f.number: f for f in files}
    kept: set[str] = set()
    if strays:
        extra = _Group("raw_extra", None, tuple(by_number[int(r[0])] for r in strays), True)
        engine.run(extra.name, _raw_sql(engine, extra))
        groups.append(extra)
    for rtype in sorted(found):
        steps.tell(f"parsing {rtype}")
        only = [g for g in groups if g.rtype == rtype or g.rtype is None]
        if len(only) == 1 and only[0].rtype == rtype and rtype in SCHEMAS:
            # One group, already parsed: name it, do not copy it.
            engine.view(
                f"src_{rtype}",
                f"SELECT file, line_no, grp, url, r FROM {only[0].name} "
                f"WHERE rtype = {string_literal(rtype)}",
            )
            kept.add(only[0].name)
            continue
        text, kept_text = (", text", ", p.text") if rtype in TEXT_KEPT else ("", "")
        shape = PARSED_SCHEMAS.get(rtype) or {"subject": REF}
        # Parsed in a subquery: `as_read` names the parsed struct several times.
        read = as_read(d, "p.r", rtype) if rtype in SCHEMAS else "p.r"
        parts = []
        for group in groups:
            if group.rtype == rtype:
                parts.append(
                    f"SELECT file, line_no, grp, url, r{text} FROM {group.name} "
                    f"WHERE rtype = {string_literal(rtype)}"
                )
            elif group.rtype is None:
                # raw_extra repeats whole files: skip the lines their own group has read.
                own = [str(f.number) for f in by_type.get(rtype, [])]
                skip = (
                    f" AND file NOT IN ({', '.join(own)})"
                    if own and group.name == "raw_extra"
                    else ""
                )
                parsed = d.parse_json("text", shape)
                parts.append(
                    f"SELECT p.file, p.line_no, p.grp, p.url, {read} AS r{kept_text} FROM ("
                    f"SELECT file, line_no, grp, url, {parsed} AS r{text} FROM {group.name} "
                    f"WHERE rtype = {string_literal(rtype)}{skip}) AS p"
                )
        engine.run(f"src_{rtype}", " UNION ALL ".join(parts))
    for group in groups:
        if group.name not in kept:
            engine.drop(group.name)
    # Views first, then the tables under them.
    left = [f"src_{rtype}" for rtype in sorted(found)] + sorted(kept)
    return set(found), left


def _fast(engine: Engine, group: _Group) -> bool:
    """Read a group with the engine's typed reader when it has one and every line turns out
    to be a resource of the group's type; False (nothing kept) otherwise.

    Files are first read strictly, their arrays parsed as arrays (`STRICT_SCHEMAS`: faster
    than reading them as text and parsing that), and read again as the reader reads any
    JSON (`PARSED_SCHEMAS`, `as_read`) when some line does not fit that shape.
    """
    rtype = group.rtype
    if rtype is None or rtype not in SCHEMAS:
        return False
    d = engine.dialect
    attempts = [(PARSED_SCHEMAS[rtype], as_read(d, "r", rtype), False)]
    if rtype in STRICT_SCHEMAS:
        attempts.insert(0, (STRICT_SCHEMAS[rtype], as_read_strict(d, "r", rtype), True))
    for shape, struct, strict in attempts:
        typed = engine.typed_lines(group.files, rtype, shape, strict=strict)
        if typed is None:
            return False
        read = (
            "SELECT file, line_no, grp, url, TRUE AS nonblank, rtype, "
            f"CAST(NULL AS {d.type(SqlType.STRING)}) AS bad_text, {struct} AS r FROM {typed}"
        )
        if engine.try_run(group.name, read):
            break
    else:
        return False
    odd = engine.rows(
        f"SELECT count(*) FROM {group.name} WHERE rtype IS NULL OR rtype <> {string_literal(rtype)}"
    )[0][0]
    if odd:
        engine.drop(group.name)
        return False
    return True


def _raw_sql(engine: Engine, group: _Group) -> str:
    """Every line of the group's files: where, whether blank, its type (NULL when it is not a
    JSON object with a resourceType), the parsed resource or its text, and the text of bad
    lines (to report them)."""
    d = engine.dialect
    valid = f"({d.json_valid('text')} AND trim(text) LIKE '{{%}}')"
    rtype = f"CASE WHEN {valid} THEN {d.json_string('text', 'resourceType')} END"
    nonblank = "(text IS NOT NULL AND trim(text) <> '')"
    columns = [
        "file",
        "line_no",
        "grp",
        "url",
        f"{nonblank} AS nonblank",
        f"{rtype} AS rtype",
        f"CASE WHEN {nonblank} AND ({rtype}) IS NULL THEN text END AS bad_text",
    ]
    if group.rtype is not None and group.rtype in SCHEMAS:
        parsed = d.parse_json("text", PARSED_SCHEMAS[group.rtype])
        columns.append(f"CASE WHEN {valid} THEN {parsed} END AS r")
    elif group.rtype in TEXT_KEPT:
        columns.append(f"CASE WHEN {valid} THEN {d.parse_json('text', {'subject': REF})} END AS r")
    if group.keep_text:
        columns.append("text")
    sql = f"SELECT {', '.join(columns)} FROM {engine.lines(group.files)}"
    if group.rtype is None or group.rtype not in SCHEMAS:
        return sql
    # Parsed in a subquery: `as_read` names the parsed struct several times.
    names = [c.split(" AS ")[-1] for c in columns]
    outer = [f"p.{n}" if n != "r" else f"{as_read(d, 'p.r', group.rtype)} AS r" for n in names]
    return f"SELECT {', '.join(outer)} FROM ({sql}) AS p"


def _first_type(path: Path) -> str | None:
    """The resourceType of the first non-blank line of an NDJSON file, if it has one."""
    try:
        with _open_text(path) as handle:
            for line in handle:
                if line.strip():
                    value = json.loads(line)
                    found = value.get("resourceType") if isinstance(value, dict) else None
                    return found if isinstance(found, str) else None
    except (OSError, ValueError):
        return None
    return None


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def _bad_lines(
    engine: Engine, groups: Sequence[_Group], files: Sequence[InputFile]
) -> list[BadLine]:
    """The first bad lines, with line numbers and reasons."""
    rows = engine.rows(
        "SELECT * FROM ("
        + " UNION ALL ".join(
            f"SELECT file, line_no, coalesce(bad_text, '') AS text FROM {g.name} "
            "WHERE nonblank AND rtype IS NULL"
            for g in groups
        )
        + f") AS b ORDER BY file, line_no LIMIT {MAX_BAD_LINES}"
    )
    out = []
    paths = {f.number: f.path for f in files}
    for file, line, text in rows:
        path = paths[int(file)]
        if line is None or not engine.numbered:
            line = _line_number(Path(path), text)
        out.append(BadLine(path, line, _reason(text)))
    return sorted(out, key=lambda b: (b.file, b.line or 0))


def _line_number(path: Path, text: str) -> int | None:
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if line.rstrip("\r\n") == text:
                    return number
    except OSError:
        return None
    return None


def _reason(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
    if not isinstance(value, dict):
        return f"not a JSON object (a {type(value).__name__})"
    if not isinstance(value.get("resourceType"), str):
        return "a JSON object without a resourceType: not a FHIR resource"
    return "not read as a FHIR resource by the engine's JSON parser"


def _read_notes(
    engine: Engine,
    extraction: Extraction,
    report: ReadReport,
    notes: _Notes,
) -> set[str]:
    """Read the reports and documents of the cases: register the readings and the requests
    the note reader gave, and the cases the reader would refuse; the facts read.

    Raises:
        BadInputError: a case's documents come to more text than the per-case reader takes
            from one bundle, and not `skip_bad`.
    """
    rows: list[ReadingRow] = []
    found_requests: list[tuple[object, ...]] = []
    refused: dict[str, tuple[int, str]] = {}
    sql = extraction.documents()
    if sql is not None:
        found = engine.rows(sql)
        binaries: dict[str, list[tuple[str | None, str]]] = {}
        binary_sql = extraction.binaries()
        for pid, url, text in engine.rows(binary_sql) if binary_sql else []:
            binaries.setdefault(pid, []).append((url, text))
        refused = _over_text_limits(found, binaries)
        if refused:
            paths = {f.number: f.path for f in notes.files}
            bad = [
                BadLine(paths[int(file)], None, f"case {pid}: {reason}")
                for pid, (file, reason) in refused.items()
            ]
            report.bad_total += len(bad)
            ordered = sorted(report.bad_lines + bad, key=lambda b: (b.file, b.line or 0))
            report.bad_lines = ordered[:MAX_BAD_LINES]
            if not notes.skip_bad:
                raise BadInputError(report.bad_lines, report.bad_total)
        documents = [
            Document(pid, text, day, url, tuple(binaries.get(pid, ())))
            for pid, text, day, url, _ in found
            if pid not in refused
        ]
        if notes.reader is None and not reader_available():
            report.documents_unread = len(documents)
        else:
            done = [0]

            def advance(count: int) -> None:
                done[0] += count
                if notes.progress:
                    notes.progress(done[0], len(documents))

            rows, requests = read_documents(
                documents, workers=notes.workers, reader=notes.reader, advance=advance
            )
            found_requests = [(pid, seq, *request) for seq, (pid, *request) in enumerate(requests)]
            report.documents_read = len(documents)
    engine.register(NOTE_READINGS, READING_COLUMNS, rows)
    engine.register(NOTE_REQUESTS, NOTE_REQUEST_COLUMNS, found_requests)
    engine.register(REFUSED_CASES, (("pid", SqlType.STRING),), [(pid,) for pid in refused])
    fact_at = [name for name, _ in READING_COLUMNS].index("fact")
    return {str(row[fact_at]) for row in rows}


@dataclass(frozen=True, slots=True)
class _Notes:
    """How the notes are read: the input files (to name a refused case's), --skip-bad, the
    worker processes, the note reader (None: the installed one) and a progress callback."""

    files: Sequence[InputFile]
    skip_bad: bool
    workers: int
    reader: NoteReader | None
    progress: Callable[[int, int], None] | None


def _over_text_limits(
    found: Sequence[tuple[object, ...]], binaries: dict[str, list[tuple[str | None, str]]]
) -> dict[str, tuple[int, str]]:
    """The cases whose documents come to more text than the per-case reader takes from one
    bundle (documents.MAX_BUNDLE_TEXTS, MAX_BUNDLE_TEXT_CHARS, MAX_BUNDLE_DECODED_BYTES),
    with the file of their first document and the reader's reason.

    The reader's own check (`document_texts` over the case's documents and Binaries, as one
    bundle) runs only on the cases whose JSON is long enough to reach a limit: a text is at
    least 11 characters of JSON, and holds no more characters than its JSON, or than the
    longest Binary an attachment url names.
    """
    cases: dict[str, list[tuple[object, ...]]] = {}
    for row in found:
        cases.setdefault(str(row[0]), []).append(row)
    out = {}
    for pid, documents in cases.items():
        named = binaries.get(pid, [])
        longest = max((len(text) for _, text in named), default=0)
        sizes = [len(str(row[1])) for row in documents]
        texts = sum(2 + size // 11 for size in sizes)
        characters = sum(size + (size // 11 + 1) * longest for size in sizes)
        if texts <= MAX_BUNDLE_TEXTS and characters <= MAX_BUNDLE_TEXT_CHARS:
            continue
        entries = [(row[3], str(row[1])) for row in documents] + list(named)
        resources = [(url, json_object(text)) for url, text in entries]
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": url, "resource": r} for url, r in resources if r is not None],
        }
        ctx = ReadContext(BundleIndex.of(bundle))
        document_texts(ctx)
        if ctx.text_refused:
            out[pid] = (int(str(documents[0][4])), ctx.text_refused)
    return out

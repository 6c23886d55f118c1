"""Report and document text, read by the note reader in parallel worker processes.

The set-based reader hands each DocumentReference or DiagnosticReport (the resource's JSON
and the case's request date) to a worker. The worker does what the per-case FHIR reader does
with such a resource: takes its texts (`fhir.documents.document_texts`) and reads them with
the note reader (`fhir.notes.read_texts`, i.e. `vertebro.adapters.nlp.read_note`), and returns
the readings as rows of the readings table, each with the rank of its kind of text, and the
procedures requested in the texts (the reader takes them when a case has no coded request).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

from vertebro.adapters.fhir.bundle import BundleIndex
from vertebro.adapters.fhir.context import ReadContext
from vertebro.adapters.fhir.documents import document_texts
from vertebro.adapters.fhir.notes import NoteReader, note_reader, read_texts
from vertebro.batch.extract import READING_COLUMNS, VALUE_COLUMN
from vertebro.batch.facts_table import to_cell
from vertebro.batch.lookups import LEVEL_ORDER
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.levels import Level

ReadingRow = tuple[object, ...]
# A request found in text: case, procedure, levels as bits (None: none).
FoundRequest = tuple[str, str, int | None]
_INDEX = {name: index for index, (name, _) in enumerate(READING_COLUMNS)}


@dataclass(frozen=True, slots=True)
class Document:
    """One resource whose text is to be read, with its case, the case's request date, its
    fullUrl and the case's Binaries (fullUrl, JSON), which its attachments may name."""

    pid: str
    resource_json: str
    request_date: dt.date | None
    url: str | None = None
    binaries: tuple[tuple[str | None, str], ...] = ()


def reader_available() -> bool:
    """Whether the note reader (vertebro.adapters.nlp.read_note) is installed."""
    return note_reader() is not None


def read_document(
    document: Document, reader: NoteReader | None = None
) -> tuple[list[ReadingRow], list[FoundRequest]]:
    """The readings and the requests the note reader (`reader`, else the installed one)
    finds in one resource's texts (run in a worker)."""
    resource = json_object(document.resource_json)
    if resource is None:
        return [], []
    # The resource and the Binaries beside it, as the reader's bundle index holds them, so
    # that an attachment's url resolves as it does there.
    entries = [{"fullUrl": document.url, "resource": resource}]
    for url, text in document.binaries:
        binary = json_object(text)
        if binary is not None:
            entries.append({"fullUrl": url, "resource": binary})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    ctx = ReadContext(BundleIndex.of(bundle if document.binaries else resource))
    ctx.request_date = document.request_date
    rows = []
    requests: list[FoundRequest] = []
    for found in read_texts(ctx, document_texts(ctx), reader):
        requests += [(document.pid, r.procedure.value, _bits(r.levels)) for r in found.requests]
        for reading in found.readings:
            fact = reading.fact
            spec = CATALOGUE.get(fact.name)
            if spec is None:
                continue
            row: list[object] = [None] * len(READING_COLUMNS)
            row[_INDEX["pid"]] = document.pid
            row[_INDEX["fact"]] = fact.name
            row[_INDEX["known"]] = fact.value is not None
            if fact.value is not None:
                row[_INDEX[VALUE_COLUMN[spec.type]]] = to_cell(fact.value)
            row[_INDEX["rank"]] = int(reading.rank)
            row[_INDEX["priority"]] = reading.priority
            row[_INDEX["w"]] = reading.when
            rows.append(tuple(row))
    return rows, requests


def _bits(levels: Sequence[Level] | None) -> int | None:
    """Levels as the bits `Dialect.bit_set` makes of their positions in LEVEL_ORDER."""
    bits = 0
    for level in levels or ():
        bits |= 1 << (LEVEL_ORDER.index(str(level)) + 1)
    return bits or None


def json_object(text: str) -> dict[str, object] | None:
    """The JSON object in `text`; None when it is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _read_batch(
    job: tuple[Sequence[Document], NoteReader | None],
) -> tuple[list[ReadingRow], list[FoundRequest]]:
    documents, reader = job
    rows: list[ReadingRow] = []
    requests: list[FoundRequest] = []
    for document in documents:
        found_rows, found_requests = read_document(document, reader)
        rows += found_rows
        requests += found_requests
    return rows, requests


def read_documents(
    documents: Iterable[Document],
    *,
    workers: int,
    reader: NoteReader | None = None,
    batch: int = 16,
    advance: Callable[[int], None] | None = None,
) -> tuple[list[ReadingRow], list[FoundRequest]]:
    """Read every document in `workers` processes (in this process when workers is 1) with
    `reader` (a module-level function, so that workers can receive it; default: the installed
    note reader): the readings, and the requests in the order found. `advance` is told how
    many documents each finished batch held."""
    batches = list(_batches(documents, batch))
    rows: list[ReadingRow] = []
    requests: list[FoundRequest] = []
    with ExitStack() as stack:
        results: Iterable[tuple[list[ReadingRow], list[FoundRequest]]]
        jobs = [(group, reader) for group in batches]
        if workers <= 1:
            results = map(_read_batch, jobs)
        else:
            context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            results = stack.enter_context(pool).map(_read_batch, jobs)
        for group, (found_rows, found_requests) in zip(batches, results, strict=True):
            rows += found_rows
            requests += found_requests
            if advance:
                advance(len(group))
    return rows, requests


def _batches(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    group: list[Document] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group

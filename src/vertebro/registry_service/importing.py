"""Importing registry files (into a registry file or the service database); storing a registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vertebro.adapters import registry_import
from vertebro.adapters.db.registry_repository import (
    Entity,
    SqlRegistryRepository,
    append_audits,
    registry_transaction,
)
from vertebro.adapters.db.repository import Database
from vertebro.adapters.errors import InputError
from vertebro.adapters.registry_import import Reading
from vertebro.core.registry.model import Registry
from vertebro.core.registry.ports import AbstractRegistryRepository, DuplicateRecordError
from vertebro.registry_service.access import (
    RegistryUser,
    audit_refused,
    created_events,
    recorder_of,
    write_scope,
)
from vertebro.registry_service.checking import RowChecker, RowProblem


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one file brought: the records loaded and one line per bad row."""

    source: str
    loaded: dict[str, int]
    bad_rows: int
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    details: list[RowProblem] = field(default_factory=list)  # the problems, structured

    @property
    def ok(self) -> bool:
        """True when no row was bad."""
        return self.bad_rows == 0


def readings_in_order(paths: Sequence[Path]) -> list[Reading | InputError]:
    """Each file read (or why it cannot be), the files holding procedures first and the rest
    in the order given: complications and follow-ups name their procedure, and a shell lists
    `complications.csv` before `procedures.csv` when a user types `*.csv`."""
    read: list[Reading | InputError] = []
    for path in paths:
        try:
            read.append(registry_import.read_registry_file(path))
        except InputError as exc:
            read.append(exc)

    def holds_procedures(item: Reading | InputError) -> bool:
        return isinstance(item, Reading) and any(r.kind == "procedure" for r in item.rows)

    return sorted(read, key=lambda item: not holds_procedures(item))


def import_file(
    path: Path, repo: AbstractRegistryRepository, *, today: dt.date, skip_bad: bool = False
) -> ImportResult:
    """Validate a registry file and store it: all of it, or (skip_bad) its good rows only.

    A file with a bad row stores nothing unless skip_bad is set.

    Raises:
        InputError: the file itself cannot be read (not CSV/JSON, unknown header ...).
    """
    return store_reading(registry_import.read_registry_file(path), repo, today, skip_bad=skip_bad)


def store_reading(
    reading: Reading, repo: AbstractRegistryRepository, today: dt.date, *, skip_bad: bool = False
) -> ImportResult:
    """`import_file` for a file already read.

    Raises:
        InputError: some of its records are already stored.
    """
    checker = RowChecker(reading, repo, today)
    batch = checker.check()
    stored = checker.bad_rows == 0 or skip_bad
    if stored:
        try:
            repo.add(batch)
        except DuplicateRecordError as exc:
            raise InputError(reading.source, str(exc)) from None
    return _result(reading, checker, batch if stored else None)


def import_reading(
    db: Database,
    user: RegistryUser,
    reading: Reading,
    *,
    now: dt.datetime,
    skip_bad: bool = False,
    organisation: str | None = None,
) -> ImportResult:
    """Validate a registry file (CSV or a FHIR Bundle, already read) and store it in the
    service database for the user's unit: all of it, or (skip_bad) its good rows only.

    Raises:
        RegistryForbidden: the user may not record for that organisation.
    """
    org = write_scope(user, organisation)
    operation = "registry-import"
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation=org, recorder=recorder_of(user, now))
        checker = RowChecker(reading, repo, now.date(), cases=repo.linked_cases, organisation=org)
        batch = checker.check()
        stored = checker.bad_rows == 0 or skip_bad
        if stored:
            repo.add(batch)  # checked above inside this transaction: no duplicate can remain
            detail = (
                f"{reading.source}; {checker.bad_rows} bad rows skipped"
                if checker.bad_rows
                else reading.source
            )
            append_audits(session, created_events(user, now, org, batch, operation, detail))
    if not stored:
        audit_refused(
            db,
            user,
            now,
            "C",
            "create",
            operation,
            Entity("import", org, reading.source),
            f"{checker.bad_rows} bad rows; nothing stored",
        )
    return _result(reading, checker, batch if stored else None)


def _result(reading: Reading, checker: RowChecker, stored: Registry | None) -> ImportResult:
    """What a file brought: the records stored (None: nothing) and its bad rows."""
    records = stored if stored is not None else Registry()
    loaded = {
        "procedures": len(records.procedures),
        "complications": len(records.complications),
        "follow_ups": len(records.follow_ups),
    }
    return ImportResult(
        reading.source, loaded, checker.bad_rows, checker.problems, reading.notes, checker.details
    )


def import_file_to_database(
    path: Path,
    db: Database,
    user: RegistryUser,
    *,
    now: dt.datetime,
    organisation: str,
    skip_bad: bool = False,
) -> ImportResult:
    """`import_reading` for a file (the CLI).

    Raises:
        InputError: the file itself cannot be read.
    """
    return import_reading(
        db,
        user,
        registry_import.read_registry_file(path),
        now=now,
        skip_bad=skip_bad,
        organisation=organisation,
    )


def store_registry(
    db: Database, user: RegistryUser, registry: Registry, *, now: dt.datetime, organisation: str
) -> None:
    """Store a whole registry (a simulated one) for a unit, or nothing.

    Raises:
        DuplicateRecordError: some of its records are already stored.
    """
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(
            session, organisation=organisation, recorder=recorder_of(user, now)
        )
        repo.add(registry)
        append_audits(session, created_events(user, now, organisation, registry, "registry-store"))

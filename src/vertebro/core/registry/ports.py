"""The storage port of the registry: what the use cases need from any store.

`adapters.registry_store.SqliteRegistryRepository` implements it on a local SQLite file for
the CLI; `adapters.db.registry_repository.SqlRegistryRepository` on the service database
(SQLite or PostgreSQL), one organisation at a time.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable

from vertebro.core.registry.model import Complication, ProcedureRecord, Registry, Timepoint


class DuplicateRecordError(ValueError):
    """A record with the same key is already stored; nothing of the batch was written."""


class UnknownProcedureError(ValueError):
    """A complication or follow-up names a procedure that is neither in the batch nor stored;
    nothing of the batch was written."""


class AbstractRegistryRepository(ABC):
    """Stores procedures, complications and follow-ups; `add` writes a batch or nothing."""

    @abstractmethod
    def add(self, batch: Registry) -> None:
        """Store every record of the batch in one transaction.

        Raises:
            DuplicateRecordError: a procedure or complication id, or a (procedure, timepoint)
                follow-up, is already stored; nothing is written.
            UnknownProcedureError: a child record's procedure is nowhere (stores that check).
        """

    @abstractmethod
    def procedures(self, ids: Iterable[str]) -> dict[str, ProcedureRecord]:
        """The stored procedures among these ids."""

    @abstractmethod
    def existing_complications(self, ids: Iterable[str]) -> set[str]:
        """Which of these complication ids are already stored."""

    @abstractmethod
    def existing_follow_ups(
        self, keys: Iterable[tuple[str, Timepoint]]
    ) -> set[tuple[str, Timepoint]]:
        """Which of these (procedure id, timepoint) follow-ups are already stored."""

    @abstractmethod
    def complication(self, id: str) -> Complication | None:
        """One complication by id."""

    @abstractmethod
    def load(self, start: dt.date | None = None, end: dt.date | None = None) -> Registry:
        """The procedures done between start and end (inclusive; None is open), with all their
        complications and follow-ups."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """How many procedures, complications and follow-ups are stored."""

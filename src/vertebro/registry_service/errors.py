"""The errors of the registry use cases: not found, forbidden, ambiguous and bad records."""

from __future__ import annotations

from vertebro.registry_service.checking import RowProblem


class RegistryNotFound(Exception):
    """No such record visible to the caller (another unit's records are not told apart)."""


class RegistryForbidden(Exception):
    """The caller may not see or write this unit's registry."""


class RegistryAmbiguous(Exception):
    """An auditor named a record that several units hold: the organisation must be given."""


class BadRecords(Exception):
    """Records refused: every problem with its field; `duplicate` when the only fault is that
    the record is already stored."""

    def __init__(self, details: list[RowProblem]) -> None:
        super().__init__("; ".join(d.text for d in details[:3]))
        self.details = details

    @property
    def duplicate(self) -> bool:
        """True when every problem is an already-stored record."""
        return bool(self.details) and all(d.duplicate for d in self.details)

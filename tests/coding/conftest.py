"""Fixtures for the coding tests: an empty user data directory (so no loaded release leaks in),
the shipped code set, and helpers that code a record, list codes per system and gather the
words of the warnings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vertebro.adapters import code_tables
from vertebro.core.coding.model import OperativeRecord
from vertebro.core.coding.result import CodingResult
from vertebro.core.coding.run import ALL_SYSTEMS, CodeSet, code_record
from vertebro.core.coding.tables import CodeSystem

NOTES = Path(__file__).resolve().parent.parent / "fixtures" / "operative_notes"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs with its own empty VERTEBRO_HOME."""
    home = tmp_path / "vertebro-home"
    monkeypatch.setenv("VERTEBRO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def codeset() -> CodeSet:
    """The shipped tables and crosswalks (no user data directory)."""
    return code_tables.load_codeset(Path("/nonexistent-vertebro-home"))


@pytest.fixture()
def code(codeset: CodeSet) -> Callable[..., CodingResult]:
    """Code a record in the given systems (all by default) with the shipped tables."""

    def run(record: OperativeRecord, *systems: CodeSystem) -> CodingResult:
        return code_record(record, systems or ALL_SYSTEMS, codeset)

    return run


def _listed(result: CodingResult, system: CodeSystem) -> list[str | None]:
    return [
        (line.code + (f"x{line.units}" if line.units > 1 else "")) if line.code else None
        for line in result.for_system(system)
    ]


def _asked(result: CodingResult) -> str:
    return " ".join(f"{q.message} {q.question}" for q in result.warnings).lower()


@pytest.fixture(scope="session")
def listed() -> Callable[[CodingResult, CodeSystem], list[str | None]]:
    """The codes of one system in sequence (None for a placeholder), add-ons as CODExN."""
    return _listed


@pytest.fixture(scope="session")
def asked() -> Callable[[CodingResult], str]:
    """All warnings of a result as one lower-case text, to search for words."""
    return _asked


@pytest.fixture(scope="session")
def notes_dir() -> Path:
    """The operative notes written for these tests."""
    return NOTES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """FHIR Bundles and release files used by these tests."""
    return DATA

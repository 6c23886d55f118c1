"""The registry on a local SQLite file: the CLI's implementation of the storage port.

One table per record type, one row per record; `add` writes a batch in one transaction or
nothing. The HTTP service keeps its own database and implements the same port there.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from vertebro.core.catalogue import Procedure
from vertebro.core.levels import Level
from vertebro.core.registry.model import (
    AnalgesicUse,
    Approach,
    CementProduct,
    Complication,
    ComplicationKind,
    EventOutcome,
    FollowUp,
    FractureSite,
    ImageGuidance,
    InjuryCause,
    LeakSite,
    Mobility,
    ProcedureRecord,
    Registry,
    Sex,
    Timepoint,
)
from vertebro.core.registry.ports import AbstractRegistryRepository, DuplicateRecordError

SCHEMA_VERSION = 2  # 2: procedures.case_id
_SCHEMA = """
CREATE TABLE IF NOT EXISTS procedures (
    id TEXT PRIMARY KEY, date TEXT NOT NULL, operator TEXT NOT NULL, procedure TEXT NOT NULL,
    levels TEXT NOT NULL, approach TEXT NOT NULL, image_guidance TEXT NOT NULL,
    cement_ml TEXT NOT NULL, biopsy INTEGER NOT NULL, patient TEXT, age INTEGER, sex TEXT,
    cement_product TEXT, cement_manufacturer TEXT, cement_lot TEXT, cement_expiry TEXT,
    assessment_id TEXT, decision_id TEXT, policy TEXT, pathway TEXT, case_id TEXT
);
CREATE INDEX IF NOT EXISTS procedures_date ON procedures(date);
CREATE TABLE IF NOT EXISTS complications (
    id TEXT PRIMARY KEY, procedure_id TEXT NOT NULL REFERENCES procedures(id),
    kind TEXT NOT NULL, date TEXT NOT NULL, symptomatic INTEGER, leak_site TEXT,
    fracture_site TEXT, level TEXT, cause TEXT, further_intervention INTEGER NOT NULL,
    outcome TEXT NOT NULL, device_related INTEGER, description TEXT
);
CREATE INDEX IF NOT EXISTS complications_procedure ON complications(procedure_id);
CREATE TABLE IF NOT EXISTS follow_ups (
    procedure_id TEXT NOT NULL REFERENCES procedures(id), timepoint TEXT NOT NULL,
    date TEXT NOT NULL, pain INTEGER, analgesics TEXT, mobility TEXT, roland_morris INTEGER,
    PRIMARY KEY (procedure_id, timepoint)
);
"""
_P_COLUMNS = (
    "id", "date", "operator", "procedure", "levels", "approach", "image_guidance", "cement_ml",
    "biopsy", "patient", "age", "sex", "cement_product", "cement_manufacturer", "cement_lot",
    "cement_expiry", "assessment_id", "decision_id", "policy", "pathway", "case_id",
)
_C_COLUMNS = (
    "id", "procedure_id", "kind", "date", "symptomatic", "leak_site", "fracture_site", "level",
    "cause", "further_intervention", "outcome", "device_related", "description",
)
_F_COLUMNS = (
    "procedure_id", "timepoint", "date", "pain", "analgesics", "mobility", "roland_morris",
)
_CHUNK = 500  # ids per IN (...) query, under SQLite's variable limit


def _d(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _b(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _e(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _procedure_row(p: ProcedureRecord) -> tuple[Any, ...]:
    return (
        p.id, p.date.isoformat(), p.operator, p.procedure.value,
        ",".join(str(lv) for lv in p.levels), p.approach.value, p.image_guidance.value,
        json.dumps([[str(lv), ml] for lv, ml in p.cement_ml]), int(p.biopsy), p.patient, p.age,
        p.sex.value if p.sex else None, p.cement.product, p.cement.manufacturer, p.cement.lot,
        p.cement.expiry.isoformat() if p.cement.expiry else None, p.assessment_id,
        p.decision_id, p.policy, p.pathway, p.case_id,
    )


def _procedure(row: sqlite3.Row) -> ProcedureRecord:
    expiry = _d(row["cement_expiry"])
    return ProcedureRecord(
        id=row["id"],
        date=dt.date.fromisoformat(row["date"]),
        operator=row["operator"],
        procedure=Procedure(row["procedure"]),
        levels=tuple(Level.parse(lv) for lv in row["levels"].split(",")),
        approach=Approach(row["approach"]),
        image_guidance=ImageGuidance(row["image_guidance"]),
        cement_ml=tuple((Level.parse(lv), float(ml)) for lv, ml in json.loads(row["cement_ml"])),
        biopsy=bool(row["biopsy"]),
        patient=row["patient"],
        age=row["age"],
        sex=Sex(row["sex"]) if row["sex"] else None,
        cement=CementProduct(
            row["cement_product"], row["cement_manufacturer"], row["cement_lot"], expiry
        ),
        assessment_id=row["assessment_id"],
        decision_id=row["decision_id"],
        policy=row["policy"],
        pathway=row["pathway"],
        case_id=row["case_id"],
    )


def _complication_row(c: Complication) -> tuple[Any, ...]:
    return (
        c.id, c.procedure_id, c.kind.value, c.date.isoformat(), _e(c.symptomatic),
        c.leak_site.value if c.leak_site else None,
        c.fracture_site.value if c.fracture_site else None,
        str(c.level) if c.level else None, c.cause.value if c.cause else None,
        int(c.further_intervention), c.outcome.value, _e(c.device_related), c.description,
    )


def _complication(row: sqlite3.Row) -> Complication:
    return Complication(
        id=row["id"],
        procedure_id=row["procedure_id"],
        kind=ComplicationKind(row["kind"]),
        date=dt.date.fromisoformat(row["date"]),
        symptomatic=_b(row["symptomatic"]),
        leak_site=LeakSite(row["leak_site"]) if row["leak_site"] else None,
        fracture_site=FractureSite(row["fracture_site"]) if row["fracture_site"] else None,
        level=Level.parse(row["level"]) if row["level"] else None,
        cause=InjuryCause(row["cause"]) if row["cause"] else None,
        further_intervention=bool(row["further_intervention"]),
        outcome=EventOutcome(row["outcome"]),
        device_related=_b(row["device_related"]),
        description=row["description"],
    )


def _follow_up_row(f: FollowUp) -> tuple[Any, ...]:
    return (
        f.procedure_id, f.timepoint.value, f.date.isoformat(), f.pain,
        f.analgesics.value if f.analgesics else None, f.mobility.value if f.mobility else None,
        f.roland_morris,
    )


def _follow_up(row: sqlite3.Row) -> FollowUp:
    return FollowUp(
        procedure_id=row["procedure_id"],
        timepoint=Timepoint(row["timepoint"]),
        date=dt.date.fromisoformat(row["date"]),
        pain=row["pain"],
        analgesics=AnalgesicUse(row["analgesics"]) if row["analgesics"] else None,
        mobility=Mobility(row["mobility"]) if row["mobility"] else None,
        roland_morris=row["roland_morris"],
    )


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class SqliteRegistryRepository(AbstractRegistryRepository):
    """The registry in one SQLite file (created with its tables on first use)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._memory: sqlite3.Connection | None = None
        if self.path == ":memory:":
            self._memory = self._open()
        with self._connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, SCHEMA_VERSION):
                raise ValueError(f"{path}: registry schema version {version} is not supported")
            if version == 1:  # a file from before procedures could name their case
                db.execute("ALTER TABLE procedures ADD COLUMN case_id TEXT")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        return db

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._memory is not None:
            with self._memory:
                yield self._memory
            return
        with closing(self._open()) as db, db:
            yield db

    def add(self, batch: Registry) -> None:
        """Store the batch in one transaction (see the port)."""
        try:
            with self._connect() as db:
                db.executemany(
                    f"INSERT INTO procedures VALUES ({','.join('?' * len(_P_COLUMNS))})",
                    [_procedure_row(p) for p in batch.procedures],
                )
                db.executemany(
                    f"INSERT INTO complications VALUES ({','.join('?' * len(_C_COLUMNS))})",
                    [_complication_row(c) for c in batch.complications],
                )
                db.executemany(
                    f"INSERT INTO follow_ups VALUES ({','.join('?' * len(_F_COLUMNS))})",
                    [_follow_up_row(f) for f in batch.follow_ups],
                )
        except sqlite3.IntegrityError as exc:
            raise DuplicateRecordError(f"not stored: {exc}") from None

    def procedures(self, ids: Iterable[str]) -> dict[str, ProcedureRecord]:
        """The stored procedures among these ids."""
        found: dict[str, ProcedureRecord] = {}
        with self._connect() as db:
            for chunk in _chunks(sorted(set(ids))):
                marks = ",".join("?" * len(chunk))
                for row in db.execute(f"SELECT * FROM procedures WHERE id IN ({marks})", chunk):
                    found[row["id"]] = _procedure(row)
        return found

    def existing_complications(self, ids: Iterable[str]) -> set[str]:
        """Which of these complication ids are already stored."""
        found: set[str] = set()
        with self._connect() as db:
            for chunk in _chunks(sorted(set(ids))):
                marks = ",".join("?" * len(chunk))
                query = f"SELECT id FROM complications WHERE id IN ({marks})"
                found.update(row["id"] for row in db.execute(query, chunk))
        return found

    def existing_follow_ups(
        self, keys: Iterable[tuple[str, Timepoint]]
    ) -> set[tuple[str, Timepoint]]:
        """Which of these (procedure id, timepoint) follow-ups are already stored."""
        wanted = set(keys)
        found: set[tuple[str, Timepoint]] = set()
        with self._connect() as db:
            for chunk in _chunks(sorted({pid for pid, _ in wanted})):
                marks = ",".join("?" * len(chunk))
                query = (
                    "SELECT procedure_id, timepoint FROM follow_ups "
                    f"WHERE procedure_id IN ({marks})"
                )
                for row in db.execute(query, chunk):
                    key = (row["procedure_id"], Timepoint(row["timepoint"]))
                    if key in wanted:
                        found.add(key)
        return found

    def complication(self, id: str) -> Complication | None:
        """One complication by id."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM complications WHERE id = ?", (id,)).fetchone()
        return _complication(row) if row is not None else None

    def load(self, start: dt.date | None = None, end: dt.date | None = None) -> Registry:
        """The procedures done between start and end, with their complications and follow-ups."""
        where = "WHERE date >= ? AND date <= ?"
        bounds = ((start or dt.date.min).isoformat(), (end or dt.date.max).isoformat())
        chosen = f"SELECT id FROM procedures {where}"
        with self._connect() as db:
            procedures = tuple(
                _procedure(r) for r in db.execute(f"SELECT * FROM procedures {where}", bounds)
            )
            complications = tuple(
                _complication(r)
                for r in db.execute(
                    f"SELECT * FROM complications WHERE procedure_id IN ({chosen})", bounds
                )
            )
            follow_ups = tuple(
                _follow_up(r)
                for r in db.execute(
                    f"SELECT * FROM follow_ups WHERE procedure_id IN ({chosen})", bounds
                )
            )
        return Registry(procedures, complications, follow_ups)

    def counts(self) -> dict[str, int]:
        """How many procedures, complications and follow-ups are stored."""
        with self._connect() as db:
            return {
                table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("procedures", "complications", "follow_ups")
            }

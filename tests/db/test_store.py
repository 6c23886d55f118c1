"""The case store on SQLite and PostgreSQL: migrations, round trips, transactions, the
append-only history and audit trail, idempotent submission under concurrency."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from vertebro import case_service
from vertebro.adapters.db.audit import audit_record
from vertebro.adapters.db.migrate import current_revision, head_revision, upgrade
from vertebro.adapters.db.repository import (
    ConcurrentUpdate,
    Database,
    DuplicateSubmission,
    StoredCase,
    make_database,
)
from vertebro.api.main import DatabaseNotReady, create_app
from vertebro.case_service import Actor, Submission
from vertebro.cli import main
from vertebro.core import cases
from vertebro.core.case import Case
from vertebro.core.cases import HumanReviewer, Priority, Reason, RequestedItem
from vertebro.core.catalogue import Procedure
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactSet, Provenance
from vertebro.core.levels import parse_levels
from vertebro.core.policy import PolicyRef
from vertebro.settings import Role, Settings

T0 = dt.datetime(2026, 10, 5, 9, 30, tzinfo=dt.UTC)
EHR = Actor(id="ehr-1", name="Hospital EHR", kind="system", role=Role.REQUESTER,
            organisation="org-a")
ADA = HumanReviewer("rev-1", "Dr Ada")


def stored_case(case_id: str = "case-1", key: str = "key-1", *,
                priority: Priority = Priority.STANDARD, received: dt.datetime = T0,
                organisation: str = "org-a") -> StoredCase:
    flag = cases.ReviewFlag(cases.ReviewCause.CONFLICTING_EVIDENCE, "vertebroplasty",
                            "sources disagree")
    question = cases.Question("pain.score", "What is the pain score?", ("vertebroplasty",))
    case = cases.open_case(case_id=case_id, organisation=organisation, submission_key=key,
                           priority=priority, received_at=received, submitted_by="EHR",
                           result=cases.QueuedForReview((flag,), (question,)))
    loser = Fact("fracture.healed", True, (Provenance("note", "letter", "healed", (3, 9)),))
    facts = FactSet([
        Fact("fracture.healed", False, (Provenance("fhir", "Condition/1", None, None,
                                                   "Bundle.entry[2]"),), (loser,)),
        Fact("request.levels", tuple(parse_levels("T12-L1")), ()),
        Fact("fracture.onset_date", dt.date(2026, 7, 20), ()),
        Fact("conservative_treatment.modalities", frozenset({"analgesics", "bracing"}), ()),
        Fact("pain.score", None, (Provenance("note", "letter", "pain ?", None, None),)),
        Fact("conservative_treatment.duration_weeks", 8.5, ()),
    ])
    return StoredCase(
        case=case, version=1, channel="api", request_hash="h" * 64,
        items=(RequestedItem(1, "vertebroplasty T12, L1", Procedure.VERTEBROPLASTY,
                             ("cpt|22510",)),),
        requests=(ProcedureRequest(Procedure.VERTEBROPLASTY, tuple(parse_levels("T12-L1"))),),
        facts=facts, policy=PolicyRef("carefirst", "2022", "abc"), report={"x": 1},
        submission={"identifier": key}, first_response={"answer": 1},
        patient_key="sys|123", provider_keys=("npi|9",),
    )


def test_migrations_are_current_and_idempotent(db: Database) -> None:
    assert current_revision(db.engine) == head_revision()
    upgrade(db.engine)
    assert current_revision(db.engine) == head_revision()


def test_round_trip_keeps_every_value_and_conflict(db: Database) -> None:
    original = stored_case()
    with db.transaction() as repo:
        repo.add(original, now=T0)
    with db.transaction() as repo:
        loaded = repo.get("case-1")
    assert loaded == original


def test_a_submission_identifier_is_used_once_per_organisation(db: Database) -> None:
    with db.transaction() as repo:
        repo.add(stored_case("a", "same"), now=T0)
    with pytest.raises(DuplicateSubmission), db.transaction() as repo:
        repo.add(stored_case("b", "same"), now=T0)
    with db.transaction() as repo:
        repo.add(stored_case("c", "same", organisation="org-b"), now=T0)
        assert repo.count_cases() == 2


def test_nothing_is_half_written(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as repo:
        repo.add(stored_case(), now=T0)
        repo.append_audit(audit_record(at=T0, action="C", interaction="create",
                                       operation="submit", outcome="0", agent_id="a",
                                       agent_name="A", agent_role="requester",
                                       organisation="org-a", case_id="case-1"))
        raise RuntimeError("the response could not be built")
    with db.engine.connect() as conn:
        for table in ("pa_cases", "pa_case_events", "audit_events"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_updates_append_events_and_detect_concurrent_changes(db: Database) -> None:
    with db.transaction() as repo:
        repo.add(stored_case(), now=T0)
    with db.transaction() as repo:
        first = repo.get("case-1")
    assert first is not None
    decided = cases.decide(first.case, "deny", reviewer=ADA, reason=Reason("no"),
                           at=T0 + dt.timedelta(hours=1))
    with db.transaction() as repo:
        saved = repo.update(_with_case(first, decided), now=T0)
    assert saved.version == 2
    with pytest.raises(ConcurrentUpdate), db.transaction() as repo:
        repo.update(_with_case(first, decided), now=T0)  # still at version 1: stale
    with db.transaction() as repo:
        loaded = repo.get("case-1")
    assert loaded is not None and loaded.case.state.kind == "denied-by-reviewer"
    assert [e.seq for e in loaded.case.events] == [1, 2, 3]


def _with_case(stored: StoredCase, case: cases.PriorAuthCase) -> StoredCase:
    return replace(stored, case=case)


def test_listing_orders_by_due_time_and_filters(db: Database) -> None:
    with db.transaction() as repo:
        repo.add(stored_case("std", "k1"), now=T0)
        repo.add(stored_case("exp", "k2", priority=Priority.EXPEDITED), now=T0)
        repo.add(stored_case("other", "k3", organisation="org-b"), now=T0)
    with db.transaction() as repo:
        assert [s.case.id for s in repo.list_cases()] == ["exp", "other", "std"]
        assert [s.case.id for s in repo.list_cases(organisation="org-a")] == ["exp", "std"]
        assert [s.case.id for s in repo.list_cases(
            due_before=T0 + dt.timedelta(days=4))] == ["exp"]
        assert repo.list_cases(states=frozenset({"approved-automatically"})) == []


@pytest.mark.parametrize("table", ["audit_events", "pa_case_events"])
def test_history_and_audit_trail_are_append_only_in_the_database(
    db: Database, table: str
) -> None:
    with db.transaction() as repo:
        repo.add(stored_case(), now=T0)
        repo.append_audit(audit_record(at=T0, action="C", interaction="create",
                                       operation="submit", outcome="0", agent_id="a",
                                       agent_name="A", agent_role="requester",
                                       organisation="org-a", case_id="case-1"))
    statements = [f"UPDATE {table} SET id = id", f"DELETE FROM {table}"]
    if db.engine.dialect.name == "postgresql":
        statements.append(f"TRUNCATE {table}")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.engine.connect() as conn:
        assert (conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0) >= 1


def _submission(key: str) -> Submission:
    case = Case("c", "test", (ProcedureRequest(Procedure.VERTEBROPLASTY),), FactSet(), None)
    return Submission(key=key, priority=Priority.STANDARD, channel="api",
                      document={"identifier": key}, case=case, policy_name="carefirst",
                      items=(RequestedItem(1, "vertebroplasty", Procedure.VERTEBROPLASTY),))


def test_concurrent_repeats_of_one_submission_make_one_case(db: Database) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def submit() -> None:
        try:
            barrier.wait()
            outcome = case_service.submit(db, EHR, _submission("RACE-1"), now=T0,
                                          respond=lambda s: {"case": s.case.id})
            results.append(outcome)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({r.response["case"] for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    with db.transaction() as repo:
        assert repo.count_cases() == 1


def test_the_cli_upgrades_the_configured_database(db_url: str, tmp_path: Path) -> None:
    fresh_url = (f"sqlite:///{tmp_path / 'cli.db'}" if db_url.startswith("sqlite")
                 else db_url.rsplit("/", 1)[0] + "/postgres")
    result = CliRunner().invoke(main, ["db", "upgrade"],
                                env={"VERTEBRO_DATABASE_URL": fresh_url})
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output
    engine = create_engine(fresh_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_the_service_refuses_an_unmigrated_postgresql(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        empty = f"sqlite:///{tmp_path / 'empty.db'}"
        app_db = make_database(empty)
        create_app(Settings(database_url=empty), database=app_db)  # SQLite: migrated at start
        assert current_revision(app_db.engine) == head_revision()
        app_db.dispose()
        return
    base = db_url.rsplit("/", 1)[0]
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE unmigrated_probe"))
    admin.dispose()
    probe = make_database(f"{base}/unmigrated_probe")
    try:
        with pytest.raises(DatabaseNotReady, match="vertebro db upgrade"):
            create_app(Settings(database_url=f"{base}/unmigrated_probe"), database=probe)
        refused = CliRunner().invoke(main, ["serve"], env={
            "VERTEBRO_DATABASE_URL": f"{base}/unmigrated_probe"})
        assert refused.exit_code == 2 and "vertebro db upgrade" in refused.output
    finally:
        probe.dispose()
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE unmigrated_probe WITH (FORCE)"))
        admin.dispose()

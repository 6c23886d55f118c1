"""The registry in the service database, on SQLite and on a real PostgreSQL 15 server: the
migration up from the previous head, the storage port on SQLAlchemy (batches whole or not at
all, duplicates refused, records scoped by organisation, who recorded them kept), pathways
joined from linked cases, every write audited, and the CLI reading and writing the same data
as the API."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from vertebro import registry_service
from vertebro.adapters.db import pgtest
from vertebro.adapters.db.migrate import current_revision, head_revision, upgrade
from vertebro.adapters.db.registry_repository import (
    RecordedBy,
    SqlRegistryRepository,
    registry_transaction,
)
from vertebro.adapters.db.repository import Database, StoredCase, make_database
from vertebro.adapters.registry_import import read_csv
from vertebro.adapters.registry_store import SqliteRegistryRepository
from vertebro.cli import main
from vertebro.core import cases
from vertebro.core.cases import HumanReviewer, Priority, Reason
from vertebro.core.catalogue import Procedure
from vertebro.core.facts import FactSet
from vertebro.core.policy import PolicyRef
from vertebro.core.registry import linking
from vertebro.core.registry.linking import CaseDetermination, LinkedCase
from vertebro.core.registry.model import Registry
from vertebro.core.registry.ports import DuplicateRecordError, UnknownProcedureError
from vertebro.registry_service import BadRecords, RegistryUser
from vertebro.settings import Role

AS_OF = dt.date(2026, 11, 21)
NOW = dt.datetime(2026, 11, 21, 10, 30, tzinfo=dt.UTC)
CLERK = RecordedBy("clerk-1", "Registry Clerk", "org-a", NOW)
NURSE = RegistryUser("nurse-1", "Audit Nurse", Role.REQUESTER, "org-a")
OTHER = RegistryUser("ehr-b", "Other EHR", Role.REQUESTER, "org-b")
AUDITOR = RegistryUser("aud-1", "Audrey Auditor", Role.AUDITOR, "org-payer")

PROCEDURES = """\
id,date,operator,procedure,levels,approach,image_guidance,cement_ml,biopsy,age,sex,policy,pathway,case_id
P1,2026-03-02,OP-A,vertebroplasty,T12-L1,bilateral,fluoroscopy,T12=3.5; L1=4,no,81,female,nice,typed-in,{case}
P2,2026-03-09,OP-B,vertebroplasty,L2,bilateral,fluoroscopy,L2=5,yes,70,male,nice,typed-in,
"""
FOLLOW_UPS = """\
procedure_id,timepoint,date,pain,analgesics,mobility,roland_morris
P1,baseline,2026-03-01,8,strong-opioid,unable,20
P1,3-months,2026-06-01,3,non-opioid,independent,9
P2,baseline,2026-03-09,7,weak-opioid,with-aids,15
P2,3-months,2026-06-10,7,weak-opioid,with-aids,15
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[pgtest.TemporaryPostgres]:
    reason = pgtest.available()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    yield pgtest.shared()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty service database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'service.db'}"
        database = make_database(url)
        upgrade(database.engine)
        yield database
        database.dispose()
        return
    server: pgtest.TemporaryPostgres = request.getfixturevalue("postgres")
    url = server.database()
    database = make_database(url)
    yield database
    database.dispose()
    server.drop(url)


@pytest.fixture(scope="module")
def simulated() -> Registry:
    return registry_service.simulate_registry(
        400, seed=7, start=dt.date(2024, 1, 1), end=dt.date(2025, 6, 30), as_of=AS_OF)


def _stored(db: Database, organisation: str | None) -> Registry:
    with registry_transaction(db) as session:
        return SqlRegistryRepository(session, organisation=organisation).load()


def _add(db: Database, batch: Registry, organisation: str = "org-a",
         recorder: RecordedBy = CLERK) -> None:
    with registry_transaction(db) as session:
        SqlRegistryRepository(session, organisation=organisation, recorder=recorder).add(batch)


def _same(a: Registry, b: Registry) -> bool:
    return (sorted(a.procedures, key=lambda p: p.id) == sorted(b.procedures, key=lambda p: p.id)
            and set(a.complications) == set(b.complications)
            and set(a.follow_ups) == set(b.follow_ups))


def _case(db: Database, organisation: str, *, state: str = "approved-automatically",
          decided_by: str | None = "nice-osteoporotic", outcome: str = "meets-criteria") -> str:
    """A stored prior-authorisation case with an assessment report of the CLI's shape."""
    case_id = str(uuid.uuid4())
    triaged: cases.Triage = (cases.AutoApproved((f"vertebroplasty: {decided_by}",))
                             if state == "approved-automatically" else cases.QueuedForReview(
        (cases.ReviewFlag(cases.ReviewCause.CONFLICTING_EVIDENCE, "vertebroplasty", "x"),)))
    case = cases.open_case(case_id=case_id, organisation=organisation,
                           submission_key=f"key-{case_id}", priority=Priority.STANDARD,
                           received_at=NOW - dt.timedelta(days=300), submitted_by="EHR",
                           result=triaged)
    if state == "approved-by-reviewer":
        case = cases.decide(case, "approve", reviewer=HumanReviewer("rev-1", "Dr Ada"),
                            reason=Reason("fits the guidance"), at=NOW - dt.timedelta(days=299))
    report = {"policy": {"id": "nice", "version": "2026.01", "hash": "h", "title": "NICE"},
              "determinations": [{"procedure": "vertebroplasty", "outcome": outcome,
                                  "decided_by": decided_by}]}
    stored = StoredCase(case=case, version=1, channel="api", request_hash="h" * 64, items=(),
                        requests=(), facts=FactSet([]), policy=PolicyRef("nice", "2026.01", "h"),
                        report=report, submission={}, first_response=None)
    with db.transaction() as repo:
        repo.add(stored, now=NOW)
    return case_id


# --- The migration ------------------------------------------------------------------------------


def _fresh_url(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    server: pgtest.TemporaryPostgres = request.getfixturevalue("postgres")
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield server.url(name)
    server.drop(server.url(name))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_adds_the_registry_to_a_database_at_the_previous_head(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    for url in _fresh_url(request, tmp_path, backend):
        database = make_database(url)
        try:
            upgrade(database.engine, "0001")
            case_id = _case(database, "org-a")  # a case from before the registry existed
            assert "registry_procedures" not in inspect(database.engine).get_table_names()
            upgrade(database.engine)
            assert current_revision(database.engine) == head_revision() == "0002"
            tables = set(inspect(database.engine).get_table_names())
            assert {"registry_procedures", "registry_complications",
                    "registry_follow_ups"} <= tables
            # The earlier case is still there and a procedure can name it.
            reading = read_csv(PROCEDURES.format(case=case_id), "p.csv")
            result = registry_service.import_reading(database, NURSE, reading, now=NOW)
            assert result.ok and result.loaded["procedures"] == 2
            upgrade(database.engine)  # idempotent
            assert current_revision(database.engine) == "0002"
        finally:
            database.dispose()


def test_db_upgrade_through_the_cli_reaches_the_registry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"VERTEBRO_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "revision 0002" in result.output
    engine = create_engine(url)
    try:
        assert "registry_follow_ups" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


# --- The storage port on SQLAlchemy -------------------------------------------------------------


def test_a_simulated_registry_round_trips(db: Database, simulated: Registry) -> None:
    _add(db, simulated)
    assert _same(_stored(db, "org-a"), simulated)
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation="org-a")
        assert repo.counts() == {"procedures": 400, "complications": len(simulated.complications),
                                 "follow_ups": len(simulated.follow_ups)}
        june = repo.load(dt.date(2024, 6, 1), dt.date(2024, 6, 30))
    assert june.procedures and all(p.date.month == 6 for p in june.procedures)
    ids = {p.id for p in june.procedures}
    assert {c.procedure_id for c in june.complications} <= ids
    assert {f.procedure_id for f in june.follow_ups} <= ids
    assert len(june.procedures) == sum(
        dt.date(2024, 6, 1) <= p.date <= dt.date(2024, 6, 30) for p in simulated.procedures)


def test_the_port_answers_as_the_sqlite_file_store_does(
    db: Database, simulated: Registry, tmp_path: Path
) -> None:
    _add(db, simulated)
    file_store = SqliteRegistryRepository(tmp_path / "file.sqlite3")
    file_store.add(simulated)
    some = [p.id for p in simulated.procedures[::37]] + ["nope"]
    complications = [c.id for c in simulated.complications[::5]] + ["nope"]
    keys = [(f.procedure_id, f.timepoint) for f in simulated.follow_ups[::11]]
    keys.append(("NOWHERE", keys[0][1]))
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation="org-a")
        assert repo.procedures(some) == file_store.procedures(some)
        assert repo.existing_complications(complications) == (
            file_store.existing_complications(complications))
        assert repo.existing_follow_ups(keys) == file_store.existing_follow_ups(keys)
        first = simulated.complications[0]
        assert repo.complication(first.id) == file_store.complication(first.id) == first
        assert repo.complication("nope") is None
        assert repo.counts() == file_store.counts()


def test_a_batch_is_written_whole_or_not_at_all(db: Database, simulated: Registry) -> None:
    first = Registry(simulated.procedures[:10])
    _add(db, first)
    # A new batch whose last record repeats a stored one: none of it is kept.
    clash = Registry(simulated.procedures[10:20] + simulated.procedures[:1])
    with pytest.raises(DuplicateRecordError):
        _add(db, clash)
    # A follow-up of a procedure stored nowhere: refused before anything is written.
    orphan = replace(simulated.follow_ups[0], procedure_id="NOWHERE")
    with pytest.raises(UnknownProcedureError):
        _add(db, Registry(simulated.procedures[20:30], follow_ups=(orphan,)))
    assert _stored(db, "org-a").procedures == tuple(
        sorted(first.procedures, key=lambda p: (p.date, p.id)))


def test_a_failed_batch_leaves_the_rest_of_the_transaction_usable(
    db: Database, simulated: Registry
) -> None:
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation="org-a", recorder=CLERK)
        repo.add(Registry(simulated.procedures[:5]))
        with pytest.raises(DuplicateRecordError):
            repo.add(Registry(simulated.procedures[4:6]))
        repo.add(Registry(simulated.procedures[6:8]))
    assert len(_stored(db, "org-a").procedures) == 7


def test_records_are_scoped_by_organisation(db: Database, simulated: Registry) -> None:
    a = Registry(simulated.procedures[:3])
    _add(db, a, "org-a")
    # The other unit may use the same ids and operators: they are different procedures.
    b = Registry(tuple(replace(p, age=50) for p in simulated.procedures[:2]))
    _add(db, b, "org-b", replace(CLERK, organisation="org-b"))
    assert _same(_stored(db, "org-a"), a)
    assert _same(_stored(db, "org-b"), b)
    everyone = _stored(db, None)
    assert len(everyone.procedures) == 5
    qualified = {p.id for p in everyone.procedures}
    assert {f"org-b/{p.id}" for p in b.procedures} <= qualified
    assert all(p.operator.endswith(("(org-a)", "(org-b)")) for p in everyone.procedures)
    with registry_transaction(db) as session, pytest.raises(ValueError):
        SqlRegistryRepository(session, organisation=None, recorder=CLERK).add(a)


def test_who_recorded_each_record_is_kept(db: Database, simulated: Registry) -> None:
    procedure = simulated.procedures[0]
    _add(db, Registry((procedure,)))
    with registry_transaction(db) as session:
        stored = SqlRegistryRepository(session, organisation="org-a").get_procedure(procedure.id)
    assert stored is not None
    assert stored.recorded == CLERK
    assert stored.record == procedure


# --- Use cases on the service database ----------------------------------------------------------


def test_imports_are_all_or_nothing_unless_bad_rows_are_skipped(db: Database) -> None:
    bad = PROCEDURES.format(case="") + "P3,2026-03-16,OP-A,vertebroplasty,L9,bilateral,ct,L9=3,no,84,female,,,\n"
    result = registry_service.import_reading(db, NURSE, read_csv(bad, "p.csv"), now=NOW)
    assert result.bad_rows == 1 and result.loaded["procedures"] == 0
    assert [(d.line, d.field) for d in result.details] == [(4, "levels"), (4, "cement_ml")]
    assert _stored(db, "org-a").procedures == ()
    skipped = registry_service.import_reading(db, NURSE, read_csv(bad, "p.csv"), now=NOW,
                                              skip_bad=True)
    assert skipped.loaded["procedures"] == 2
    assert {p.id for p in _stored(db, "org-a").procedures} == {"P1", "P2"}
    again = registry_service.import_reading(db, NURSE, read_csv(bad, "p.csv"), now=NOW,
                                            skip_bad=True)
    assert again.loaded["procedures"] == 0
    assert sum(d.duplicate for d in again.details) == 2


def test_a_procedure_may_only_link_its_own_organisations_case(db: Database) -> None:
    theirs = _case(db, "org-b")
    ours = _case(db, "org-a")
    refused = registry_service.import_reading(
        db, NURSE, read_csv(PROCEDURES.format(case=theirs), "p.csv"), now=NOW)
    assert [(d.field, d.message) for d in refused.details] == [
        ("case_id", f"no prior-authorisation case {theirs!r} of this organisation")]
    made_up = registry_service.import_reading(
        db, NURSE, read_csv(PROCEDURES.format(case="no-such-case"), "p.csv"), now=NOW)
    assert [d.field for d in made_up.details] == ["case_id"]
    accepted = registry_service.import_reading(
        db, NURSE, read_csv(PROCEDURES.format(case=ours), "p.csv"), now=NOW)
    assert accepted.ok


def test_the_pathway_comes_from_the_linked_case(db: Database) -> None:
    case_id = _case(db, "org-a", decided_by="nice-osteoporotic")
    registry_service.import_reading(db, NURSE, read_csv(PROCEDURES.format(case=case_id),
                                                        "p.csv"), now=NOW)
    registry_service.import_reading(db, NURSE, read_csv(FOLLOW_UPS, "f.csv"), now=NOW)
    report = registry_service.audit_from_database(db, NURSE, generated_on=AS_OF, now=NOW)
    by_label = {p.label: p for p in report.pathways}
    # P1 names its case: the case's approving criterion, not what was typed in; P2 keeps the
    # typed-in pathway.
    assert set(by_label) == {"nice: nice-osteoporotic", "nice: typed-in"}
    assert by_label["nice: nice-osteoporotic"].pain_relief.events == 1
    assert by_label["nice: typed-in"].pain_relief.events == 0
    assert by_label["nice: typed-in"].pain_relief.n == 1
    detail = registry_service.procedure_detail(db, NURSE, "P1", now=NOW)
    assert detail.approval == linking.Approval("nice", "nice-osteoporotic")
    assert detail.stored.record.pathway == "typed-in"  # the record itself is unchanged


def test_the_database_report_equals_the_file_report_on_the_same_records(
    db: Database, simulated: Registry, tmp_path: Path
) -> None:
    registry_service.store_registry(db, NURSE, simulated, now=NOW, organisation="org-a")
    file_store = SqliteRegistryRepository(tmp_path / "file.sqlite3")
    file_store.add(simulated)
    start, end = dt.date(2024, 3, 1), dt.date(2025, 3, 31)
    from_db = registry_service.audit_from_database(db, NURSE, generated_on=AS_OF, now=NOW,
                                                   period_from=start, period_to=end)
    from_file = registry_service.audit(file_store, generated_on=AS_OF, period_from=start,
                                       period_to=end)
    assert from_db == from_file
    assert from_db.procedures > 200


def test_every_write_and_read_is_audited_without_values(db: Database) -> None:
    registry_service.import_reading(db, NURSE, read_csv(PROCEDURES.format(case=""), "p.csv"),
                                    now=NOW)
    with pytest.raises(BadRecords):
        registry_service.record_follow_up(db, NURSE, "P1", {"timepoint": "baseline",
                                                            "date": "2026-03-01", "pain": 14},
                                          now=NOW)
    with pytest.raises(registry_service.RegistryNotFound):
        registry_service.procedure_detail(db, OTHER, "P1", now=NOW)
    registry_service.list_procedures(db, AUDITOR, now=NOW)
    with db.transaction() as repo:
        trail = repo.audit_trail(limit=1000)
    seen = [(r.operation, r.outcome, r.agent_id,
             [e["what"]["identifier"]["value"] for e in r.resource.get("entity", [])])
            for r in trail]
    assert seen == [
        ("registry-import", "0", "nurse-1", ["org-a/P1", "org-a/P2"]),  # one event, each named
        ("registry-follow-up-create", "4", "nurse-1", ["org-a/P1/baseline"]),
        ("registry-procedure-read", "4", "ehr-b", ["org-b/P1"]),
        ("registry-procedure-list", "0", "aud-1", ["org-a/P2"]),
        ("registry-procedure-list", "0", "aud-1", ["org-a/P1"]),
    ]
    refused = trail[1].resource
    assert refused["outcomeDesc"] == "refused: pain" and "14" not in json.dumps(refused)


def test_requesters_see_only_their_own_unit(db: Database) -> None:
    registry_service.import_reading(db, NURSE, read_csv(PROCEDURES.format(case=""), "p.csv"),
                                    now=NOW)
    assert registry_service.list_procedures(db, OTHER, now=NOW) == []
    with pytest.raises(registry_service.RegistryForbidden):
        registry_service.list_procedures(db, OTHER, now=NOW, organisation="org-a")
    assert len(registry_service.list_procedures(db, AUDITOR, now=NOW)) == 2
    assert registry_service.audit_from_database(db, OTHER, generated_on=AS_OF,
                                                now=NOW).procedures == 0


# --- The pathway rules (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(("state", "outcome", "decided_by", "procedure", "expected"), [
    ("approved-automatically", "meets-criteria", "c-osteo", Procedure.VERTEBROPLASTY, "c-osteo"),
    ("approved-automatically", "meets-criteria", "otherwise", Procedure.VERTEBROPLASTY,
     "otherwise"),
    ("approved-by-reviewer", "meets-criteria", "c-osteo", Procedure.VERTEBROPLASTY, "c-osteo"),
    ("approved-by-reviewer", "insufficient-information", None, Procedure.VERTEBROPLASTY,
     "approved-by-reviewer"),
    ("denied-by-reviewer", "does-not-meet-criteria", "c-x", Procedure.VERTEBROPLASTY,
     "denied-by-reviewer"),
    ("pended-for-information", "insufficient-information", None, Procedure.VERTEBROPLASTY,
     "pended-for-information"),
    ("approved-automatically", "meets-criteria", "c-osteo", Procedure.KYPHOPLASTY,
     "not-assessed"),
])
def test_the_pathway_a_case_gives(state: str, outcome: str, decided_by: str | None,
                                  procedure: Procedure, expected: str) -> None:
    case = LinkedCase("c1", "org-a", state, "nice",
                      (CaseDetermination("vertebroplasty", outcome, decided_by),))
    assert linking.approval(case, procedure) == linking.Approval("nice", expected)


def test_link_pathways_keeps_unlinked_procedures(simulated: Registry) -> None:
    linked_one = replace(simulated.procedures[0], case_id="c1",
                         procedure=Procedure.VERTEBROPLASTY)
    registry = Registry((linked_one, *simulated.procedures[1:5]))
    case = LinkedCase("c1", "org-a", "approved-automatically", "carefirst",
                      (CaseDetermination("vertebroplasty", "meets-criteria", "cf-1"),))
    out = linking.link_pathways(registry, {"c1": case})
    assert (out.procedures[0].policy, out.procedures[0].pathway) == ("carefirst", "cf-1")
    assert out.procedures[1:] == registry.procedures[1:]


def test_case_reports_of_another_shape_give_no_determinations() -> None:
    assert linking.case_determinations(None) == ()
    assert linking.case_determinations({"determinations": "x"}) == ()
    assert linking.case_determinations({"determinations": [{"procedure": 1}, "x"]}) == ()
    assert linking.policy_of({"policy": {"id": "nice"}}) == "nice"


# --- The CLI on the service database -----------------------------------------------------------


def test_the_cli_imports_into_the_service_database_and_reports_from_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    env = {"VERTEBRO_DATABASE_URL": url}
    procedures = tmp_path / "p.csv"
    procedures.write_text(PROCEDURES.format(case=""), encoding="utf-8")
    follow_ups = tmp_path / "f.csv"
    follow_ups.write_text(FOLLOW_UPS, encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(main, ["registry", "import", str(procedures)], env=env)
    assert refused.exit_code == 2 and "--organisation ORG is required" in refused.stderr
    done = runner.invoke(main, ["registry", "import", str(procedures), str(follow_ups),
                                "--organisation", "org-a"], env=env)
    assert done.exit_code == 0, done.output
    assert "loaded 2 procedures, 0 complications, 0 follow-ups" in done.stdout
    assert "loaded 0 procedures, 0 complications, 4 follow-ups" in done.stdout
    report = runner.invoke(main, ["audit", "report", "--format", "json", "--organisation",
                                  "org-a"], env=env)
    assert report.exit_code == 0, report.output
    figures = json.loads(report.stdout)
    relief = next(r for r in figures["rates"] if r["metric"] == "pain-relief")["proportion"]
    assert (figures["procedures"], relief["events"], relief["n"]) == (2, 1, 2)
    # The same data the API records: the service database holds it, with the CLI as recorder.
    database = make_database(url)
    try:
        with registry_transaction(database) as session:
            stored = SqlRegistryRepository(session, organisation="org-a").get_procedure("P1")
        assert stored is not None and stored.recorded.id.startswith("cli:")
    finally:
        database.dispose()
    unmigrated = runner.invoke(main, ["audit", "report", "--database-url",
                                      "postgresql+psycopg://nobody@127.0.0.1:1/none"])
    assert unmigrated.exit_code == 2
    assert unmigrated.stderr.startswith("vertebro: cannot open the service database")


def test_a_large_batch_is_audited_in_events_naming_every_record(
    db: Database, simulated: Registry
) -> None:
    registry_service.store_registry(db, NURSE, simulated, now=NOW, organisation="org-a")
    with db.transaction() as repo:
        trail = repo.audit_trail(limit=10_000)
    named = [e["what"]["identifier"]["value"] for r in trail for e in r.resource["entity"]]
    expected = len(simulated.procedures) + len(simulated.complications) + len(
        simulated.follow_ups)
    assert len(named) == len(set(named)) == expected
    assert len(trail) == -(-expected // registry_service.AUDIT_BATCH)
    assert {f"org-a/{p.id}" for p in simulated.procedures} <= set(named)

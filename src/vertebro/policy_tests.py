"""Run the test cases that ship beside each policy (`policies/<id>/<version>/tests/*.yaml`).

A case gives facts and requests like a case file, plus `as_of` and `expect`:

    cases:
      - name: pathway-1-met
        note: Osteoporotic compression fracture, 8 weeks of failed conservative treatment.
        as_of: 2026-10-01
        requests: [{procedure: vertebroplasty, levels: L1}]
        facts: {fracture.aetiology: osteoporotic, ...}
        expect:
          vertebroplasty:
            outcome: meets-criteria
            criteria: {cf-p1-six-weeks: met}
            missing: [conservative_treatment.failed]   # the exact set, when given

Names starting `todo_` are skipped. Like `opa test`, a run with no case is a failure.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vertebro.adapters import yaml_lines
from vertebro.adapters.case_files import parse_case
from vertebro.adapters.errors import InputError
from vertebro.adapters.policy_files import PolicyVersion
from vertebro.core.criteria import Predicate
from vertebro.core.evaluator import ALWAYS_KNOWN, Determination, assess
from vertebro.core.policy import Outcome

_CASE_KEYS = {"name", "note", "as_of", "requests", "facts", "expect"}
_EXPECT_KEYS = {"outcome", "criteria", "missing"}
STATUSES = ("met", "not-met", "unknown")


class Verdict(StrEnum):
    """The result of one policy test case."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What happened to one case."""

    policy: str
    file: str
    name: str
    verdict: Verdict
    problems: tuple[str, ...] = ()


@dataclass
class PolicyTestRun:
    """Every case result for one policy version and the node statuses its passing cases showed."""

    policy: str
    results: list[CaseResult] = field(default_factory=list)
    covered: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    node_ids: list[str] = field(default_factory=list)
    # Tests of facts every request supplies (the procedure itself) can never be unknown.
    never_unknown: set[str] = field(default_factory=set)

    def coverage_gaps(self) -> dict[str, list[str]]:
        """Node id -> the statuses no passing case asserted for it (impossible ones excepted)."""
        gaps = {}
        for node_id in self.node_ids:
            impossible = {"unknown"} if node_id in self.never_unknown else set()
            possible = [s for s in STATUSES if s not in impossible]
            missing = [s for s in possible if s not in self.covered.get(node_id, set())]
            if missing:
                gaps[node_id] = missing
        return gaps

    @property
    def ok(self) -> bool:
        """True when at least one case ran and none failed or errored."""
        ran = [r for r in self.results if r.verdict is not Verdict.SKIP]
        return bool(ran) and all(r.verdict is Verdict.PASS for r in ran)


def run_policy_tests(version: PolicyVersion) -> PolicyTestRun:
    """Run every test case shipped with a policy version."""
    policy = version.policy
    label = f"{policy.id} {policy.version}"
    run = PolicyTestRun(
        label,
        node_ids=[node.id for node in policy.nodes()],
        never_unknown={
            node.id
            for node in policy.nodes()
            if isinstance(node, Predicate) and node.fact in ALWAYS_KNOWN
        },
    )
    tests_dir = version.folder / "tests"
    files = (
        sorted(
            (f for f in tests_dir.iterdir() if f.name.endswith((".yaml", ".yml"))),
            key=lambda f: f.name,
        )
        if tests_dir.is_dir()
        else []
    )
    for test_file in files:
        display = f"{version.display.rsplit('/', 1)[0]}/tests/{test_file.name}"
        try:
            document = yaml_lines.load(test_file.read_text(encoding="utf-8"))
        except yaml_lines.YamlError as exc:
            run.results.append(
                CaseResult(
                    label, display, "(file)", Verdict.ERROR, (f"line {exc.line}: {exc.message}",)
                )
            )
            continue
        cases = document.get("cases") if isinstance(document, dict) else None
        if not isinstance(cases, list):
            run.results.append(
                CaseResult(label, display, "(file)", Verdict.ERROR, ("expected a 'cases:' list",))
            )
            continue
        for index, case_doc in enumerate(cases):
            run.results.append(_run_case(version, display, index, case_doc, run))
    return run


def _run_case(
    version: PolicyVersion, display: str, index: int, doc: Any, run: PolicyTestRun
) -> CaseResult:
    label = run.policy
    name = (
        str(doc.get("name", f"case {index + 1}")) if isinstance(doc, dict) else f"case {index + 1}"
    )
    if name.startswith("todo_"):
        return CaseResult(label, display, name, Verdict.SKIP)
    try:
        if not isinstance(doc, dict):
            raise InputError(display, "a case is a mapping", getattr(doc, "line", None))
        case = parse_case(doc, display, default_id=name, allowed=_CASE_KEYS)
        as_of = doc.get("as_of")
        if not isinstance(as_of, dt.date):
            raise InputError(
                display, f"case {name!r} needs as_of: YYYY-MM-DD", getattr(doc, "line", None)
            )
        expect = doc.get("expect")
        if not isinstance(expect, dict) or not expect:
            raise InputError(
                display, f"case {name!r} needs 'expect' by procedure", getattr(doc, "line", None)
            )
        assessment = assess(version.policy, case.facts, case.requests, as_of=as_of)
    except InputError as exc:
        return CaseResult(label, display, name, Verdict.ERROR, (str(exc),))
    by_procedure = {d.procedure.value: d for d in assessment.determinations}
    problems: list[str] = []
    observed: list[tuple[str, str]] = []
    for procedure, want in expect.items():
        det = by_procedure.get(procedure)
        if det is None or not isinstance(want, dict):
            problems.append(
                f"{procedure}: no such request in the case, or expectation not a mapping"
            )
            continue
        problems.extend(_compare(procedure, det, want, observed))
    if problems:
        return CaseResult(label, display, name, Verdict.FAIL, tuple(problems))
    for node_id, status in observed:
        run.covered[node_id].add(status)
    return CaseResult(label, display, name, Verdict.PASS)


def _compare(
    procedure: str, det: Determination, want: dict[str, Any], observed: list[tuple[str, str]]
) -> list[str]:
    problems = []
    unknown_keys = set(want) - _EXPECT_KEYS
    if unknown_keys:
        problems.append(f"{procedure}: unknown expectation keys {sorted(unknown_keys)}")
    statuses = {r.node.id: r.status.value for r in det.criteria}
    for req in det.requirements:
        statuses.update((r.node.id, r.status.value) for r in req.criteria)
    if "outcome" in want:
        try:
            outcome = Outcome(want["outcome"])
        except ValueError:
            problems.append(f"{procedure}: {want['outcome']!r} is not an outcome")
        else:
            if det.outcome is not outcome:
                problems.append(
                    f"{procedure}: outcome {det.outcome.value}, expected {outcome.value}"
                )
    for node_id, status in (want.get("criteria") or {}).items():
        if status not in STATUSES:
            problems.append(f"{procedure}: {node_id}: {status!r} is not met / not-met / unknown")
        elif node_id not in statuses:
            problems.append(
                f"{procedure}: criterion {node_id!r} is not evaluated for this procedure"
            )
        elif statuses[node_id] != status:
            problems.append(f"{procedure}: {node_id} is {statuses[node_id]}, expected {status}")
        else:
            observed.append((node_id, status))
    if "missing" in want:
        got = sorted(m.fact for m in det.missing)
        expected = sorted(want["missing"] or [])
        if got != expected:
            problems.append(f"{procedure}: missing facts {got}, expected {expected}")
    return problems


"""Use cases: read inputs, pick the policy in effect, assess, and build reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vertebro.adapters import policy_files
from vertebro.adapters.case_files import load_case_file
from vertebro.adapters.errors import InputError
from vertebro.core.case import Case
from vertebro.core.evaluator import assess
from vertebro.report import AssessmentReport, build_report

CASE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class AssessedInput:
    """One input's report, or the one-line error that stopped it."""

    input: str
    report: AssessmentReport | None = None
    error: InputError | None = None


def expand_inputs(paths: list[Path]) -> Iterator[Path | InputError]:
    """Files as given; folders as their readable files, sorted; missing paths as errors."""
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CASE_SUFFIXES
            )
            if not found:
                yield InputError(str(path), "folder holds no case files (.yaml, .yml, .json)")
            yield from found
        elif path.exists():
            yield path
        else:
            yield InputError(str(path), "no such file or folder")


def read_case(path: Path) -> Case:
    """Read any supported input into a case.

    Dispatch: .yaml/.yml and vertebro-format .json are case files; .json holding a FHIR
    resource (`resourceType`) is a FHIR Bundle (adapters.fhir); .txt is a clinical note
    (adapters.nlp). FHIR and note support are added by their adapters.
    """
    return load_case_file(path)


def assess_case(
    case: Case, policy_name: str, *, as_of: dt.date | None, today: dt.date
) -> AssessmentReport:
    """Assess a case under the named policy (or policy file) as of a date.

    The as-of date is the one given, else the case's request date, else today.
    """
    day = as_of or case.request_date or today
    policy = policy_files.resolve(policy_name, day)
    assessment = assess(policy, case.facts, case.requests, as_of=day)
    return build_report(assessment, policy, case, case.source)


def assess_inputs(
    paths: list[Path], policy_name: str, *, as_of: dt.date | None, today: dt.date
) -> Iterator[AssessedInput]:
    """Assess every input; a bad input yields its error and the others still go ahead."""
    for item in expand_inputs(paths):
        if isinstance(item, InputError):
            yield AssessedInput(item.source, error=item)
            continue
        try:
            report = assess_case(read_case(item), policy_name, as_of=as_of, today=today)
        except InputError as exc:
            yield AssessedInput(str(item), error=exc)
        else:
            yield AssessedInput(str(item), report=report)

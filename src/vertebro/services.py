"""Use cases: read inputs, pick the policy in effect, assess, and build reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vertebro.adapters import fhir, policy_files
from vertebro.adapters.case_files import load_case_file
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.notes import nlp_function, note_reader
from vertebro.core.case import Case
from vertebro.core.evaluator import ProcedureRequest, assess
from vertebro.core.facts import FactSet
from vertebro.core.policy import Policy
from vertebro.report import AssessmentReport, build_report

CASE_SUFFIXES = (".yaml", ".yml", ".json")
NOTE_SUFFIXES = (".txt",)
INPUT_SUFFIXES = CASE_SUFFIXES + NOTE_SUFFIXES
_CASE_KEYS = {"id", "request_date", "requests", "facts"}


@dataclass(frozen=True, slots=True)
class AssessedInput:
    """One input's report, or the one-line error that stopped it."""

    input: str
    report: AssessmentReport | None = None
    error: InputError | None = None
    warnings: tuple[str, ...] = ()  # what the reader skipped or doubted (FHIR input)


@dataclass(frozen=True, slots=True)
class ReadInput:
    """A case read from one input, with the reader's warnings."""

    case: Case
    warnings: tuple[str, ...] = ()


def expand_inputs(paths: list[Path]) -> Iterator[Path | InputError]:
    """Files as given; folders as their readable files, sorted; missing paths as errors."""
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES
            )
            if not found:
                yield InputError(
                    str(path), "folder holds no inputs (.yaml, .yml, .json case files or FHIR, "
                    ".txt notes)"
                )
            yield from found
        elif path.exists():
            yield path
        else:
            yield InputError(str(path), "no such file or folder")


def read_case(path: Path, *, as_of: dt.date | None = None) -> Case:
    """Read any supported input into a case (see `read_input`)."""
    return read_input(path, as_of=as_of).case


def read_input(path: Path, *, as_of: dt.date | None = None) -> ReadInput:
    """Read any supported input into a case, with the reader's warnings.

    Dispatch: .yaml/.yml are case files; .json holding a FHIR resource (`resourceType`) is
    FHIR R4 (adapters.fhir), .json with `requests`/`facts` is a case file; .txt is a clinical
    note (adapters.nlp). `as_of` dates FHIR admissions, treatments and pain scores when the
    input has no request date.

    Raises:
        InputError: the input cannot be read, or holds nothing to assess.
    """
    suffix = path.suffix.lower()
    if suffix in NOTE_SUFFIXES:
        return _read_note(path)
    if suffix != ".json":
        return ReadInput(load_case_file(path))
    name = str(path)
    try:
        size = path.stat().st_size
        if size > fhir.MAX_FHIR_BYTES:
            raise InputError(name, f"file is {size:,} bytes; the limit is "
                                   f"{fhir.MAX_FHIR_BYTES:,} bytes (20 MB)")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(name, exc.strerror or "cannot be read") from None
    data = fhir.parse_json(raw, name)
    if isinstance(data, dict) and "resourceType" in data:
        reading = fhir.read_fhir(data, name, default_id=path.stem, as_of=as_of)
        if not reading.case.requests:
            raise InputError(name, reading.nothing_to_assess())
        return ReadInput(reading.case, reading.warnings)
    if isinstance(data, dict) and ("requests" in data or "facts" in data):
        return ReadInput(load_case_file(path))
    hint = ""
    if isinstance(data, dict) and "hook" in data and "context" in data:
        hint = "; it is a CDS Hooks request"
    raise InputError(name, "neither FHIR (no 'resourceType') nor a vertebro case "
                           f"(no 'requests' or 'facts'){hint}")


def _read_note(path: Path) -> ReadInput:
    """A case from a free-text note, through the note reader (adapters.nlp)."""
    name = str(path)
    read_note_file = nlp_function("read_note_file")
    if read_note_file is not None:  # the note reader's own file reader (it reads "Date:" lines)
        case = read_note_file(path)
        if not isinstance(case, Case):
            raise InputError(name, "the note reader returned no case")
        return ReadInput(case)
    reader = note_reader()
    if reader is None:
        raise InputError(name, "free-text notes need the note reader (vertebro.adapters.nlp), "
                               "which is not available")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(name, "not UTF-8 text") from None
    except OSError as exc:
        raise InputError(name, exc.strerror or "cannot be read") from None
    try:
        reading = reader(text, source=name, note_date=None)
    except ValueError as exc:  # InputError is a ValueError
        raise InputError(name, str(exc).removeprefix(f"{name}: ")) from None
    facts = getattr(reading, "facts", None)
    requests = tuple(
        r for r in getattr(reading, "requests", ()) if isinstance(r, ProcedureRequest)
    )
    if not isinstance(facts, FactSet):
        raise InputError(name, "the note reader returned no facts")
    if not requests:
        raise InputError(name, "the note names no vertebroplasty, kyphoplasty or sacroplasty "
                               "request to assess")
    return ReadInput(Case(path.stem, name, requests, facts, None))


def assess_case(
    case: Case, policy_name: str, *, as_of: dt.date | None, today: dt.date,
    version: str | None = None,
) -> AssessmentReport:
    """Assess a case under the named policy (or policy file) as of a date.

    The as-of date is the one given, else the case's request date, else today. `version` picks
    one shipped version instead of the one in effect on that date (it must be in effect too).

    Raises:
        InputError: no version in effect, or the named version unknown or not in effect.
    """
    day = as_of or case.request_date or today
    policy = (policy_files.resolve(policy_name, day) if version is None
              else policy_version(policy_name, version, day))
    assessment = assess(policy, case.facts, case.requests, as_of=day)
    return build_report(assessment, policy, case, case.source)


def policy_version(policy_id: str, version: str, day: dt.date) -> Policy:
    """One shipped version of a policy, which must be in effect on `day`.

    Raises:
        InputError: unknown policy or version, or the version is not in effect on the day.
    """
    versions = policy_files.versions_of(policy_id)
    chosen = next((v.policy for v in versions if v.policy.version == version), None)
    if chosen is None:
        known = ", ".join(v.policy.version for v in versions)
        raise InputError("--policy", f"policy {policy_id!r} has no version {version!r} "
                                     f"(versions: {known})")
    if not chosen.in_effect_on(day):
        until = f" to {chosen.effective_to}" if chosen.effective_to else ""
        raise InputError("--policy", f"{policy_id} {version} is in effect from "
                                     f"{chosen.effective_from}{until}, not on {day}")
    return chosen


def assess_inputs(
    paths: list[Path], policy_name: str, *, as_of: dt.date | None, today: dt.date
) -> Iterator[AssessedInput]:
    """Assess every input; a bad input yields its error and the others still go ahead."""
    for item in expand_inputs(paths):
        if isinstance(item, InputError):
            yield AssessedInput(item.source, error=item)
            continue
        try:
            read = read_input(item, as_of=as_of or today)
            report = assess_case(read.case, policy_name, as_of=as_of, today=today)
        except InputError as exc:
            yield AssessedInput(str(item), error=exc)
        else:
            yield AssessedInput(str(item), report=report, warnings=read.warnings)

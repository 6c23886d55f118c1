"""Reading FHIR R4 JSON (Procedure, Observation, AdverseEvent) into raw registry rows."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from vertebro.adapters import yaml_lines
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.bundle import json_shape_problem
from vertebro.adapters.fhir.codes import PAIN_SCORE_LOINC, PROCEDURE_CODES, System
from vertebro.adapters.fhir.codes import procedure_by_words as _procedure_by_words
from vertebro.adapters.registry_import.fhir_values import (
    as_day,
    as_dict,
    as_list,
    as_text,
    codes_of,
    own_extensions,
    ref_id,
    value_x,
    words_of,
)
from vertebro.adapters.registry_import.raw_rows import EXT, LINES_UP_TO_BYTES, RawRow, Reading
from vertebro.core.registry.model import ComplicationKind, EventOutcome

_OUTCOMES = {
    "resolved": EventOutcome.RECOVERED,
    "recovering": EventOutcome.RECOVERING,
    "ongoing": EventOutcome.NOT_RECOVERED,
    "resolvedwithsequelae": EventOutcome.RECOVERED_WITH_HARM,
    "fatal": EventOutcome.FATAL,
    "unknown": EventOutcome.UNKNOWN,
}
_MEASURES = {
    "pain": "pain",
    "analgesics": "analgesics",
    "mobility": "mobility",
    "roland-morris": "roland_morris",
}
_PROCEDURE_SKIP = {
    "entered-in-error",
    "not-done",
    "stopped",
    "preparation",
    "in-progress",
    "on-hold",
    "unknown",
}
_OBSERVATION_OK = {"final", "amended", "corrected"}


@dataclass(slots=True)
class _Entry:
    resource: dict[str, Any]
    line: int | None
    label: str


def _entries(data: Any, source: str) -> list[_Entry]:
    if not isinstance(data, dict) or "resourceType" not in data:
        line = getattr(data, "line", None)
        raise InputError(source, "not a FHIR resource (no resourceType)", line)
    if data.get("resourceType") != "Bundle":
        return [_Entry(data, getattr(data, "line", None), _label(data))]
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InputError(source, "the Bundle has no entries", getattr(data, "line", None))
    out = []
    for index, entry in enumerate(entries):
        resource = as_dict(as_dict(entry).get("resource"))
        if resource:
            line = getattr(resource, "line", None)
            out.append(_Entry(resource, line, _label(resource, index)))
    return out


def _label(resource: dict[str, Any], index: int | None = None) -> str:
    kind = resource.get("resourceType", "?")
    rid = resource.get("id")
    if rid:
        return f"{kind}/{rid}"
    return f"{kind} (entry {index + 1})" if index is not None else str(kind)


def read_fhir(text: str, source: str) -> Reading:
    """Read registry records from a FHIR R4 Bundle or lone resource (see the module notes).

    Raises:
        InputError: not JSON or not FHIR, or a Bundle without entries.
    """
    try:
        data = yaml_lines.load(text) if len(text) <= LINES_UP_TO_BYTES else json.loads(text)
    except yaml_lines.YamlError as exc:
        raise InputError(source, f"not valid JSON: {exc.message}", exc.line) from None
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise InputError(source, "JSON nested too deeply") from None
    problem = json_shape_problem(data, escapes="\\u" in text)
    if problem:
        raise InputError(source, problem)
    entries = _entries(data, source)
    by_ref = {
        f"{e.resource.get('resourceType')}/{e.resource.get('id')}": e.resource for e in entries
    }
    rows: list[RawRow] = []
    notes: list[str] = []
    observations: dict[tuple[str, str], list[_Entry]] = {}
    for entry in entries:
        kind = entry.resource.get("resourceType")
        where = f"{source}:{entry.line}" if entry.line else source
        if kind == "Procedure":
            status = as_text(entry.resource.get("status"))
            if status in _PROCEDURE_SKIP:
                notes.append(f"{where}: {entry.label} skipped: status {status}")
                continue
            rows.append(_procedure_row(entry, by_ref))
        elif kind == "AdverseEvent":
            if as_text(entry.resource.get("actuality")) == "potential":
                notes.append(f"{where}: {entry.label} skipped: a potential event, not actual")
                continue
            rows.append(_adverse_event_row(entry))
        elif kind == "Observation":
            status = as_text(entry.resource.get("status"))
            if status not in _OBSERVATION_OK:
                notes.append(f"{where}: {entry.label} skipped: status {status}")
                continue
            parent = next(
                (
                    pid
                    for ref in as_list(entry.resource.get("partOf"))
                    if (pid := ref_id(ref, "Procedure"))
                ),
                "",
            )
            timepoint = own_extensions(entry.resource).get("timepoint") or ""
            observations.setdefault((parent, str(timepoint)), []).append(entry)
        elif kind not in ("Patient", "Device"):
            notes.append(f"{where}: {entry.label} skipped: a {kind} is not a registry record")
    rows += [_follow_up_row(group) for group in observations.values()]
    rows.sort(key=lambda r: ("procedure", "complication", "follow-up").index(r.kind))
    return Reading(source, rows, notes)


def _procedure_row(entry: _Entry, by_ref: dict[str, dict[str, Any]]) -> RawRow:
    r = entry.resource
    ext = own_extensions(r)
    problems: list[tuple[str, str]] = []
    data: dict[str, Any] = {"id": r.get("id")}
    data["date"] = as_day(r.get("performedDateTime")) or as_day(
        as_dict(r.get("performedPeriod")).get("start")
    )
    performers = as_list(r.get("performer"))
    if performers:
        actor = as_dict(performers[0].get("actor"))
        data["operator"] = (
            as_text(actor.get("display"))
            or as_text(actor.get("reference"))
            or as_text(as_dict(actor.get("identifier")).get("value"))
        )
    procedure = None
    for system, code in codes_of(r.get("code")):
        known = PROCEDURE_CODES.get((system, code)) if isinstance(system, System) else None
        if known is not None:
            procedure = known.procedure.value
            break
    procedure = procedure or (
        p.value if (p := _procedure_by_words(words_of(r.get("code")))) else None
    )
    if procedure is None and r.get("code") is not None:
        problems.append(
            (
                "procedure",
                f"the code {words_of(r.get('code'))!r} names no procedure vertebro records",
            )
        )
    data["procedure"] = procedure
    sites = [words_of(site) for site in as_list(r.get("bodySite"))]
    data["levels"] = ", ".join(s for s in sites if s) or None
    for name in (
        "approach",
        "image-guidance",
        "biopsy",
        "assessment",
        "decision",
        "policy",
        "pathway",
        "case",
    ):
        if name in ext:
            key = {
                "image-guidance": "image_guidance",
                "assessment": "assessment_id",
                "decision": "decision_id",
                "case": "case_id",
            }.get(name, name)
            data[key] = ext[name]
    cement: dict[str, Any] = {}
    for volume_ext in ext.get("_cement", []):
        parts = {
            (as_text(e.get("url")) or ""): value_x(e) for e in as_list(volume_ext.get("extension"))
        }
        if parts.get("level") is not None:
            cement[str(parts["level"])] = parts.get("volume")
    data["cement_ml"] = cement or None
    patient_id = ref_id(r.get("subject"), "Patient")
    if patient_id:
        data["patient"] = patient_id
        patient = by_ref.get(f"Patient/{patient_id}", {})
        if as_text(patient.get("gender")):
            data["sex"] = patient["gender"]
        born = as_day(patient.get("birthDate"))
        if born and data["date"]:
            try:
                birth, day = dt.date.fromisoformat(born), dt.date.fromisoformat(data["date"])
                before_birthday = (day.month, day.day) < (birth.month, birth.day)
                data["age"] = day.year - birth.year - before_birthday
            except ValueError:
                problems.append(("age", f"Patient/{patient_id} birthDate {born!r} is not a date"))
    for focal in as_list(r.get("focalDevice")):
        device_id = ref_id(focal.get("manipulated"), "Device")
        device = by_ref.get(f"Device/{device_id}", {}) if device_id else {}
        if device:
            names = as_list(device.get("deviceName"))
            data["cement_product"] = as_text(names[0].get("name")) if names else None
            data["cement_manufacturer"] = as_text(device.get("manufacturer"))
            data["cement_lot"] = as_text(device.get("lotNumber"))
            data["cement_expiry"] = as_day(device.get("expirationDate"))
            break
    clean = {k: v for k, v in data.items() if v is not None}
    return RawRow("procedure", entry.line, entry.label, clean, tuple(problems))


def _adverse_event_row(entry: _Entry) -> RawRow:
    r = entry.resource
    ext = own_extensions(r)
    data: dict[str, Any] = {"id": r.get("id"), "date": as_day(r.get("date"))}
    problems: list[tuple[str, str]] = []
    device = False
    for suspect in as_list(r.get("suspectEntity")):
        instance = suspect.get("instance")
        data.setdefault("procedure_id", ref_id(instance, "Procedure"))
        if not data["procedure_id"]:
            del data["procedure_id"]
        device = device or ref_id(instance, "Device") is not None
    kinds = {k.value for k in ComplicationKind}
    coded = [code for system, code in codes_of(r.get("event")) if system == EXT and code in kinds]
    kind = coded[0] if coded else None
    if kind is None:
        words = words_of(r.get("event")).strip().lower().replace(" ", "-")
        kind = words or None
    data["kind"] = kind
    outcome_codes = [code for _, code in codes_of(r.get("outcome"))]
    if outcome_codes:
        mapped = _OUTCOMES.get(outcome_codes[0].lower())
        if mapped is None:
            problems.append(("outcome", f"{outcome_codes[0]!r} is not an R4 adverse event outcome"))
        else:
            data["outcome"] = mapped.value
    for name in (
        "symptomatic",
        "leak-site",
        "fracture-site",
        "level",
        "cause",
        "further-intervention",
        "device-related",
        "description",
    ):
        if name in ext:
            data[name.replace("-", "_")] = ext[name]
    if device and "device_related" not in data:
        data["device_related"] = True
    clean = {k: v for k, v in data.items() if v is not None}
    return RawRow("complication", entry.line, entry.label, clean, tuple(problems))


def _measures(node: dict[str, Any]) -> list[tuple[str, Any]]:
    out = []
    for system, code in codes_of(node.get("code")):
        if system == EXT and code in _MEASURES:
            out.append((_MEASURES[code], value_x(node)))
            break
        if system is System.LOINC and code == PAIN_SCORE_LOINC:
            out.append(("pain", value_x(node)))
            break
    return out


def _follow_up_row(group: list[_Entry]) -> RawRow:
    first = group[0]
    r = first.resource
    data: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    parent = next(
        (pid for ref in as_list(r.get("partOf")) if (pid := ref_id(ref, "Procedure"))), None
    )
    if parent:
        data["procedure_id"] = parent
    timepoint = own_extensions(r).get("timepoint")
    if timepoint:
        data["timepoint"] = timepoint
    dates = {d for e in group if (d := as_day(e.resource.get("effectiveDateTime")))}
    if len(dates) > 1:
        problems.append(("date", f"the observations of one timepoint differ: {sorted(dates)}"))
    if dates:
        data["date"] = min(dates)
    for entry in group:
        measures = _measures(entry.resource)
        for component in as_list(entry.resource.get("component")):
            measures += _measures(component)
        if not measures:
            problems.append(("code", f"{entry.label} is not a measure the registry records"))
        for name, value in measures:
            if name in data and data[name] != value:
                problems.append((name, f"given twice: {data[name]!r} and {value!r}"))
            data[name] = value
    labels = ", ".join(e.label for e in group[:3]) + (" …" if len(group) > 3 else "")
    return RawRow("follow-up", first.line, labels, data, tuple(problems))

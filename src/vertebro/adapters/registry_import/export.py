"""Writing a registry back out as CSV texts and as a FHIR R4 collection Bundle."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from vertebro.adapters.registry_import.raw_rows import (
    COMPLICATION_COLUMNS,
    EXT,
    FOLLOW_UP_COLUMNS,
    PROCEDURE_COLUMNS,
)
from vertebro.core.registry.model import (
    Complication,
    EventOutcome,
    FollowUp,
    ProcedureRecord,
    Registry,
)

_OUTCOME_CODES = {
    EventOutcome.RECOVERED: "resolved",
    EventOutcome.RECOVERING: "recovering",
    EventOutcome.NOT_RECOVERED: "ongoing",
    EventOutcome.RECOVERED_WITH_HARM: "resolvedWithSequelae",
    EventOutcome.FATAL: "fatal",
    EventOutcome.UNKNOWN: "unknown",
}


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _procedure_fields(p: ProcedureRecord) -> dict[str, Any]:
    return {
        "id": p.id,
        "date": p.date.isoformat(),
        "operator": p.operator,
        "procedure": p.procedure.value,
        "levels": ", ".join(str(lv) for lv in p.levels),
        "approach": p.approach.value,
        "image_guidance": p.image_guidance.value,
        "cement_ml": "; ".join(f"{lv}={ml:g}" for lv, ml in p.cement_ml),
        "biopsy": p.biopsy,
        "patient": p.patient,
        "age": p.age,
        "sex": p.sex.value if p.sex else None,
        "cement_product": p.cement.product,
        "cement_manufacturer": p.cement.manufacturer,
        "cement_lot": p.cement.lot,
        "cement_expiry": p.cement.expiry.isoformat() if p.cement.expiry else None,
        "assessment_id": p.assessment_id,
        "decision_id": p.decision_id,
        "policy": p.policy,
        "pathway": p.pathway,
        "case_id": p.case_id,
    }


def _complication_fields(c: Complication) -> dict[str, Any]:
    return {
        "id": c.id,
        "procedure_id": c.procedure_id,
        "kind": c.kind.value,
        "date": c.date.isoformat(),
        "symptomatic": c.symptomatic,
        "leak_site": c.leak_site.value if c.leak_site else None,
        "fracture_site": c.fracture_site.value if c.fracture_site else None,
        "level": str(c.level) if c.level else None,
        "cause": c.cause.value if c.cause else None,
        "further_intervention": c.further_intervention,
        "outcome": c.outcome.value,
        "device_related": c.device_related,
        "description": c.description,
    }


def _follow_up_fields(f: FollowUp) -> dict[str, Any]:
    return {
        "procedure_id": f.procedure_id,
        "timepoint": f.timepoint.value,
        "date": f.date.isoformat(),
        "pain": f.pain,
        "analgesics": f.analgesics.value if f.analgesics else None,
        "mobility": f.mobility.value if f.mobility else None,
        "roland_morris": f.roland_morris,
    }


def _csv_text(columns: tuple[str, ...], records: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_value(record.get(name)) for name in columns])
    return out.getvalue()


def registry_csv(registry: Registry) -> dict[str, str]:
    """The registry as three CSV texts, by file name (procedures, complications, follow-ups)."""
    return {
        "procedures.csv": _csv_text(
            PROCEDURE_COLUMNS, (_procedure_fields(p) for p in registry.procedures)
        ),
        "complications.csv": _csv_text(
            COMPLICATION_COLUMNS, (_complication_fields(c) for c in registry.complications)
        ),
        "follow-ups.csv": _csv_text(
            FOLLOW_UP_COLUMNS, (_follow_up_fields(f) for f in registry.follow_ups)
        ),
    }


def registry_bundle(registry: Registry) -> dict[str, Any]:
    """The registry as a FHIR R4 collection Bundle in the shape `read_fhir` reads."""
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> None:
        entries.append(
            {"fullUrl": f"{resource['resourceType']}/{resource['id']}", "resource": resource}
        )

    for p in registry.procedures:
        ext: list[dict[str, Any]] = [
            {"url": EXT + "approach", "valueCode": p.approach.value},
            {"url": EXT + "image-guidance", "valueCode": p.image_guidance.value},
            {"url": EXT + "biopsy", "valueBoolean": p.biopsy},
        ]
        for name, value in (
            ("assessment", p.assessment_id),
            ("decision", p.decision_id),
            ("policy", p.policy),
            ("pathway", p.pathway),
            ("case", p.case_id),
        ):
            if value:
                ext.append({"url": EXT + name, "valueString": value})
        ext += [
            {
                "url": EXT + "cement-volume",
                "extension": [
                    {"url": "level", "valueString": str(lv)},
                    {
                        "url": "volume",
                        "valueQuantity": {
                            "value": ml,
                            "unit": "mL",
                            "system": "http://unitsofmeasure.org",
                            "code": "mL",
                        },
                    },
                ],
            }
            for lv, ml in p.cement_ml
        ]
        resource: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": p.id,
            "extension": ext,
            "status": "completed",
            "code": {"text": p.procedure.value},
            "performedDateTime": p.date.isoformat(),
            "performer": [{"actor": {"display": p.operator}}],
            "bodySite": [{"text": str(lv)} for lv in p.levels],
        }
        if p.patient:
            resource["subject"] = {"reference": f"Patient/{p.patient}"}
            patient: dict[str, Any] = {"resourceType": "Patient", "id": p.patient}
            if p.sex:
                patient["gender"] = p.sex.value
            if p.age is not None:
                # A birth date that gives this age on the procedure day (the day before it).
                born = p.date.replace(year=p.date.year - p.age - 1) + dt.timedelta(days=1)
                patient["birthDate"] = born.isoformat()
            add(patient)
        if p.cement.product or p.cement.lot:
            device: dict[str, Any] = {"resourceType": "Device", "id": f"{p.id}-cement"}
            if p.cement.product:
                device["deviceName"] = [{"name": p.cement.product, "type": "user-friendly-name"}]
            if p.cement.manufacturer:
                device["manufacturer"] = p.cement.manufacturer
            if p.cement.lot:
                device["lotNumber"] = p.cement.lot
            if p.cement.expiry:
                device["expirationDate"] = p.cement.expiry.isoformat()
            add(device)
            resource["focalDevice"] = [{"manipulated": {"reference": f"Device/{device['id']}"}}]
        add(resource)
    for c in registry.complications:
        ext = []
        flags = (
            ("symptomatic", c.symptomatic),
            ("further-intervention", c.further_intervention),
            ("device-related", c.device_related),
        )
        for name, flag in flags:
            if flag is not None:
                ext.append({"url": EXT + name, "valueBoolean": flag})
        for name, text in (
            ("leak-site", c.leak_site),
            ("fracture-site", c.fracture_site),
            ("cause", c.cause),
        ):
            if text is not None:
                ext.append({"url": EXT + name, "valueCode": text.value})
        if c.level is not None:
            ext.append({"url": EXT + "level", "valueString": str(c.level)})
        if c.description:
            ext.append({"url": EXT + "description", "valueString": c.description})
        add(
            {
                "resourceType": "AdverseEvent",
                "id": c.id,
                "extension": ext,
                "actuality": "actual",
                "event": {"coding": [{"system": EXT + "complication", "code": c.kind.value}]},
                "subject": {"reference": "Patient/unknown"},
                "date": c.date.isoformat(),
                "outcome": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/adverse-event-outcome",
                            "code": _OUTCOME_CODES[c.outcome],
                        }
                    ]
                },
                "suspectEntity": [{"instance": {"reference": f"Procedure/{c.procedure_id}"}}],
            }
        )
    for f in registry.follow_ups:
        components = []
        for code, score in (("pain", f.pain), ("roland-morris", f.roland_morris)):
            if score is not None:
                components.append(
                    {
                        "code": {"coding": [{"system": EXT + "measure", "code": code}]},
                        "valueInteger": score,
                    }
                )
        for code, coded in (("analgesics", f.analgesics), ("mobility", f.mobility)):
            if coded is not None:
                components.append(
                    {
                        "code": {"coding": [{"system": EXT + "measure", "code": code}]},
                        "valueCode": coded.value,
                    }
                )
        add(
            {
                "resourceType": "Observation",
                "id": f"{f.procedure_id}-{f.timepoint.value}",
                "extension": [{"url": EXT + "timepoint", "valueCode": f.timepoint.value}],
                "status": "final",
                "code": {"text": "Vertebral augmentation outcome measures"},
                "partOf": [{"reference": f"Procedure/{f.procedure_id}"}],
                "effectiveDateTime": f.date.isoformat(),
                "component": components,
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}

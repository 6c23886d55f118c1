"""The patient: which Patient the request is for, their age on the request date, and sex."""

from __future__ import annotations

import datetime as dt

from vertebro.adapters.fhir.context import ReadContext
from vertebro.adapters.fhir.elements import parse_date, reference, string

SEXES = {"female": "female", "male": "male", "other": "other"}


def find_patient(ctx: ReadContext) -> None:
    """Pick the patient: the one the request names, else the only Patient in the bundle."""
    for claim in ctx.index.of_type("Claim"):
        if string(claim.resource.get("use")) == "preauthorization":
            target = ctx.index.resolve(reference(claim.resource.get("patient")))
            if target is not None and target.type == "Patient":
                ctx.patient = target
                return
    for order in ctx.index.of_type("ServiceRequest"):
        target = ctx.index.resolve(reference(order.resource.get("subject")))
        if target is not None and target.type == "Patient":
            ctx.patient = target
            return
    patients = list(ctx.index.of_type("Patient"))
    if len(patients) == 1:
        ctx.patient = patients[0]
    elif len(patients) > 1:
        ctx.warn(f"{len(patients)} Patients and no request naming one: patient facts not read")


def read_patient(ctx: ReadContext) -> None:
    """patient.age as of the request date (from birthDate) and patient.sex (from gender)."""
    patient = ctx.patient
    if patient is None:
        return
    resource = patient.resource
    gender = string(resource.get("gender"))
    if gender in SEXES:
        ctx.add(patient, "patient.sex", SEXES[gender], quote=f"gender: {gender}",
                location=f"{patient.path}.gender")
    born_text = string(resource.get("birthDate"))
    born = parse_date(born_text)
    if born_text and born is None:
        ctx.warn(f"{patient.name}: birthDate {born_text!r} is not a full date; age not computed")
    if resource.get("deceasedBoolean") is True or string(resource.get("deceasedDateTime")):
        ctx.warn(f"{patient.name}: the patient is recorded as deceased")
    if born is None:
        return
    on = ctx.anchor
    if on is None:
        ctx.warn("no request date: the patient's age is not computed")
        return
    age = _age(born, on)
    if age < 0:
        ctx.warn(f"{patient.name}: birthDate {born} is after {on}; age not computed")
        return
    ctx.add(patient, "patient.age", float(age),
            quote=f"birthDate {born.isoformat()}; age {age} on {on.isoformat()}",
            location=f"{patient.path}.birthDate", when=on)


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

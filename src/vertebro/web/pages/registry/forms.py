"""The registry forms' fields, reading posted values and query parameters, refusals in words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from vertebro.adapters.fhir.bundle import json_shape_problem
from vertebro.api.security import Principal
from vertebro.core.registry.rows import RECORD_ID
from vertebro.registry_service import BadRecords
from vertebro.settings import Role
from vertebro.web.session import PageError

PROCEDURE_FIELDS = (
    "id",
    "date",
    "operator",
    "procedure",
    "levels",
    "approach",
    "image_guidance",
    "cement_ml",
    "biopsy",
    "patient",
    "age",
    "sex",
    "cement_product",
    "cement_manufacturer",
    "cement_lot",
    "cement_expiry",
    "case_id",
)
COMPLICATION_FIELDS = (
    "id",
    "kind",
    "date",
    "symptomatic",
    "leak_site",
    "fracture_site",
    "level",
    "cause",
    "further_intervention",
    "outcome",
    "device_related",
    "description",
)
FOLLOW_UP_FIELDS = ("timepoint", "date", "pain", "analgesics", "mobility", "roland_morris")


# --- Form values and errors -------------------------------------------------------------------


def posted_values(form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The posted text of each field (empty when absent)."""
    out = {}
    for name in names:
        value = form.get(name)
        out[name] = value.strip() if isinstance(value, str) else ""
    return out


def as_record(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The non-empty values as a record for the use case, and the fields that hold text no
    database can store (NUL, unpaired surrogates; emptied, not shown again)."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in values.items():
        if json_shape_problem(value):
            errors[name] = "This holds characters that cannot be stored; type it again."
            values[name] = ""
        elif value:
            data[name] = value
    return data, errors


def field_errors(exc: BadRecords, known: tuple[str, ...]) -> dict[str, str]:
    """The first problem of each field, in words; anything not a form field goes under
    'form'."""
    errors: dict[str, str] = {}
    for detail in exc.details:
        name = detail.field.split(".")[0]
        key = name if name in known else "form"
        message = detail.message
        if detail.duplicate:
            message = (
                f"{message}: each record needs its own id"
                if name == "id"
                else f"{message}: this timepoint is already recorded for the procedure"
            )
        if key == "form":
            message = f"{detail.field}: {message}"
        errors.setdefault(key, sentence(message))
    return errors


def sentence(text: str) -> str:
    """The text without surrounding space, its first letter a capital."""
    text = text.strip()
    return (text[:1].upper() + text[1:]) if text else text


def plausible_id(record_id: str) -> str:
    """The record id from the address, or a 404 page if no record could have it."""
    if not RECORD_ID.fullmatch(record_id):
        raise PageError(404, "There is no such record in the registry.")
    return record_id


def parse_date(value: str | None, name: str, errors: dict[str, str]) -> dt.date | None:
    """The value as a date (None when empty); a refusal in `errors` if it is no date."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[name] = "Enter a date as year-month-day, for example 2026-03-02."
        return None


def parse_organisation(user: Principal, value: str | None, errors: dict[str, str]) -> str | None:
    """The organisation asked for (None for requesters, or empty); a refusal in `errors` if bad."""
    if user.role is Role.REQUESTER or not value:
        return None
    if len(value) > 200 or json_shape_problem(value):
        errors["organisation"] = "Enter an organisation identifier, or leave it empty."
        return None
    return value

"""Prepare a patient for the procedure: checks, a dated plan and consent figures, as text, JSON,
an HTML leaflet or a PDF leaflet.

The report models are the JSON shape; the text, HTML and PDF renderers only read them.
"""

from __future__ import annotations

from vertebro.prepare_service.leaflet import (
    LeafletDay,
    LeafletRow,
    css_string,
    leaflet_body,
    leaflet_days,
    render_html,
    render_pdf,
)
from vertebro.prepare_service.models import (
    BringOut,
    CheckOut,
    CheckStatus,
    ConsentOut,
    DrugRuleOut,
    FlagOut,
    HospitalOut,
    PathwayOut,
    PlanOut,
    PreparationReport,
    SourceOut,
    StepOut,
)
from vertebro.prepare_service.preparing import build_report, prepare, prepare_case
from vertebro.prepare_service.reading import MAX_TEXT_BYTES, ReadText, read_text
from vertebro.prepare_service.text import render_text, warnings

__all__ = [
    "MAX_TEXT_BYTES",
    "BringOut",
    "CheckOut",
    "CheckStatus",
    "ConsentOut",
    "DrugRuleOut",
    "FlagOut",
    "HospitalOut",
    "LeafletDay",
    "LeafletRow",
    "PathwayOut",
    "PlanOut",
    "PreparationReport",
    "ReadText",
    "SourceOut",
    "StepOut",
    "build_report",
    "css_string",
    "leaflet_body",
    "leaflet_days",
    "prepare",
    "prepare_case",
    "read_text",
    "render_html",
    "render_pdf",
    "render_text",
    "warnings",
]

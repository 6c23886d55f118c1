"""FHIR R4 OperationOutcome: the body of every error response."""

from __future__ import annotations

from typing import Any, Literal

IssueType = Literal[
    "invalid", "structure", "required", "value", "code-invalid", "not-found", "not-supported",
    "forbidden", "login", "security", "conflict", "duplicate", "too-costly", "exception",
    "processing", "business-rule", "informational", "incomplete", "transient",
]
Severity = Literal["fatal", "error", "warning", "information"]
FHIR_JSON = "application/fhir+json"


def operation_outcome(
    message: str,
    code: IssueType = "invalid",
    *,
    severity: Severity = "error",
    expression: str | None = None,
    more: list[tuple[Severity, IssueType, str]] | None = None,
) -> dict[str, Any]:
    """An OperationOutcome with one issue (and optionally more)."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    issues = [issue]
    for sev, kind, text in more or []:
        issues.append({"severity": sev, "code": kind, "diagnostics": text})
    return {"resourceType": "OperationOutcome", "issue": issues}


"""A synthetic registry, and writing a registry out as CSV files or a FHIR Bundle."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

from vertebro.adapters import registry_import
from vertebro.adapters.errors import InputError
from vertebro.core.registry.model import Registry
from vertebro.core.registry.simulate import simulate

# --- Simulation ---------------------------------------------------------------------------------


def simulate_registry(
    n: int, *, seed: int, start: dt.date, end: dt.date, as_of: dt.date
) -> Registry:
    """A synthetic registry (see `core.registry.simulate`).

    Raises:
        InputError: impossible arguments.
    """
    try:
        return simulate(n, seed=seed, start=start, end=end, as_of=as_of)
    except ValueError as exc:
        raise InputError("simulate", str(exc)) from None


def write_registry(registry: Registry, out: Path, fmt: Literal["csv", "fhir"]) -> list[Path]:
    """Write a registry as the three CSV files, or one FHIR Bundle, into a folder."""
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "fhir":
        path = out / "registry-bundle.json"
        path.write_text(json.dumps(registry_import.registry_bundle(registry)), encoding="utf-8")
        return [path]
    written = []
    for name, text in registry_import.registry_csv(registry).items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written

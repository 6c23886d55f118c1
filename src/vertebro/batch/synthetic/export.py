"""Coded cases written out: a collection Bundle, or NDJSON files one resource type a file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vertebro.batch.synthetic.base import Resource
from vertebro.batch.synthetic.fhir import coded_case


def bundle(resources: list[Resource], bundle_id: str | None = None) -> Resource:
    """The resources as a collection Bundle (how the per-case reader takes one patient)."""
    out: Resource = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
    if bundle_id:
        out["id"] = bundle_id
    return out


@dataclass(frozen=True, slots=True)
class Written:
    """What `write_ndjson` wrote: cases, and resources per type."""

    cases: int
    resources: dict[str, int]


def write_ndjson(
    folder: Path, count: int, seed: int = 0, start: int = 0, part: int | None = None
) -> Written:
    """Write cases start..start+count-1 as NDJSON, one file per resource type: `Type.ndjson`,
    or `Type.<part>.ndjson` when the export is split into parts."""
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    try:
        for resources in iter_cases(count, seed, start):
            for resource in resources:
                rtype = resource["resourceType"]
                handle = handles.get(rtype)
                if handle is None:
                    name = f"{rtype}.ndjson" if part is None else f"{rtype}.{part:03d}.ndjson"
                    handle = handles[rtype] = (folder / name).open("w", encoding="utf-8")
                handle.write(json.dumps(resource, separators=(",", ":")) + "\n")
                counts[rtype] = counts.get(rtype, 0) + 1
    finally:
        for handle in handles.values():
            handle.close()
    return Written(count, counts)


def iter_cases(count: int, seed: int = 0, start: int = 0) -> Iterator[list[Resource]]:
    """The resources of cases start..start+count-1."""
    for index in range(start, start + count):
        yield coded_case(index, seed)

"""Hypothesis strategies shared by the fuzz tests: random JSON, structural mutations of real
documents, and the real material they start from (the shared FHIR fixtures, notes and the
shipped policies)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from vertebro.adapters import policy_files

from .conftest import DTR_DIR, NOTES_DIR, OWN_FHIR, PAS_DIR, REPO, SYNTHEA_DIR, load

Json = Any


# --- Material ---------------------------------------------------------------------------------


def _fhir_fixtures() -> dict[str, Json]:
    paths = [*PAS_DIR.glob("*.json"), *DTR_DIR.glob("*.json"), *OWN_FHIR.glob("*.json"),
             *SYNTHEA_DIR.glob("*.json")]
    return {p.name: load(p) for p in sorted(paths)}


FHIR = _fhir_fixtures()
NOTES = [p.read_text(encoding="utf-8", errors="replace")
         for p in sorted([*NOTES_DIR.glob("*.txt"), *(REPO / "tests" / "fixtures" / "notes")
                          .rglob("*.txt")])]
SENTENCES = [s.strip() + "." for note in NOTES for s in note.split(".") if len(s.strip()) > 10]
POLICIES = {v.display: (Path(str(v.folder)) / "policy.yaml").read_text(encoding="utf-8")
            for v in policy_files.shipped()}

# Values that mean something to the readers, and values that break naive code.
SPECIAL_STRINGS = [
    "Bundle", "Claim", "Patient", "Condition", "ServiceRequest", "DocumentReference", "Binary",
    "DiagnosticReport", "collection", "preauthorization", "22511", "22513", "M80.08XA",
    "http://www.ama-assn.org/go/cpt", "http://hl7.org/fhir/sid/icd-10-cm", "L1", "T12-L2",
    "S1", "2026-10-05", "2026-02-30", "1900-01-01T25:61:00Z", "urn:uuid:1", "#c1", "Patient/1",
    "Binary/1", "text/plain", "aGVsbG8=", "!!!not base64", "", " ", "\u0000", "\ud800", "\ufeff",
    "é" * 5, "🦴" * 3, "x" * 100_000, "4.0.1", "5.0.0", "3.0.2", "vertebroplasty",
    "osteomyelitis", "no osteomyelitis", "<div>L1 fracture</div>",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(SPECIAL_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=12),
                                                      st.sampled_from(SPECIAL_STRINGS[:20])),
                                            inner, max_size=4)),
    max_leaves=12,
)


def _containers(node: Json, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every list and object in a JSON document."""
    stack = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            yield where
            stack.extend((v, (*where, k)) for k, v in current.items())
        elif isinstance(current, list):
            yield where
            stack.extend((v, (*where, i)) for i, v in enumerate(current))


def _at(node: Json, path: tuple[Any, ...]) -> Json:
    for step in path:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn, document: Json) -> Json:
    """A copy of a JSON document with one to four structural mutations."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not isinstance(doc, dict | list):
            break
        containers = list(_containers(doc))
        target = _at(doc, draw(st.sampled_from(containers)))
        keys = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "wrap", "add",
                                       "retype"]))
        if not keys or action == "add":
            if isinstance(target, dict):
                target[draw(st.sampled_from(["resourceType", "id", "reference", "code",
                                             "system", "value", "data", "url", "entry",
                                             "resource", "status", "fhirVersion", "extra"]))] = (
                    draw(json_values))
            else:
                target.append(draw(json_values))
            continue
        key = draw(st.sampled_from(keys))
        if action == "replace":
            target[key] = draw(json_values)
        elif action == "delete":
            del target[key]
        elif action == "duplicate" and isinstance(target, list):
            target.insert(key, copy.deepcopy(target[key]))
        elif action == "wrap":
            target[key] = [target[key]] if draw(st.booleans()) else {"value": target[key]}
        elif action == "retype":
            value = target[key]
            target[key] = (str(value) if not isinstance(value, str)
                           else draw(st.sampled_from([0, None, True, [], {}, value * 3])))
    return doc


fhir_documents = st.sampled_from(sorted(FHIR)).flatmap(lambda name: mutated(FHIR[name]))

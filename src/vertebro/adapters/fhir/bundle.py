"""Check that input is FHIR R4, and index a Bundle's entries so references can be followed.

What is rejected (an InputError with one line): input over the size limit, text that is not
JSON, JSON nested more than `MAX_JSON_DEPTH` levels or holding NUL characters or unpaired
surrogates (`json_shape_problem`), JSON that is not a FHIR resource (no `resourceType`), FHIR
of another version (a `fhirVersion` or core-profile marker other than 4.0, resource types that
exist only in other versions, R5 or STU3 element shapes), and a Bundle with no entries.

What is tolerated, with a warning: a missing `Bundle.type`, entries without a resource, and
references to resources that are not in the bundle.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.elements import JsonObj, items, obj, objs, string

MAX_FHIR_BYTES = 20_000_000  # 20 MB: larger than any single-patient bundle seen in practice
# Real FHIR is at most ~20 levels deep; far deeper JSON is hostile and would meet Python's
# recursion limit somewhere in the readers, the database driver or the JSON encoder.
MAX_JSON_DEPTH = 100

BUNDLE_TYPES = frozenset({
    "document", "message", "transaction", "transaction-response", "batch", "batch-response",
    "history", "searchset", "collection",
})

# Resource types that do not exist in FHIR R4 (4.0.1): added in R4B/R5, or dropped after STU3.
_R5_ONLY = frozenset({
    "ActorDefinition", "ArtifactAssessment", "BiologicallyDerivedProductDispense",
    "ConditionDefinition", "DeviceAssociation", "DeviceDispense", "DeviceUsage",
    "EncounterHistory", "FormularyItem", "GenomicStudy", "ImagingSelection", "InventoryItem",
    "InventoryReport", "NutritionIntake", "Permission", "RequestOrchestration", "Requirements",
    "TestPlan", "Transport", "SubscriptionTopic", "SubscriptionStatus",
})
_PRE_R4_ONLY = frozenset({
    "ProcedureRequest", "ReferralRequest", "DiagnosticOrder", "MedicationOrder",
    "DeviceUseRequest", "BodySite", "ProcessRequest", "ProcessResponse", "EligibilityRequest",
    "EligibilityResponse", "EnrollmentRequest", "DataElement", "ImagingManifest", "Sequence",
    "DeviceComponent", "Order", "OrderResponse",
})
_CORE_VERSION_RE = re.compile(
    r"hl7\.org/fhir/(?P<tag>R5|R6|STU3|DSTU2|DSTU1|[1-35-9]\.\d+(?:\.\d+)?)/", re.I
)
_CORE_PROFILE_VERSION_RE = re.compile(r"hl7\.org/fhir/StructureDefinition/\w+\|(?P<version>[\d.]+)")


def parse_json(raw: bytes, source: str) -> Any:
    """Parse JSON text within the size limit.

    Raises:
        InputError: the input is too large, not UTF-8 or not JSON.
    """
    if len(raw) > MAX_FHIR_BYTES:
        raise InputError(source, f"input is {len(raw):,} bytes; the limit for FHIR input is "
                                 f"{MAX_FHIR_BYTES:,} bytes (20 MB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(source, "not UTF-8 text (binary file?)") from None
    if not text.strip():
        raise InputError(source, "empty file")
    try:
        data = strict_json_loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON: {exc.msg}", exc.lineno) from None
    except NonFiniteNumber as exc:
        raise InputError(source, f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError(source, "JSON nested too deeply") from None
    problem = json_shape_problem(data, escapes="\\u" in text)
    if problem:
        raise InputError(source, problem)
    return data


class NonFiniteNumber(ValueError):
    """NaN, Infinity or a number too large for a float: not JSON (RFC 8259), though Python's
    reader takes them, and no database JSON column or JSON encoder does."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"the number {text[:30]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    # Python refuses to read integers over 4,300 digits (a ValueError, not a JSON error), and
    # one over 308 digits overflows float(); no real number in a clinical record needs 100.
    if len(text) > 100:
        raise NonFiniteNumber(f"a number of {len(text):,} digits is out of range")
    return int(text)


def _no_constant(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a JSON number")


def strict_json_loads(text: str) -> Any:
    """`json.loads` that refuses NaN, Infinity and numbers too large to use.

    Raises:
        json.JSONDecodeError, NonFiniteNumber, RecursionError.
    """
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                      parse_int=_bounded_int)


# What `\u` escapes can smuggle into parsed JSON but no store or encoder takes: NUL (FHIR
# strings forbid it and PostgreSQL text cannot hold it) and unpaired UTF-16 surrogates (not
# encodable as UTF-8).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def json_shape_problem(data: Any, *, escapes: bool = True) -> str | None:
    """Why parsed JSON is unsafe to process, in a few words; None when it is fine.

    Checked without recursion (so hostile input cannot exhaust the stack): nesting deeper than
    `MAX_JSON_DEPTH`, and - when `escapes` (the text held `\\u` escapes, the only way in) - NUL
    characters and unpaired surrogates in keys or strings.
    """
    unstorable = "JSON holds a NUL character or an unpaired surrogate (a \\u escape)"
    if escapes and isinstance(data, str) and _UNSTORABLE.search(data):
        return unstorable
    stack: list[tuple[Any, int]] = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(node, dict):
            if escapes and any(_UNSTORABLE.search(key) for key in node):
                return unstorable
            node = node.values()
        for value in node:
            if isinstance(value, dict | list):
                stack.append((value, depth + 1))
            elif escapes and isinstance(value, str) and _UNSTORABLE.search(value):
                return unstorable
    return None


def check_r4(data: Any, source: str) -> JsonObj:
    """The resource, once it is known to be FHIR R4.

    Raises:
        InputError: not a FHIR resource, or FHIR of another version, or an empty Bundle.
    """
    resource = obj(data)
    if resource is None:
        kind = "a list" if isinstance(data, list) else type(data).__name__
        raise InputError(
            source, f"not FHIR: the JSON is {kind}, not a resource with 'resourceType'"
        )
    rtype = string(resource.get("resourceType"))
    if rtype is None:
        hint = ""
        if "hook" in resource and "context" in resource:
            hint = " (it is a CDS Hooks request; send its FHIR resources instead)"
        elif "cards" in resource:
            hint = " (it is a CDS Hooks response)"
        raise InputError(source, f"not FHIR: JSON without 'resourceType'{hint}")
    _check_version(resource, source, "")
    if rtype == "Bundle":
        entries = resource.get("entry")
        if not isinstance(entries, list) or not entries:
            raise InputError(source, "Bundle has no entries: nothing to read")
        for index, entry in enumerate(entries):
            inner = obj(obj(entry) and entry.get("resource"))
            if inner is not None:
                _check_version(inner, source, f"Bundle.entry[{index}].resource")
    return resource


def _check_version(resource: JsonObj, source: str, path: str) -> None:
    rtype = string(resource.get("resourceType")) or "?"
    where = f" at {path}" if path else ""
    if rtype in _R5_ONLY:
        raise InputError(source, f"FHIR of another version: {rtype}{where} is not an R4 resource "
                                 "(it was added later); this reader takes FHIR R4 (4.0.1)")
    if rtype in _PRE_R4_ONLY:
        raise InputError(source, f"FHIR of another version: {rtype}{where} exists only before R4 "
                                 "(DSTU2/STU3); this reader takes FHIR R4 (4.0.1)")
    version = string(resource.get("fhirVersion"))
    if version and not version.startswith("4."):
        raise InputError(source, f"FHIR of another version: fhirVersion {version}{where}; "
                                 "this reader takes FHIR R4 (4.0.1)")
    meta = obj(resource.get("meta")) or {}
    for profile in items(meta.get("profile")):
        if not isinstance(profile, str):
            continue
        marker = _CORE_VERSION_RE.search(profile)
        if marker:
            raise InputError(source, f"FHIR of another version: profile {profile}{where} is "
                                     f"FHIR {marker.group('tag')}; this reader takes FHIR R4")
        core = _CORE_PROFILE_VERSION_RE.search(profile)
        if core and not core.group("version").startswith("4."):
            raise InputError(source, f"FHIR of another version: profile {profile}{where}; "
                                     "this reader takes FHIR R4")
    shape = _foreign_shape(resource)
    if shape:
        raise InputError(source, f"FHIR of another version: {rtype}{where} {shape}; "
                                 "this reader takes FHIR R4 (4.0.1)")


def _foreign_shape(resource: JsonObj) -> str | None:
    """An element whose shape belongs to another FHIR version, described; None if none."""
    rtype = string(resource.get("resourceType"))  # any JSON: a list is unhashable
    if rtype == "Condition" and isinstance(resource.get("clinicalStatus"), str):
        return "has clinicalStatus as a plain code (STU3)"
    if rtype == "Encounter":
        if isinstance(resource.get("class"), list):
            return "has class as a list (R5)"
        if "actualPeriod" in resource:
            return "has actualPeriod (R5)"
    if rtype in {"MedicationRequest", "MedicationStatement"}:
        medication = obj(resource.get("medication"))
        if medication is not None and ("concept" in medication or "reference" in medication):
            return "has medication as a CodeableReference (R5)"
    if rtype == "MedicationStatement" and "taken" in resource:
        return "has 'taken' (STU3)"
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource of the bundle, with the names it can be referred to by."""

    index: int | None  # None for the lone resource that was given instead of a Bundle
    resource: JsonObj
    full_url: str | None

    @property
    def type(self) -> str:
        """The resource type."""
        return string(self.resource.get("resourceType")) or "?"

    @property
    def id(self) -> str | None:
        """The resource id."""
        return string(self.resource.get("id"))

    @property
    def name(self) -> str:
        """How evidence names this resource: 'Type/id', else the fullUrl, else its position."""
        if self.id:
            return f"{self.type}/{self.id}"
        if self.full_url:
            return self.full_url
        return f"{self.type} at entry {self.index}"

    @property
    def path(self) -> str:
        """The JSON path of the resource, e.g. 'Bundle.entry[3].resource'."""
        return self.type if self.index is None else f"Bundle.entry[{self.index}].resource"


@dataclass
class BundleIndex:
    """The entries of a bundle and a map from every name a reference may use to its entry."""

    bundle_type: str | None
    entries: list[Entry]
    warnings: list[str] = field(default_factory=list)
    _by_ref: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def of(cls, resource: JsonObj) -> BundleIndex:
        """Index a Bundle, or wrap a lone resource as a bundle of one."""
        if resource.get("resourceType") != "Bundle":
            index = cls(None, [Entry(None, resource, None)])
            index._add(index.entries[0])
            return index
        bundle_type = string(resource.get("type"))
        index = cls(bundle_type, [])
        if bundle_type is None:
            index.warnings.append("Bundle.type is missing; read as a collection")
        elif bundle_type not in BUNDLE_TYPES:
            index.warnings.append(f"Bundle.type {bundle_type!r} is not a FHIR R4 bundle type; "
                                  "read as a collection")
        for position, raw in enumerate(items(resource.get("entry"))):
            entry = obj(raw)
            inner = obj(entry.get("resource")) if entry else None
            if inner is None or string(inner.get("resourceType")) is None:
                index.warnings.append(f"Bundle.entry[{position}] has no resource; skipped")
                continue
            full_url = string(entry.get("fullUrl")) if entry else None
            item = Entry(position, inner, full_url)
            index.entries.append(item)
            index._add(item)
        if not index.entries:
            index.warnings.append("no entry of the bundle holds a resource")
        return index

    def _add(self, entry: Entry) -> None:
        if entry.full_url:
            self._by_ref.setdefault(entry.full_url, entry)
            tail = _type_id_tail(entry.full_url)
            if tail:
                self._by_ref.setdefault(tail, entry)
        if entry.id:
            self._by_ref.setdefault(f"{entry.type}/{entry.id}", entry)

    def of_type(self, *types: str) -> Iterator[Entry]:
        """The entries holding resources of these types, in bundle order."""
        return (e for e in self.entries if e.type in types)

    def resolve(self, ref: str | None) -> Entry | None:
        """The entry a reference names (absolute, relative 'Type/id', or urn:uuid), if present."""
        if not ref:
            return None
        ref = ref.split("/_history/")[0]
        found = self._by_ref.get(ref)
        if found is not None:
            return found
        tail = _type_id_tail(ref)
        return self._by_ref.get(tail) if tail else None

    def contained(self, owner: Entry, ref: str) -> JsonObj | None:
        """A resource contained in `owner` that a '#id' reference names."""
        wanted = ref.lstrip("#")
        for inner in objs(owner.resource.get("contained")):
            if string(inner.get("id")) == wanted:
                return inner
        return None


_TAIL_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})$")


def _type_id_tail(url: str) -> str | None:
    match = _TAIL_RE.search(url.split("/_history/")[0])
    return match.group(1) if match else None


def dangling_references(index: BundleIndex) -> list[str]:
    """References inside the bundle that name resources missing from it, described.

    Only references meant to resolve inside the bundle are checked: relative 'Type/id' and
    'urn:uuid:' ones in bundles of type collection, document, transaction or message (a search
    result is expected to point outside itself). Contained ('#id') references are skipped.
    """
    if index.bundle_type not in {None, "collection", "document", "transaction", "batch", "message"}:
        return []
    missing: dict[str, str] = {}
    for entry in index.entries:
        for path, ref in _references(entry.resource, entry.path):
            if ref.startswith("#") or ref in missing:
                continue
            local = ref.startswith("urn:uuid:") or _TAIL_RE.fullmatch("/" + ref) is not None
            if local and index.resolve(ref) is None:
                missing[ref] = f"{ref} (from {entry.name} {path.removeprefix(entry.path + '.')})"
    return list(missing.values())


def _references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref.strip():
            yield path, ref.strip()
        for key, value in node.items():
            if key in {"contained", "text"}:
                continue
            if isinstance(value, dict | list):
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for position, item in enumerate(node):
            yield from _references(item, f"{path}[{position}]")

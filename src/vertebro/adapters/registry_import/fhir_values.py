"""Tolerant reading of FHIR JSON values: elements, references, value[x], extensions, codes."""

from __future__ import annotations

from typing import Any

from vertebro.adapters.fhir.codes import System, system_of
from vertebro.adapters.registry_import.raw_rows import EXT


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def as_day(value: Any) -> str | None:
    text = as_text(value)
    return text[:10] if text else None


def ref_id(reference: Any, resource_type: str) -> str | None:
    text = as_text(as_dict(reference).get("reference"))
    if not text:
        return None
    parts = text.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None


def value_x(node: dict[str, Any]) -> Any:
    for key, value in node.items():
        if key.startswith("value"):
            if key == "valueQuantity":
                return as_dict(value).get("value")
            if key in ("valueReference",):
                ref = as_text(as_dict(value).get("reference"))
                return ref.rsplit("/", 1)[-1] if ref else None
            if key == "valueCodeableConcept":
                codings = as_list(as_dict(value).get("coding"))
                return (as_text(codings[0].get("code")) if codings else None) or as_text(
                    as_dict(value).get("text")
                )
            return value
    return None


def own_extensions(resource: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ext in as_list(resource.get("extension")):
        url = as_text(ext.get("url")) or ""
        if not url.startswith(EXT):
            continue
        name = url[len(EXT) :]
        if name == "cement-volume":
            out.setdefault("_cement", []).append(ext)
        else:
            out[name] = value_x(ext)
    return out


def codes_of(concept: Any) -> list[tuple[System | str | None, str]]:
    out: list[tuple[System | str | None, str]] = []
    for coding in as_list(as_dict(concept).get("coding")):
        system_text = as_text(coding.get("system")) or ""
        code = as_text(coding.get("code"))
        if code:
            own = system_text.startswith(EXT)
            out.append((EXT if own else system_of(system_text), code))
    return out


def words_of(concept: Any) -> str:
    node = as_dict(concept)
    parts = [as_text(node.get("text")) or ""]
    parts += [as_text(c.get("display")) or "" for c in as_list(node.get("coding"))]
    return " ".join(p for p in parts if p)

"""The only reader of pathway files: the shipped ones (package data) or a YAML file by path."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from vertebro.adapters import yaml_lines
from vertebro.adapters.errors import InputError
from vertebro.core.pathway.format import PathwayFormatError, pathway_from_dict
from vertebro.core.pathway.model import Pathway

DEFAULT_PATHWAY = "royal-berkshire-2026"
MAX_PATHWAY_BYTES = 1_000_000


def shipped_names() -> list[str]:
    """The names of the shipped pathways (their file names without .yaml)."""
    folder = resources.files("vertebro") / "pathway"
    return sorted(
        item.name.removesuffix(".yaml")
        for item in folder.iterdir()
        if item.is_file() and item.name.endswith(".yaml")
    )


@cache
def shipped(name: str = DEFAULT_PATHWAY) -> Pathway:
    """A shipped pathway by name, validated. Cached: package data does not change while running.

    Raises:
        InputError: no shipped pathway has that name, or it does not follow the format.
    """
    if name not in shipped_names():
        known = ", ".join(shipped_names())
        raise InputError("--pathway", f"unknown pathway {name!r}; shipped pathways: {known}")
    item = resources.files("vertebro") / "pathway" / f"{name}.yaml"
    return parse_pathway_text(item.read_text(encoding="utf-8"), f"pathway/{name}.yaml")


def resolve(pathway: str | None) -> Pathway:
    """The pathway to use: the default, a shipped name, or the path of a pathway file."""
    if pathway is None:
        return shipped()
    if pathway.endswith((".yaml", ".yml", ".json")) or "/" in pathway:
        return load_pathway_path(Path(pathway))
    return shipped(pathway)


def load_pathway_path(path: Path) -> Pathway:
    """Read and validate a pathway file given by path.

    Raises:
        InputError: the file cannot be read, is too large or does not follow the format.
    """
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_PATHWAY_BYTES:
            raise InputError(name, f"file is {size:,} bytes; the limit is {MAX_PATHWAY_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(name, "not UTF-8 text") from None
    except OSError as exc:
        raise InputError(name, exc.strerror or "cannot be read") from None
    return parse_pathway_text(text, name)


def parse_pathway_text(text: str, source: str) -> Pathway:
    """Parse and validate pathway YAML; errors name the file and line."""
    try:
        data: Any = yaml_lines.load(text)
    except yaml_lines.YamlError as exc:
        raise InputError(source, exc.message, exc.line) from None
    try:
        return pathway_from_dict(data)
    except PathwayFormatError as exc:
        where = ".".join(str(part) for part in exc.loc)
        message = f"{exc.message} (at {where})" if where else exc.message
        raise InputError(source, message, yaml_lines.line_of(data, exc.loc)) from None

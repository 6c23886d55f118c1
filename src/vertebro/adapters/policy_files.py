"""The only reader of policy files: shipped ones (package data) or a policy.yaml given by path."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from vertebro.adapters import yaml_lines
from vertebro.adapters.errors import InputError
from vertebro.core.policy import Policy
from vertebro.core.policy_format import PolicyFormatError, policy_from_dict

POLICY_FILE = "policy.yaml"


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One shipped version of a policy: where its files are and what they say."""

    policy: Policy
    folder: Traversable  # holds policy.yaml and tests/
    display: str  # a readable path for messages


def _package_root() -> Traversable:
    return resources.files("vertebro") / "policies"


@cache
def shipped() -> tuple[PolicyVersion, ...]:
    """Every shipped policy version, validated. Cached: policy files do not change while running."""
    versions = []
    for policy_dir in sorted(_package_root().iterdir(), key=lambda t: t.name):
        if not policy_dir.is_dir() or policy_dir.name.startswith(("_", ".")):
            continue
        for version_dir in sorted(policy_dir.iterdir(), key=lambda t: t.name):
            policy_file = version_dir / POLICY_FILE
            if version_dir.is_dir() and policy_file.is_file():
                display = f"policies/{policy_dir.name}/{version_dir.name}/{POLICY_FILE}"
                policy = parse_policy_text(policy_file.read_text(encoding="utf-8"), display)
                if policy.id != policy_dir.name:
                    raise InputError(display, f"policy id {policy.id!r} differs from its folder")
                versions.append(PolicyVersion(policy, version_dir, display))
    return tuple(versions)


def known_ids() -> list[str]:
    """The ids of the shipped policies."""
    return sorted({v.policy.id for v in shipped()})


def versions_of(policy_id: str) -> list[PolicyVersion]:
    """Shipped versions of a policy, oldest first; raises InputError listing known ids if none."""
    found = [v for v in shipped() if v.policy.id == policy_id]
    if not found:
        raise InputError(
            "--policy", f"unknown policy {policy_id!r}; known policies: {', '.join(known_ids())}"
        )
    return sorted(found, key=lambda v: v.policy.effective_from)


def resolve(policy: str, as_of: dt.date) -> Policy:
    """The policy to apply: a shipped id (the version in effect on `as_of`) or a path to a file."""
    if policy.endswith((".yaml", ".yml", ".json")) or "/" in policy:
        return load_policy_path(Path(policy))
    candidates = [v.policy for v in versions_of(policy) if v.policy.in_effect_on(as_of)]
    if not candidates:
        periods = "; ".join(
            f"{v.policy.version} from {v.policy.effective_from}" for v in versions_of(policy)
        )
        raise InputError(
            "--policy", f"no version of {policy!r} is in effect on {as_of} (versions: {periods})"
        )
    return max(candidates, key=lambda p: p.effective_from)


def load_policy_path(path: Path) -> Policy:
    """Read and validate a policy file given by path."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), getattr(exc, "strerror", None) or "cannot be read") from None
    return parse_policy_text(text, str(path))


def parse_policy_text(text: str, source: str) -> Policy:
    """Parse and validate policy YAML; errors name the file and line."""
    try:
        data: Any = yaml_lines.load(text)
    except yaml_lines.YamlError as exc:
        raise InputError(source, exc.message, exc.line) from None
    try:
        return policy_from_dict(data)
    except PolicyFormatError as exc:
        where = ".".join(str(part) for part in exc.loc)
        message = f"{exc.message} (at {where})" if where else exc.message
        raise InputError(source, message, yaml_lines.line_of(data, exc.loc)) from None

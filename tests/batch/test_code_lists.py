"""The shipped list of ICD codes with a meaning answers what the official lists answer."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from vertebro.adapters.fhir import codes
from vertebro.batch import code_lists

SYSTEMS = list(code_lists.PACKAGES)


def _all_codes(system: codes.System) -> list[str]:
    module_name, _ = code_lists.PACKAGES[system]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = __import__(module_name)
        return list(module.get_all_codes(True))


def _spellings(code: str) -> list[str]:
    """A code as FHIR senders write it: dotted, undotted, lower case, padded."""
    plain = code.replace(".", "")
    return [code, plain, code.lower(), f" {plain} "]


# Codes with a meaning in the reader that are not official codes (a wrong 7th character, a
# 4th character that does not exist, a truncated code) and odd forms of real ones.
NOT_OFFICIAL = ["M80.08XZ", "M80.9", "M80.0800", "S22.000Q", "M48.5", "C79.5X", "M54.99", "G89.9"]


def test_the_shipped_list_is_what_the_installed_packages_give() -> None:
    shipped = json.loads(code_lists.SHIPPED.read_text(encoding="utf-8"))
    for system in SYSTEMS:
        entry = shipped[system.value]
        assert entry["version"] == code_lists.installed_version(system), (
            f"{system.value}: regenerate with `python -m vertebro.batch.code_lists`"
        )
        assert entry["keys"] == code_lists.derive(system)
        assert len(entry["keys"]) > 10


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.value)
def test_every_code_with_a_meaning_is_judged_as_the_official_list_judges_it(
    system: codes.System,
) -> None:
    code_lists._shipped.cache_clear()
    assert code_lists._shipped(system) is not None  # the shipped list is in use
    checked = 0
    candidates = [c for c in _all_codes(system) if codes.condition_meaning(system, c)]
    for code in [*candidates, *NOT_OFFICIAL]:
        for spelling in _spellings(code):
            if codes.condition_meaning(system, spelling) is None:
                continue
            official = codes.official_title(system, spelling) is not None
            assert code_lists.is_official(system, spelling) is official, (system, spelling)
            checked += 1
    assert checked > len(candidates)
    # Some of the odd codes are meaningful but not official, so both answers occur.
    assert not all(code_lists.is_official(system, c) for c in NOT_OFFICIAL)


def test_a_list_from_another_package_version_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "icd_codes.json"
    stale.write_text(
        json.dumps({s.value: {"version": "0.0.1", "keys": []} for s in SYSTEMS}), encoding="utf-8"
    )
    monkeypatch.setattr(code_lists, "SHIPPED", stale)
    code_lists._shipped.cache_clear()
    try:
        assert code_lists._shipped(codes.System.ICD10CM) is None
        # Asked of the package instead, so a real code is still official.
        assert code_lists.is_official(codes.System.ICD10CM, "M80.08XA")
        assert not code_lists.is_official(codes.System.ICD10CM, "M80.08XZ")
    finally:
        code_lists._shipped.cache_clear()

"""docs/requirements-coverage.md is generated from the tests' requirement marks: keep it current."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_requirement_coverage_document_is_up_to_date(shared: Path) -> None:
    assert (shared / "fixtures" / "requirements").is_dir()
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "requirements_coverage.py"),
                             "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_unknown_requirement_ids_are_refused() -> None:
    spec = importlib.util.spec_from_file_location(
        "requirements_coverage", REPO / "scripts" / "requirements_coverage.py")
    assert spec is not None and spec.loader is not None
    coverage = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = coverage  # dataclasses look their module up
    try:
        spec.loader.exec_module(coverage)
    finally:
        del sys.modules[spec.name]
    requirements = coverage.load_requirements()
    with pytest.raises(SystemExit, match=r"pas-2\.2\.1:spec-999"):
        coverage.render(requirements, {"pas-2.2.1:spec-999": ["tests/x.py::test_y"]})
    text = coverage.render(requirements, {"pas-2.2.1:spec-12": ["tests/x.py::test_y"]})
    assert "[spec-12]" in text and "`tests/x.py::test_y`" in text

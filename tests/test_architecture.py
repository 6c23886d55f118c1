"""The dependency rule and the purity of the core, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vertebro"
FORBIDDEN_CALLS = {"now", "today", "utcnow", "open", "print", "getenv", "urandom", "uuid4"}


def _core_files() -> list[Path]:
    return sorted((SRC / "core").rglob("*.py"))


def test_core_reads_no_clock_files_or_environment() -> None:
    offences = []
    for path in _core_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in FORBIDDEN_CALLS:
                    offences.append(f"{path.relative_to(SRC)}:{node.lineno} calls {name}()")
            if isinstance(node, ast.Attribute) and node.attr == "environ":
                offences.append(f"{path.relative_to(SRC)}:{node.lineno} reads environ")
    assert offences == []


def test_architecture_doc_names_every_module() -> None:
    doc = (SRC.parents[1] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules |= {
        p.name for p in (SRC / "core").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    modules |= {
        p.name for p in (SRC / "adapters").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    missing = sorted(m for m in modules if f"`{m}" not in doc)
    assert missing == [], f"docs/ARCHITECTURE.md does not mention: {missing}"

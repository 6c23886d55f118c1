"""Shared fixtures: the shipped policies (validated once per session) and paths to shared material."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertebro.adapters import policy_files
from vertebro.core.policy import Policy

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def carefirst() -> Policy:
    return policy_files.versions_of("carefirst")[-1].policy


@pytest.fixture(scope="session")
def nice() -> Policy:
    return policy_files.versions_of("nice")[-1].policy


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the repository")
    return SHARED

"""Fixtures of the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "dataset"

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_kflow_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Unit tests never write to the developer's own run history (~/.kflow)."""
    home = tmp_path_factory.mktemp("kflow-home")
    monkeypatch.setenv("KFLOW_HOME", str(home))
    return home

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kflow.backend import MemoryBackend
from kflow.backend_selection import set_backend


@pytest.fixture(autouse=True)
def _private_kflow_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Unit tests never write to the developer's own run history (~/.kflow)."""
    home = tmp_path_factory.mktemp("kflow-home")
    monkeypatch.setenv("KFLOW_HOME", str(home))
    return home


@pytest.fixture
def new_backend() -> MemoryBackend:
    """The backend `backend` installs; a module overrides this fixture to install another kind
    (e.g. `tests.support.sdk_runs.WatchedBackend`)."""
    return MemoryBackend()


@pytest.fixture
def backend(
    new_backend: MemoryBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MemoryBackend]:
    """`new_backend` as the process's backend for one test, with KFLOW_HOME in its tmp_path.

    Modules whose every test runs flows take it for all of them with
    `pytestmark = pytest.mark.usefixtures("backend")`; a test reads the recorded runs by
    naming it as an argument."""
    monkeypatch.setenv("KFLOW_HOME", str(tmp_path))
    set_backend(new_backend)
    yield new_backend
    set_backend(None)

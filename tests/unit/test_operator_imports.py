"""What starting the operator loads (issue 16: its RSS before it holds a single run)."""

from __future__ import annotations

import subprocess
import sys

CORE_API = "kubernetes.client.api.core_v1_api"


def test_importing_the_operator_leaves_the_core_api_unloaded() -> None:
    """The core API class pulls in ~250 pydantic models (~100 MiB of RSS): loaded only by the
    launchers and reads that use it, never by importing the operator."""
    probe = (
        "import sys, kflow_operator.main, kflow_operator.handlers as h; h.register_all(); "
        f"print({CORE_API!r} in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "False", result.stdout + result.stderr

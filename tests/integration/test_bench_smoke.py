"""The cluster benchmarks still run: each one's `--quick` mode against the test cluster, as a
user runs it (`python -m bench.…`), completes and prints its table. No timing is asserted
here: the figures belong to the benchmark's own full run, not to a test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 500


def run_quick(module: str, kubeconfig: Path, figures: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--json", str(figures)],
        cwd=ROOT,
        env=dict(os.environ, KUBECONFIG=str(kubeconfig)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    # 1 means a target was missed: a figure, which a test does not judge.
    assert done.returncode in (0, 1), f"{module} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_operator_latency_quick_prints_its_table(kubeconfig: Path, tmp_path: Path) -> None:
    done = run_quick("bench.operator_latency", kubeconfig, tmp_path / "figures.json")
    for row in (
        "created -> PENDING visible, p50 (n=5)",
        "cancel -> gone, flow ignores SIGTERM",
        "Prefect anchor",
        "created -> all terminal",
        "operator peak RSS",
    ):
        assert row in done.stdout, done.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    process = figures["launchers"][0]
    assert process["launcher"] == "process"
    assert len(process["pending"]) == 5, done.stdout
    assert figures["burst"]["lost"] == [], done.stdout


def test_schedule_accuracy_quick_prints_its_table(kubeconfig: Path, tmp_path: Path) -> None:
    done = run_quick("bench.schedule_accuracy", kubeconfig, tmp_path / "figures.json")
    for row in (
        "scheduled -> process started, p99",
        "after the last instant / twice / early",
        "anchor: CronJob / Prefect",
    ):
        assert row in done.stdout, done.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    interval, cron = figures["windows"]
    assert interval["started"], done.stdout
    assert len(cron["started"]) == 10, done.stdout

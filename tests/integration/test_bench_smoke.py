"""The cluster benchmarks still run: each one's `--quick` mode against the test cluster, as a
user runs it (`python -m bench.…`), completes and prints its table, with every launcher
measured. No timing target is asserted here: the figures belong to the benchmark's own full
run, not to a test. Figures the benchmark itself finds invalid (a latency below zero, a part
skipped) fail the test: that is exit code 3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.validity import NEGATIVE_TOLERANCE_SECONDS

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
    # 1 means a target was missed: a figure, which a test does not judge. 3 means invalid
    # figures: a negative latency or a part not measured, a bug of the benchmark or its setup.
    assert done.returncode in (0, 1), f"{module} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_operator_latency_quick_measures_every_launcher(
    node_cluster: Path, docker_engine: str, tmp_path: Path
) -> None:
    """The Docker and Job launchers' columns are measured too (the node and Docker tiers are
    brought up for them), so those paths cannot rot behind a "skipped"."""
    done = run_quick("bench.operator_latency", node_cluster, tmp_path / "figures.json")
    for row in (
        "created -> PENDING visible, p50 (n=5)",
        "cancel -> gone, flow ignores SIGTERM",
        "Prefect anchor",
        "created -> all terminal",
        "operator peak RSS",
    ):
        assert row in done.stdout, done.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    launchers = {launcher["launcher"]: launcher for launcher in figures["launchers"]}
    assert list(launchers) == ["process", "docker", "kubernetes-job"], done.stdout
    plan = figures["plan"]
    for name, prefix in (
        ("process", ""),
        ("docker", "container_"),
        ("kubernetes-job", "container_"),
    ):
        launcher = launchers[name]
        assert launcher["skipped"] is None, f"{name}: {launcher['skipped']}\n{done.stdout}"
        for latencies, runs in (
            (("started", "pending", "running"), plan[f"{prefix}launches"]),
            (("handles_gone", "ignores_gone", "ignores_cancelled"), plan[f"{prefix}cancels"]),
        ):
            for latency in latencies:
                values = launcher[latency]
                assert len(values) == runs, f"{name} {latency}: {values}\n{done.stdout}"
                assert min(values) >= -NEGATIVE_TOLERANCE_SECONDS, (
                    f"{name} {latency}: {values}\n{done.stdout}"
                )
    assert figures["burst"]["lost"] == [], done.stdout
    assert figures["invalid"] == [], done.stdout


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


def test_metrics_scrape_quick_prints_its_table(kubeconfig: Path, tmp_path: Path) -> None:
    done = run_quick("bench.metrics_scrape", kubeconfig, tmp_path / "figures.json")
    for row in ("/metrics p50 (50 scrapes)", "/metrics p99", "LIST"):
        assert row in done.stdout, done.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["runs_indexed"] == figures["plan"]["runs"] == 200, done.stdout
    assert len(figures["scrape_seconds"]) == 50, done.stdout
    assert figures["quiet_after_seconds"] is not None, done.stdout
    assert figures["invalid"] == [], done.stdout


def test_scale_quick_measures_one_operator_and_the_pair(kubeconfig: Path, tmp_path: Path) -> None:
    """bench.scale measures, at each N, one operator and two replicas sharing by work pool:
    every figure of the pair is read (no replica left unmeasured), and each run is counted as
    settled by exactly one replica."""
    done = run_quick("bench.scale", kubeconfig, tmp_path / "figures.json")
    for row in (
        "settle throughput (live -> all FAILED)",
        "restart, all terminal: spawn -> ready",
        "Two replicas sharing by work pool",
        "pair / one operator throughput (same N)",
        "peak RSS (VmHWM), pool-a / pool-b",
        "runs settled by another pool's replica",
    ):
        assert row in done.stdout, done.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["invalid"] == [], done.stdout
    counts = figures["plan"]["counts"]
    assert [point["runs"] for point in figures["points"]] == counts, done.stdout
    assert [pair["runs"] for pair in figures["pairs"]] == counts, done.stdout
    for pair in figures["pairs"]:
        assert [replica["pool"] for replica in pair["replicas"]] == ["pool-a", "pool-b"]
        assert pair["settled_own"] + pair["settled_others"] == pair["runs"], done.stdout
        assert pair["ratio"] > 0, done.stdout
        for replica in pair["replicas"]:
            assert replica["peak_rss_bytes"] > 0, done.stdout
            assert replica["flowrun_writes"] >= 0, done.stdout

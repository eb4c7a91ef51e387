"""The launch benchmark's fork server vs exec table: p50/p95 of created -> RUNNING for both,
their ratio and the p50 goal's verdict."""

from __future__ import annotations

from bench import launch_comparison, operator_latency
from bench.operator_latency import Burst, Figures, Plan


def test_the_table_shows_both_columns_the_ratio_and_the_goal() -> None:
    forked = [0.08, 0.09, 0.10, 0.12, 0.30]
    execd = [0.9, 1.0, 1.1, 1.2, 1.5]
    table = launch_comparison.render(forked, execd)
    p50 = next(line for line in table.splitlines() if "p50" in line)
    assert "100 ms" in p50 and "1.10 s" in p50 and "11.0x faster" in p50 and "PASS" in p50
    p95 = next(line for line in table.splitlines() if "p95" in line)
    assert "300 ms" in p95 and "1.50 s" in p95 and "5.0x faster" in p95


def test_a_slow_fork_server_fails_the_goal() -> None:
    assert not launch_comparison.passed([0.2, 0.3])
    assert "FAIL" in launch_comparison.render([0.2, 0.3], [1.0, 1.0])


def test_the_latency_report_prints_the_comparison_when_measured() -> None:
    process = Figures("process", running=[0.1, 0.12])
    execd = Figures(launch_comparison.EXEC_LABEL, running=[1.0, 1.1])
    report = operator_latency.Report(Plan.quick(), [process], Burst(10), 1 << 20, (), execd)
    assert "fork server" in operator_latency.render(report)
    assert "exec" in operator_latency.render(report)

"""Figures the latency benchmarks refuse to present: a latency below zero (beyond a process
start time's 10 ms tick), a run without a figure, a launcher skipped without being asked to."""

from __future__ import annotations

from bench import operator_latency, schedule_accuracy, validity
from bench.operator_latency import Burst, Figures, Plan
from bench.schedule_accuracy import Window


def latency_report(*launchers: Figures, left_out: tuple[str, ...] = ()) -> operator_latency.Report:
    burst = Burst(runs=1, drained_seconds=0.5, outcomes={"COMPLETED": 1})
    return operator_latency.Report(Plan.quick(), list(launchers), burst, 1 << 20, left_out)


def measured(launcher: str, started: float = 0.2) -> Figures:
    return Figures(
        launcher,
        started=[started, 0.15],
        pending=[0.1],
        running=[1.5],
        handles_gone=[0.3],
        ignores_gone=[2.1],
        ignores_cancelled=[2.2],
    )


def test_a_latency_may_read_one_tick_below_zero_not_more() -> None:
    assert validity.NEGATIVE_TOLERANCE_SECONDS == 0.01
    assert validity.negative_latencies("row", [0.2, -0.009]) == []
    [problem] = validity.negative_latencies("created -> started", [0.2, -0.862, -0.011])
    assert problem.startswith("created -> started: 2 of 3 values negative, down to -862 ms")
    assert "at most 10 ms below zero" in problem


def test_valid_latency_figures_pass() -> None:
    report = latency_report(measured("process"), measured("docker"), measured("kubernetes-job"))
    assert operator_latency.invalid_figures(report) == []


def test_a_negative_start_latency_names_its_row_and_launcher() -> None:
    report = latency_report(measured("process", started=-0.862), measured("docker"))
    [problem] = operator_latency.invalid_figures(report)
    assert problem.startswith("created -> infrastructure started, process: 1 of 2 values")


def test_a_skipped_launcher_is_invalid_unless_left_out() -> None:
    reason = "no Docker engine answers (start one: `uv run poe cluster-up --tier docker`)"
    report = latency_report(
        measured("process"),
        Figures("docker", skipped=reason),
        Figures("kubernetes-job", skipped=reason),
    )
    problems = operator_latency.invalid_figures(report)
    assert problems == [
        f"every row, docker: skipped: {reason} (`--skip-launcher docker` leaves it out on purpose)",
        f"every row, kubernetes-job: skipped: {reason} "
        "(`--skip-launcher kubernetes-job` leaves it out on purpose)",
    ]
    left_out = latency_report(measured("process"), left_out=("docker", "kubernetes-job"))
    assert operator_latency.invalid_figures(left_out) == []
    assert "docker: left out (--skip-launcher docker)" in operator_latency.render(left_out)


def test_a_completed_run_without_a_figure_is_invalid() -> None:
    figures = measured("process")
    figures.missing.append("process-launch-0003: no infrastructure start time found")
    [problem] = operator_latency.invalid_figures(latency_report(figures))
    assert problem == "process: process-launch-0003: no infrastructure start time found"


def test_a_run_started_before_its_schedule_is_invalid_and_early() -> None:
    window = Window("per-minute cron (2 Deployments)", {"a": [60.0], "b": [60.0]}, 1.0)
    window.started = [0.05, -0.9]
    window.pending = [0.1, 0.2]
    report = schedule_accuracy.Report(schedule_accuracy.Plan.quick(), [window], {})
    [problem] = schedule_accuracy.invalid_figures(report)
    assert problem.startswith(
        "per-minute cron (2 Deployments): scheduled -> process started: 1 of 2 values negative, "
        "down to -900 ms"
    )


def test_the_invalid_report_shows_the_first_lines_and_counts_the_rest() -> None:
    text = validity.report(
        "schedule_accuracy", [f"run {i}: no process recorded" for i in range(25)]
    )
    lines = text.splitlines()
    assert lines[0].startswith("schedule_accuracy: INVALID FIGURES (exit code 3)")
    assert lines[1:3] == ["  run 0: no process recorded", "  run 1: no process recorded"]
    assert lines[-1] == "  ... and 5 more"

"""SDK overhead: kflow against Prefect 3.9.1, measured in the same run on the same machine.

Every figure comes from fresh processes (median of --repeats runs). The empty flow is timed
from process start to exit. Per-call overheads are timed inside the process, (flow with N
calls - empty flow) / N, after a first flow has paid the one-off costs: a difference of whole
process times would drown kflow's microseconds in the noise of process start-up. What a
framework leaves for after the process's last flow shows in the history count instead.

Prefect runs with its default behaviour (a temporary server of its own) in a temporary
PREFECT_HOME. Two settings differ: its telemetry is off (this machine reaches no outside host),
and it waits up to 120 s instead of 20 s for its server to answer, so that a busy machine
slows the baseline down instead of aborting it (a server that starts sooner is not waited for).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench._workdir import bench_workdir
from bench.measure import Sample, WorkloadFailed, run_workload
from bench.prefect_env import PREFECT_VERSION, prefect_python

TASK_COUNT = 1000
KFLOW_SUBFLOW_COUNT = 200
PREFECT_SUBFLOW_COUNT = 10
RUN_TIMEOUT_SECONDS = 300.0


@dataclass
class Framework:
    name: str
    label: str
    python: Path
    env: dict[str, str]
    home: Path
    subflow_count: int
    count_task_runs: Callable[[Path, str], int]
    #: Prefect's temporary server may fail to start on a loaded machine (its own timeout):
    #: such a baseline run is tried again. A kflow failure is a bug and stops the benchmark.
    attempts: int = 1
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def run(self, scenario: str, count: int, workdir: Path, *, sample_tree: bool = False) -> Sample:
        index = len(self.samples.get(scenario, []))
        for attempt in range(1, self.attempts + 1):
            log = workdir / f"{self.name}-{scenario}-{index}-{attempt}.log"
            try:
                sample = run_workload(
                    self.python,
                    self.name,
                    scenario,
                    count,
                    self.env,
                    log,
                    RUN_TIMEOUT_SECONDS,
                    sample_tree=sample_tree,
                )
                break
            except WorkloadFailed as exc:
                if attempt == self.attempts:
                    raise
                _progress(f"{self.label}: {scenario} failed, trying again: {str(exc)[-300:]}")
        self.samples.setdefault(scenario, []).append(sample)
        return sample

    def median_wall(self, scenario: str) -> float:
        return statistics.median(s.wall_seconds for s in self.samples[scenario])

    def per_call(self, scenario: str, count: int) -> float:
        return statistics.median(
            (float(s.output["flow_seconds"]) - float(s.output["empty_flow_seconds"])) / count
            for s in self.samples[scenario]
            if s.tree_peak_rss_bytes is None
        )


def count_kflow_task_runs(home: Path, flow_run_id: str) -> int:
    with sqlite3.connect(home / "history.db") as db:
        row = db.execute(
            "SELECT count(*) FROM task_runs WHERE flow_run_id = ?", (flow_run_id,)
        ).fetchone()
    return int(row[0])


def count_prefect_task_runs(home: Path, flow_run_id: str) -> int:
    database = home / "prefect.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT count(*) FROM task_run WHERE flow_run_id = ?", (flow_run_id,)
        ).fetchone()
    return int(row[0])


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KFLOW_", "PREFECT_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def make_frameworks(workdir: Path, with_prefect: bool) -> list[Framework]:
    kflow_home = workdir / "kflow-home"
    frameworks = [
        Framework(
            name="kflow",
            label="kflow",
            python=Path(sys.executable),
            env=_base_env() | {"KFLOW_HOME": str(kflow_home)},
            home=kflow_home,
            subflow_count=KFLOW_SUBFLOW_COUNT,
            count_task_runs=count_kflow_task_runs,
        )
    ]
    if with_prefect:
        prefect_home = workdir / "prefect-home"
        frameworks.append(
            Framework(
                name="prefect",
                label=f"Prefect {PREFECT_VERSION}",
                python=prefect_python(),
                env=_base_env()
                | {
                    "PREFECT_HOME": str(prefect_home),
                    "DO_NOT_TRACK": "1",
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
                },
                home=prefect_home,
                subflow_count=PREFECT_SUBFLOW_COUNT,
                count_task_runs=count_prefect_task_runs,
                attempts=3,
            )
        )
    return frameworks


def measure(frameworks: Sequence[Framework], repeats: int, workdir: Path) -> None:
    for fw in frameworks:
        _progress(f"{fw.label}: warm-up run (creates its home and database)")
        fw.run("empty", 0, workdir)
        fw.samples.clear()
    for round_number in range(1, repeats + 1):
        for fw in frameworks:
            _progress(f"{fw.label}: round {round_number}/{repeats}")
            fw.run("import", 0, workdir)
            fw.run("empty", 0, workdir)
            fw.run("sequential", TASK_COUNT, workdir)
            fw.run("submit", TASK_COUNT, workdir)
            fw.run("subflow", fw.subflow_count, workdir)
    for fw in frameworks:
        _progress(f"{fw.label}: process-tree sampled run (RSS of all processes)")
        fw.run("sequential", TASK_COUNT, workdir, sample_tree=True)


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Row:
    metric: str
    values: list[float]
    unit: str
    target: str = ""
    passed: bool | None = None


def _history_count(fw: Framework, scenario: str) -> float:
    counts = [
        fw.count_task_runs(fw.home, s.output["flow_run_id"])
        for s in fw.samples[scenario]
        if s.tree_peak_rss_bytes is None
    ]
    return float(min(counts))


def _tree_sample(fw: Framework) -> Sample:
    return next(s for s in fw.samples["sequential"] if s.tree_peak_rss_bytes is not None)


def build_rows(frameworks: Sequence[Framework]) -> list[Row]:
    kflow = frameworks[0]
    prefect = frameworks[1] if len(frameworks) > 1 else None

    def values(get: Callable[[Framework], float]) -> list[float]:
        return [get(fw) for fw in frameworks]

    def import_s(fw: Framework) -> float:
        return float(statistics.median(s.output["import_seconds"] for s in fw.samples["import"]))

    def seq(fw: Framework) -> float:
        return fw.per_call("sequential", TASK_COUNT)

    def sub(fw: Framework) -> float:
        return fw.per_call("submit", TASK_COUNT)

    def subflow(fw: Framework) -> float:
        return fw.per_call("subflow", fw.subflow_count)

    def times_below(get: Callable[[Framework], float], factor: int, limit: float) -> bool | None:
        within = 0 < get(kflow) < limit
        if prefect is None:
            return within
        return within and get(kflow) * factor <= get(prefect)

    def rss(fw: Framework) -> float:
        return float(statistics.median(s.peak_rss_bytes for s in fw.samples["sequential"]))

    def tree_rss(fw: Framework) -> float:
        return float(_tree_sample(fw).tree_peak_rss_bytes or 0)

    def processes(fw: Framework) -> float:
        return float(_tree_sample(fw).processes_seen or 0)

    return [
        Row("import time", values(import_s), "s", "< 0.15 s", import_s(kflow) < 0.15),
        Row(
            "empty flow, process start to exit",
            values(lambda fw: fw.median_wall("empty")),
            "s",
            "< 0.3 s",
            kflow.median_wall("empty") < 0.3,
        ),
        Row(
            f"per task, {TASK_COUNT:,} sequential calls",
            values(seq),
            "s",
            ">= 50x below, < 100 us",
            times_below(seq, 50, 100e-6),
        ),
        Row(
            f"per task, {TASK_COUNT:,} .submit()s",
            values(sub),
            "s",
            ">= 130x below, < 50 us",
            times_below(sub, 130, 50e-6),
        ),
        Row("per subflow", values(subflow), "s", "< 1 ms", 0 < subflow(kflow) < 1e-3),
        Row("peak RSS, flow process", values(rss), "B"),
        Row("peak RSS, all processes", values(tree_rss), "B"),
        Row(
            "processes (flow + any server)",
            values(processes),
            "",
            "1: no background server",
            processes(kflow) == 1,
        ),
        Row(
            f"task runs in history after exit, of {TASK_COUNT:,} sequential",
            values(lambda fw: _history_count(fw, "sequential")),
            "",
            f"all {TASK_COUNT:,}",
            _history_count(kflow, "sequential") == TASK_COUNT,
        ),
        Row(
            f"task runs in history after exit, of {TASK_COUNT:,} submitted",
            values(lambda fw: _history_count(fw, "submit")),
            "",
            f"all {TASK_COUNT:,}",
            _history_count(kflow, "submit") == TASK_COUNT,
        ),
    ]


def _format(value: float, unit: str) -> str:
    if unit == "s":
        if value >= 1:
            return f"{value:.2f} s"
        if value >= 1e-3:
            return f"{value * 1e3:.1f} ms"
        return f"{value * 1e6:.0f} us"
    if unit == "B":
        return f"{value / 2**20:.0f} MiB"
    return f"{value:.0f}"


def _ratio(kflow_value: float, other: float) -> str:
    if kflow_value <= 0 or other <= 0:
        return "-"
    ratio = kflow_value / other
    return f"1/{1 / ratio:.0f}" if ratio < 1 else f"{ratio:.2f}"


def render(frameworks: Sequence[Framework], rows: Sequence[Row]) -> str:
    header = ["metric", *(fw.label for fw in frameworks)]
    if len(frameworks) > 1:
        header.append("kflow/Prefect")
    header += ["kflow target", "result"]
    table = [header]
    for row in rows:
        line = [row.metric, *(_format(v, row.unit) for v in row.values)]
        if len(frameworks) > 1:
            line.append(_ratio(row.values[0], row.values[1]))
        verdict = "" if row.passed is None else ("PASS" if row.passed else "FAIL")
        line += [row.target, verdict]
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sdk_overhead", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--no-prefect", action="store_true", help="measure kflow only (no baseline, no ratios)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.repeats <= 20:
        parser.error("--repeats must be between 1 and 20")
    with bench_workdir("sdk_overhead") as workdir:
        frameworks = make_frameworks(workdir, with_prefect=not args.no_prefect)
        measure(frameworks, args.repeats, workdir)
        rows = build_rows(frameworks)
    print(render(frameworks, rows))
    print(
        f"\nmedian of {args.repeats} fresh processes per figure; per call = (flow with N calls -"
        f" empty flow) / N, timed in the process after a first flow; N = {TASK_COUNT} tasks,"
        f" subflows: N = " + ", ".join(f"{fw.subflow_count} ({fw.label})" for fw in frameworks)
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "frameworks": [fw.label for fw in frameworks],
                    "rows": [r.__dict__ for r in rows],
                },
                indent=2,
            )
        )
    failed = [r.metric for r in rows if r.passed is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

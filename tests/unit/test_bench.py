"""The benchmark's own machinery: the Prefect install fallback, one measured run, the table."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from bench.measure import run_workload
from bench.prefect_env import _requirements_with_newest_certifi
from bench.sdk_overhead import Row, _format, _ratio, count_kflow_task_runs


def test_prefect_requirements_keep_everything_but_the_certifi_pin(tmp_path: Path) -> None:
    wheel = tmp_path / "prefect-3.9.1-py3-none-any.whl"
    metadata = "\n".join(
        [
            "Metadata-Version: 2.4",
            "Name: prefect",
            "Requires-Dist: anyio<5.0.0,>=4.4.0",
            "Requires-Dist: certifi>=2026.10.19",
            "Requires-Dist: pendulum<4,>=3.1.0; python_version < '3.13'",
            "Requires-Dist: prefect-aws>=0.5.8; extra == 'aws'",
        ]
    )
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("prefect-3.9.1.dist-info/METADATA", metadata)
    assert _requirements_with_newest_certifi(wheel) == [
        "anyio<5.0.0,>=4.4.0",
        "certifi",
        "pendulum<4,>=3.1.0; python_version < '3.13'",
    ]


def test_a_kflow_workload_is_measured_and_fully_recorded(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(tmp_path / "home")
    sample = run_workload(
        Path(sys.executable),
        "kflow",
        "submit",
        20,
        env,
        tmp_path / "run.log",
        60.0,
        sample_tree=True,
    )
    assert sample.wall_seconds > 0
    assert sample.peak_rss_bytes > 1 << 20
    assert sample.processes_seen == 1
    assert sample.tree_peak_rss_bytes is not None and sample.tree_peak_rss_bytes > 0
    assert count_kflow_task_runs(tmp_path / "home", sample.output["flow_run_id"]) == 20


def test_table_cells() -> None:
    assert _format(0.000042, "s") == "42 us"
    assert _format(0.0058, "s") == "5.8 ms"
    assert _format(8.04, "s") == "8.04 s"
    assert _format(3 * 2**20, "B") == "3 MiB"
    assert _ratio(40e-6, 5.8e-3) == "1/145"
    assert _ratio(1000, 40) == "25.00"
    assert Row("m", [1.0], "s").passed is None

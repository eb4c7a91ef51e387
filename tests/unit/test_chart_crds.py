"""The chart ships a copy of crds/ (Helm installs its crds/ directory before the templates).

A copy, not a symlink: helm follows a symlinked crds/ but warns on every command, and a checkout
without symlink support (Windows, some CI caches) would silently ship a chart with no CRDs.
This test keeps the copy honest instead.
"""

from __future__ import annotations

from tests.support.chart import CHART, TOP_LEVEL_CRDS

SYNC_HINT = "run: cp crds/*.yaml charts/kflow/crds/ (crds/ is the single source)"


def test_the_chart_carries_exactly_the_top_level_crds() -> None:
    source = {p.name: p.read_bytes() for p in TOP_LEVEL_CRDS.glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").iterdir()}
    assert sorted(chart) == sorted(source), f"CRD files differ; {SYNC_HINT}"
    stale = [name for name in source if chart[name] != source[name]]
    assert not stale, f"charts/kflow/crds/ is out of date for {stale}; {SYNC_HINT}"

"""The chart ships a copy of crds/ (Helm installs its crds/ directory before the templates).

A copy, not a symlink: helm follows a symlinked crds/ but warns on every command, and a checkout
without symlink support (Windows, some CI caches) would silently ship a chart with no CRDs.
This test keeps the copy honest instead.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.chart import CHART, TOP_LEVEL_CRDS, helm

SYNC_HINT = "run: cp crds/*.yaml charts/kflow/crds/ (crds/ is the single source)"


def test_the_chart_carries_exactly_the_top_level_crds() -> None:
    source = {p.name: p.read_bytes() for p in TOP_LEVEL_CRDS.glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").iterdir()}
    assert sorted(chart) == sorted(source), f"CRD files differ; {SYNC_HINT}"
    stale = [name for name in source if chart[name] != source[name]]
    assert not stale, f"charts/kflow/crds/ is out of date for {stale}; {SYNC_HINT}"


def test_the_packaged_chart_installs_the_crds(tmp_path: Path) -> None:
    """What `helm package` ships (and a registry serves) still carries every CRD."""
    helm("package", str(CHART), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("kflow-*.tgz")
    rendered = helm("template", "kflow", str(package), "--include-crds")
    names = {
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "CustomResourceDefinition"
    }
    expected = {
        doc["metadata"]["name"]
        for path in TOP_LEVEL_CRDS.glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    assert expected <= names, f"missing from the package: {expected - names}"

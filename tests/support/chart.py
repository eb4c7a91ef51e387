"""The kflow Helm chart as tests use it: helm itself, rendering, and the chart's paths.

helm comes from the cluster harness (`tests.cluster.tools.helm`), which fetches a pinned
static binary on first use, so a fresh machine needs nothing installed beforehand.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.cluster import tools

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kflow"
TOP_LEVEL_CRDS = REPO / "crds"


class HelmError(RuntimeError):
    """helm exited non-zero; the message carries the command and helm's stderr."""


def helm(*args: str, kubeconfig: Path | None = None, timeout: float = 300) -> str:
    env = dict(os.environ)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    proc = subprocess.run(
        [str(tools.helm()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise HelmError(f"helm {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc.stdout


def set_flags(values: Mapping[str, str | int | bool]) -> list[str]:
    """`--set key=value` for each entry (lists as {a,b}, as users type them)."""
    flags: list[str] = []
    for key, value in values.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        flags += ["--set", f"{key}={text}"]
    return flags


@dataclass(frozen=True)
class Rendered:
    """The objects `helm template` produced, looked up by kind (and name/namespace)."""

    objects: Sequence[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, namespace: str | None = None) -> dict[str, Any]:
        matches = [
            o
            for o in self.of_kind(kind)
            if namespace is None or o["metadata"].get("namespace") == namespace
        ]
        assert len(matches) == 1, f"expected one {kind} (namespace {namespace}), got {matches}"
        return matches[0]

    def operator_container(self) -> dict[str, Any]:
        deployment = self.one("Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        return dict(container)


def render(
    values: Mapping[str, str | int | bool] | None = None,
    *extra: str,
    release: str = "kflow",
    namespace: str = "kflow-system",
) -> Rendered:
    out = helm(
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        *set_flags(values or {}),
        *extra,
    )
    return Rendered([doc for doc in yaml.safe_load_all(out) if doc])

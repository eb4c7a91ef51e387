"""`work_pools:` in kflow.yaml: pools a project defines next to its deployments, applied by
`kflow deploy` before them (so a deployment's `work_pool` names a pool that exists).

    work_pools:
      - name: k8s
        type: kubernetes-job
        concurrencyLimit: 5
        infrastructure: {image: "python:3.12", job: {nodeSelector: {disk: ssd}}}
        namespace: default          # optional: else --namespace, else the kube context's

Every key but `name` and `namespace` is a WorkPool spec field in the CRD's camelCase, checked
by `WorkPoolSpec`. Only the keys written are applied (server-side apply), so a pool paused
with `kflow work-pool pause` stays paused unless the file says `paused:`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kflow.cli.deploy_checks import Problems, check_keys, check_model, keys_of
from kflow.resources import API_VERSION, WORKPOOL_KIND, WorkPoolSpec
from kflow.resources.workpool import POOL_NAME_PATTERN

if TYPE_CHECKING:
    from kflow.cli.deploy_file import Entry

KIND = "work pool"


def pool_manifests(
    path: Path, entries: Sequence[Entry], default_namespace: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The WorkPool resources of `entries`, and every problem found in them."""
    manifests = []
    lines: list[str] = []
    for entry in entries:
        problems = Problems(path, entry.name, kind=KIND)
        manifests.append(_manifest(entry, problems, default_namespace))
        lines.extend(problems.lines)
    return manifests, lines


def _manifest(entry: Entry, problems: Problems, default_namespace: str | None) -> dict[str, Any]:
    raw = entry.raw
    spec_keys = keys_of(WorkPoolSpec)
    check_keys(raw, ["name", "namespace", *spec_keys], "", problems)
    if len(entry.name) > 63 or not re.match(POOL_NAME_PATTERN, entry.name):
        problems.add(
            "name",
            "must be a pool name: lowercase letters, digits and '-', starting and ending with a "
            "letter or digit, at most 63 (e.g. 'k8s')",
        )
    spec = {key: value for key, value in raw.items() if key in spec_keys}
    check_model(WorkPoolSpec, spec, "", problems)
    metadata: dict[str, Any] = {"name": entry.name}
    namespace = raw.get("namespace") or default_namespace
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": WORKPOOL_KIND, "metadata": metadata, "spec": spec}

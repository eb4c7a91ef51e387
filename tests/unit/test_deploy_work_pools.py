"""kflow.yaml and work pools, without a cluster: a deployment's `work_pool` (the original
README's key) or `workPool`, Prefect's `job_variables` mapped onto `infrastructure`, and
`work_pools:` defined in the file, each mistake a located line."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from kflow.cli import main
from kflow.cli.deploy_file import DeployError, FileProblems, build_manifests, load_file, select

FLOW_SOURCE = """
from kflow import flow


@flow
def greet(name: str = "x") -> None:
    pass
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows.py").write_text(FLOW_SOURCE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project: Path, body: str) -> Path:
    path = project / "kflow.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def manifests(path: Path, *names: str) -> list[dict[str, Any]]:
    file = load_file(path)
    return build_manifests(file, select(file, names, not names), None)


def problems(path: Path) -> list[str]:
    with pytest.raises(FileProblems) as caught:
        manifests(path)
    return caught.value.problems


def test_work_pool_as_the_original_readme_writes_it_needs_no_infrastructure_type(
    project: Path,
) -> None:
    path = write(
        project,
        """
        deployments:
          - name: nightly
            entrypoint: flows.py:greet
            work_pool: {name: k8s}
        """,
    )
    (deployment,) = manifests(path)
    assert deployment["spec"]["workPool"] == {"name": "k8s"}
    assert "infrastructure" not in deployment["spec"], "the pool decides the type"


def test_the_spec_field_workpool_is_accepted_too_and_not_both(project: Path) -> None:
    path = write(
        project,
        """
        deployments:
          - {name: a, entrypoint: flows.py:greet, workPool: {name: k8s}}
        """,
    )
    assert manifests(path)[0]["spec"]["workPool"] == {"name": "k8s"}
    both = write(
        project,
        """
        deployments:
          - {name: a, entrypoint: flows.py:greet, workPool: {name: k8s}, work_pool: {name: k8s}}
        """,
    )
    assert problems(both) == [
        f"{both}: deployment a: work_pool: give `work_pool` or `workPool`, not both"
    ]


def test_without_a_pool_the_default_is_still_a_process_run(project: Path) -> None:
    path = write(project, "deployments:\n  - {name: a, entrypoint: flows.py:greet}\n")
    assert manifests(path)[0]["spec"]["infrastructure"] == {"type": "process"}


def test_job_variables_become_the_deployments_own_infrastructure(project: Path) -> None:
    path = write(
        project,
        """
        deployments:
          - name: etl
            entrypoint: flows.py:greet
            infrastructure: {command: [python, -m, kflow]}
            work_pool:
              name: k8s
              job_variables:
                image: python:3.12
                env: {STAGE: prod}
                image_pull_policy: Always
                service_account_name: runner
                node_selector: {disk: ssd}
                finished_job_ttl: 600
                cpu_request: 500m
                result_storage: {volume: {mountPath: /results, claimName: results}}
        """,
    )
    (deployment,) = manifests(path)
    assert deployment["spec"]["infrastructure"] == {
        "command": ["python", "-m", "kflow"],
        "image": "python:3.12",
        "env": {"STAGE": "prod"},
        "imagePullPolicy": "Always",
        "resultStorage": {"volume": {"mountPath": "/results", "claimName": "results"}},
        "job": {
            "serviceAccountName": "runner",
            "nodeSelector": {"disk": "ssd"},
            "ttlSecondsAfterFinished": 600,
            "resources": {"requests": {"cpu": "500m"}},
        },
    }


def test_a_job_variable_kflow_has_no_field_for_is_refused_in_words(project: Path) -> None:
    path = write(
        project,
        """
        deployments:
          - name: etl
            entrypoint: flows.py:greet
            infrastructure: {env: {STAGE: dev}}
            work_pool:
              name: k8s
              job_variables:
                stream_output: true
                namespace: other
                env: {STAGE: prod}
                image_pull_policy: Sometimes
        """,
    )
    found = problems(path)
    prefix = f"{path}: deployment etl: work_pool.job_variables"
    assert found[0].startswith(f"{prefix}.stream_output: kflow has no such setting; "), found
    assert "nodeSelector" in found[0] and "see docs/work-pools.md" in found[0]
    assert found[1] == (
        f"{prefix}.namespace: runs execute in their Deployment's namespace: set the "
        "deployment's `namespace` (or --namespace) instead"
    )
    assert found[2].startswith(f"{prefix}.imagePullPolicy: Input should be 'Always'"), found
    assert found[3] == f"{prefix}: sets infrastructure.env.STAGE, which `infrastructure` sets too"
    assert len(found) == 4


def test_work_pools_in_the_file_come_first_with_only_the_keys_written(project: Path) -> None:
    path = write(
        project,
        """
        work_pools:
          - name: k8s
            type: kubernetes-job
            concurrencyLimit: 2
            infrastructure: {image: python:3.12, job: {tolerations: [{key: gpu}]}}
            namespace: team-a
        deployments:
          - {name: etl, entrypoint: flows.py:greet, work_pool: {name: k8s}}
        """,
    )
    pool, deployment = manifests(path, "etl")
    assert pool == {
        "apiVersion": "kflow.dev/v1alpha1",
        "kind": "WorkPool",
        "metadata": {"name": "k8s", "namespace": "team-a"},
        "spec": {
            "type": "kubernetes-job",
            "concurrencyLimit": 2,
            "infrastructure": {"image": "python:3.12", "job": {"tolerations": [{"key": "gpu"}]}},
        },
    }
    assert "paused" not in pool["spec"], "a pool paused from the CLI stays paused"
    assert deployment["kind"] == "Deployment"


def test_a_file_of_pools_only_is_a_file(project: Path) -> None:
    path = write(project, "work_pools:\n  - {name: p, type: process}\n")
    file = load_file(path)
    assert [m["kind"] for m in build_manifests(file, [], None)] == ["WorkPool"]


def test_pool_mistakes_are_located_lines(project: Path) -> None:
    path = write(
        project,
        """
        work_pools:
          - {name: Bad, type: k8s, concurrencyLimit: -1, concurrency_limit: 2}
          - {type: process}
        deployments: []
        """,
    )
    found = problems(path)
    assert found[0] == f"{path}: work_pools[1]: name: required (a string)"
    at = f"{path}: work pool Bad:"
    assert f"{at} concurrency_limit: unknown key; did you mean `concurrencyLimit`? " in found[1]
    assert found[2].startswith(f"{at} name: must be a pool name")
    assert found[3] == (
        f"{at} type: Input should be 'kubernetes-job', 'docker' or 'process' (got 'k8s')"
    )
    assert found[4] == f"{at} concurrencyLimit: Input should be greater than or equal to 0 (got -1)"


def test_dry_run_prints_the_pools_then_the_deployments(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        project,
        """
        work_pools:
          - {name: proc, type: process, paused: true}
        deployments:
          - {name: etl, entrypoint: flows.py:greet, work_pool: {name: proc}}
        """,
    )
    assert main(["deploy", "--all", "--dry-run"]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("WorkPool", "proc"),
        ("Deployment", "etl"),
    ]


def test_work_pools_must_be_a_list(project: Path) -> None:
    path = write(project, "work_pools: {name: p}\ndeployments: []\n")
    with pytest.raises(DeployError, match="work_pools: expected a list of pools"):
        manifests(path)


def test_work_pools_may_be_spelt_workpools_too(project: Path) -> None:
    path = write(project, "workPools:\n  - {name: p, type: process}\n")
    assert [m["kind"] for m in build_manifests(load_file(path), [], None)] == ["WorkPool"]
    both = write(project, "workPools: []\nwork_pools: []\ndeployments: []\n")
    with pytest.raises(DeployError, match="give `work_pools` or `workPools`, not both"):
        load_file(both)

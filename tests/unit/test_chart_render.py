"""`helm template` of the chart for the main value combinations, checked object by object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from kflow_operator.settings import OperatorSettings

from tests.support.chart import CHART, Rendered, render

NAMESPACED = {"watchNamespaces": "{team-a,team-b}"}
DOCKER_ONLY = {"launchers.kubernetesJob.enabled": False, "launchers.docker.enabled": True}


def rules_of(role: dict[str, Any]) -> list[tuple[str, str, frozenset[str]]]:
    """(apiGroup, resource, verbs) for every resource a Role/ClusterRole grants."""
    return [
        (group, resource, frozenset(rule["verbs"]))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    ]


def granted(role: dict[str, Any], group: str, resource: str) -> frozenset[str]:
    verbs: set[str] = set()
    for g, r, v in rules_of(role):
        if (g, r) == (group, resource):
            verbs |= v
    return frozenset(verbs)


def args_of(chart: Rendered) -> list[str]:
    return list(chart.operator_container()["args"])


def env_of(chart: Rendered) -> dict[str, str]:
    return {e["name"]: e["value"] for e in chart.operator_container()["env"]}


def pod_spec(chart: Rendered) -> dict[str, Any]:
    return dict(chart.one("Deployment")["spec"]["template"]["spec"])


def test_by_default_the_operator_serves_every_namespace_with_a_cluster_role() -> None:
    chart = render()
    role = chart.one("ClusterRole")
    binding = chart.one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kflow", "namespace": "kflow-system"}
    ]
    assert chart.one("ServiceAccount", "kflow-system")["metadata"]["name"] == "kflow"
    assert granted(role, "kflow.dev", "flowruns") >= {"get", "list", "watch", "patch", "create"}
    assert granted(role, "kflow.dev", "flowruns/status") >= {"get", "patch"}
    assert granted(role, "kflow.dev", "deployments") >= {"get", "list", "watch", "patch"}
    assert granted(role, "kopf.dev", "clusterkopfpeerings") >= {"get", "list", "watch", "patch"}
    assert not chart.of_kind("Role") and not chart.of_kind("RoleBinding")
    assert "--all-namespaces" in args_of(chart)
    assert not [a for a in args_of(chart) if a.startswith("--namespace")]
    (peering,) = chart.of_kind("ClusterKopfPeering")
    assert peering["metadata"]["name"] == "kflow"
    assert not chart.of_kind("KopfPeering")


def test_listed_namespaces_get_a_role_each_and_nothing_namespaced_cluster_wide() -> None:
    chart = render(NAMESPACED)
    for namespace in ("team-a", "team-b"):
        role = chart.one("Role", namespace)
        binding = chart.one("RoleBinding", namespace)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"][0]["namespace"] == "kflow-system"
        assert granted(role, "kflow.dev", "flowruns") >= {"get", "list", "watch", "patch"}
        assert granted(role, "kopf.dev", "kopfpeerings") >= {"get", "list", "watch", "patch"}
        assert chart.one("KopfPeering", namespace)["metadata"]["name"] == "kflow"
    cluster_role = chart.one("ClusterRole")
    namespaced_groups = {g for g, _, _ in rules_of(cluster_role)} & {"kflow.dev", "batch"}
    assert not namespaced_groups, "a namespaced install must not grant runs cluster-wide"
    assert ("", "pods") not in {(g, r) for g, r, _ in rules_of(cluster_role)}
    assert granted(cluster_role, "", "namespaces") == {"list", "watch", "get"}, (
        "Kopf lists namespaces when serving a list of them; refused, it stalls a minute"
    )
    assert not chart.of_kind("ClusterKopfPeering")
    args = args_of(chart)
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    assert "--all-namespaces" not in args


def test_the_job_launcher_brings_rights_on_jobs_pods_and_the_flow_pods_identity() -> None:
    role = render().one("ClusterRole")
    assert granted(role, "batch", "jobs") >= {"create", "get", "list", "watch", "delete"}
    assert granted(role, "", "pods") >= {"get", "list", "watch", "delete"}
    assert granted(role, "batch", "jobs") >= {"patch"}, "Jobs start suspended and are released"
    assert granted(role, "", "pods") >= {"patch"}, "pods are marked stop-requested"
    for group, resource in (
        ("", "serviceaccounts"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
    ):
        assert "create" in granted(role, group, resource)
    assert "get" in granted(role, "", "serviceaccounts"), (
        "the launcher reads the flow ServiceAccount to notice a namespace made anew"
    )
    kube_system = [r for r in role["rules"] if r["resources"] == ["namespaces"]]
    assert kube_system == [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": ["kube-system"],
            "verbs": ["get"],
        }
    ]
    assert "list" in granted(role, "", "events"), (
        "why a Job has no pod is only in the Job controller's FailedCreate Events"
    )
    args = args_of(render())
    assert "--launchers=kubernetes-job" in args and "--no-flow-service-accounts" not in args
    assert "--job-image-pull-deadline=120" in args


@pytest.mark.parametrize("values", [{}, NAMESPACED])
def test_the_operator_holds_every_right_it_grants_flow_pods(
    values: dict[str, str | int | bool],
) -> None:
    """RBAC refuses to create a Role granting more than its creator holds (no `escalate`)."""
    from kflow_operator.launchers.flow_account import FLOW_ROLE_RULES

    chart = render(values)
    operator_role = chart.one("Role", "team-a") if values else chart.one("ClusterRole")
    for rule in FLOW_ROLE_RULES:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                missing = set(rule["verbs"]) - granted(operator_role, group, resource)
                assert not missing, f"operator lacks {sorted(missing)} on {group}/{resource}"


def test_flow_service_accounts_off_takes_their_rights_away() -> None:
    chart = render({"launchers.kubernetesJob.flowServiceAccounts": False})
    resources = {(g, r) for g, r, _ in rules_of(chart.one("ClusterRole"))}
    assert ("", "serviceaccounts") not in resources
    assert ("rbac.authorization.k8s.io", "roles") not in resources
    assert ("rbac.authorization.k8s.io", "rolebindings") not in resources
    assert ("batch", "jobs") in resources
    assert "--no-flow-service-accounts" in args_of(chart)


@pytest.mark.parametrize("values", [DOCKER_ONLY, {**DOCKER_ONLY, **NAMESPACED}])
def test_without_the_job_launcher_the_operator_gets_no_rights_on_workloads(
    values: dict[str, str | int | bool],
) -> None:
    chart = render(values)
    for role in chart.of_kind("ClusterRole") + chart.of_kind("Role"):
        resources = {(g, r) for g, r, _ in rules_of(role)}
        for workload in (("batch", "jobs"), ("", "pods")):
            assert workload not in resources, f"{workload} granted by {role['metadata']}"
    assert "--launchers=docker" in args_of(chart)
    assert "--docker-host=unix:///var/run/docker.sock" in args_of(chart)
    assert not [a for a in args_of(chart) if a.startswith("--job-")]


@pytest.mark.parametrize("values", [DOCKER_ONLY, {**DOCKER_ONLY, **NAMESPACED}])
def test_docker_runs_get_tokens_of_the_flow_account_only(
    values: dict[str, str | int | bool],
) -> None:
    """Each container gets a short-lived token of kflow-flow-run (never the operator's own
    credentials): the operator may make that account and create tokens of it, of no other."""
    chart = render(values)
    roles = chart.of_kind("Role") if "watchNamespaces" in values else chart.of_kind("ClusterRole")
    for role in roles:
        token_rules = [
            rule for rule in role["rules"] if "serviceaccounts/token" in rule["resources"]
        ]
        if not token_rules:
            continue
        (rule,) = token_rules
        assert rule["verbs"] == ["create"] and rule["resourceNames"] == ["kflow-flow-run"]
        assert granted(role, "", "serviceaccounts") == {"get", "create"}
        assert granted(role, "rbac.authorization.k8s.io", "roles") == {"create", "patch"}
        break
    else:
        raise AssertionError("no role lets the operator create tokens of kflow-flow-run")
    off = render({**values, "launchers.kubernetesJob.flowServiceAccounts": False})
    assert "--no-flow-service-accounts" in args_of(off)


def test_without_the_docker_launcher_no_token_is_ever_created() -> None:
    chart = render({})
    for role in chart.of_kind("ClusterRole") + chart.of_kind("Role"):
        assert ("", "serviceaccounts/token") not in {(g, r) for g, r, _ in rules_of(role)}


def test_the_docker_launcher_reaches_the_nodes_socket_as_its_group() -> None:
    chart = render({**DOCKER_ONLY, "launchers.docker.socketGroup": 998})
    spec = pod_spec(chart)
    (socket,) = [v for v in spec["volumes"] if v["name"] == "docker-socket"]
    assert socket["hostPath"] == {"path": "/var/run/docker.sock", "type": "Socket"}
    mounts = {m["name"]: m["mountPath"] for m in chart.operator_container()["volumeMounts"]}
    assert mounts["docker-socket"] == "/var/run/docker.sock"
    assert spec["securityContext"]["supplementalGroups"] == [998]


def test_a_remote_docker_engine_mounts_nothing_from_the_node() -> None:
    chart = render({**DOCKER_ONLY, "launchers.docker.host": "tcp://docker.example:2376"})
    assert "--docker-host=tcp://docker.example:2376" in args_of(chart)
    assert not [v for v in pod_spec(chart)["volumes"] if "hostPath" in v]
    assert "supplementalGroups" not in pod_spec(chart)["securityContext"]


def test_without_the_docker_launcher_there_is_no_docker_host_and_no_socket() -> None:
    chart = render()
    assert not [a for a in args_of(chart) if a.startswith("--docker")]
    assert not [v for v in pod_spec(chart)["volumes"] if "hostPath" in v]


PROCESS_ONLY = {"launchers.kubernetesJob.enabled": False, "launchers.process.enabled": True}
ALL_LAUNCHERS = {"launchers.process.enabled": True, "launchers.docker.enabled": True}


@pytest.mark.parametrize(
    ("values", "launchers"),
    [
        ({}, {"kubernetes-job"}),
        (DOCKER_ONLY, {"docker"}),
        (PROCESS_ONLY, {"process"}),
        ({"launchers.process.enabled": True}, {"kubernetes-job", "process"}),
        ({"launchers.docker.enabled": True}, {"kubernetes-job", "docker"}),
        ({**DOCKER_ONLY, "launchers.process.enabled": True}, {"docker", "process"}),
        (ALL_LAUNCHERS, {"kubernetes-job", "docker", "process"}),
    ],
    ids=["default", "docker", "process", "job+process", "job+docker", "docker+process", "all"],
)
def test_the_operator_builds_exactly_the_enabled_launchers(
    values: dict[str, str | int | bool], launchers: set[str]
) -> None:
    from kflow_operator.main import parse_args

    args = parse_args(args_of(render(values)))
    assert {t.value for t in args.launchers} == launchers


def test_process_runs_are_off_by_default_the_operator_image_has_no_user_code() -> None:
    from kflow_operator.main import parse_args

    assert "process" not in {t.value for t in parse_args(args_of(render())).launchers}


def test_process_runs_are_forked_unless_the_chart_turns_the_fork_server_off() -> None:
    from kflow_operator.main import parse_args

    assert parse_args(args_of(render(PROCESS_ONLY))).process_fork_server is True
    off = args_of(render({**PROCESS_ONLY, "launchers.process.forkServer": False}))
    assert "--no-process-fork-server" in off
    assert parse_args(off).process_fork_server is False


def test_the_process_launcher_alone_needs_no_rights_beyond_kflows_own() -> None:
    """Launcher rights only: notifications' own (`get` on Secrets) are checked apart."""
    variants: list[Mapping[str, str | int | bool]] = [PROCESS_ONLY, {**PROCESS_ONLY, **NAMESPACED}]
    for values in variants:
        chart = render({**values, "notifications.enabled": False})
        for role in chart.of_kind("ClusterRole") + chart.of_kind("Role"):
            groups = {g for g, _, _ in rules_of(role)}
            assert groups <= {"kflow.dev", "kopf.dev", "apiextensions.k8s.io", ""}, groups
            core = {r for g, r, _ in rules_of(role) if g == ""}
            assert core <= {"events", "namespaces"}, core
            assert not [r for r in role["rules"] if r.get("resourceNames") == ["kube-system"]], (
                "only the Job and Docker launchers identify the cluster"
            )
        assert not [v for v in pod_spec(chart)["volumes"] if "hostPath" in v]


def test_all_launchers_at_once_get_each_ones_rights() -> None:
    chart = render({**ALL_LAUNCHERS, "launchers.docker.socketGroup": 998})
    role = chart.one("ClusterRole")
    assert "create" in granted(role, "batch", "jobs")
    assert "delete" in granted(role, "", "pods")
    assert pod_spec(chart)["securityContext"]["supplementalGroups"] == [998]
    assert "--docker-host=unix:///var/run/docker.sock" in args_of(chart)
    assert "--job-image-pull-deadline=120" in args_of(chart)


def test_run_defaults_reach_the_operator() -> None:
    from kflow_operator.main import parse_args, settings_from

    chart = render(
        {"defaults.image": "registry.example/flows:1.2", "defaults.gracePeriodSeconds": 90}
    )
    assert "--default-image=registry.example/flows:1.2" in args_of(chart)
    assert "--default-grace-period=90" in args_of(chart)
    settings = settings_from(parse_args(args_of(chart)))
    assert settings.default_image == "registry.example/flows:1.2"
    assert settings.default_grace_period_seconds == 90


def test_the_start_deadline_reaches_the_operator() -> None:
    from kflow_operator.main import parse_args, settings_from

    assert "--start-deadline-seconds=300" in args_of(render())
    chart = render({"defaults.startDeadlineSeconds": 45})
    assert settings_from(parse_args(args_of(chart))).start_deadline_seconds == 45


def test_without_a_default_image_the_operator_gets_none() -> None:
    from kflow_operator.main import parse_args

    args = args_of(render())
    assert not [a for a in args if a.startswith("--default-image")]
    assert "--default-grace-period=30" in args
    assert parse_args(args).default_image is None


def test_no_rule_uses_wildcards_or_touches_secrets_beyond_reading_one_by_name() -> None:
    """Secrets: only `get` (a notification's Secret, by name), only with notifications on."""
    for values in ({}, NAMESPACED, DOCKER_ONLY, PROCESS_ONLY, ALL_LAUNCHERS):
        for notifications in (True, False):
            chart = render({**values, "notifications.enabled": notifications})
            for role in chart.of_kind("ClusterRole") + chart.of_kind("Role"):
                for group, resource, verbs in rules_of(role):
                    assert "*" not in (group, resource) and "*" not in verbs
                    assert resource not in {"configmaps", "nodes"}
                    if resource == "secrets":
                        assert notifications and verbs == {"get"}
                    assert not verbs & {"escalate", "bind", "impersonate", "deletecollection"}


def test_two_replicas_stand_by_for_each_other_on_different_nodes() -> None:
    chart = render({"replicaCount": 2})
    deployment = chart.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    preferred = pod_spec(chart)["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert preferred[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert preferred[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    assert "--standalone" not in args_of(chart), "replicas must coordinate through peering"
    assert "affinity" not in pod_spec(render())


def test_the_operator_runs_unprivileged_on_a_read_only_root() -> None:
    chart = render()
    spec = pod_spec(chart)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = chart.operator_container()
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    volumes = {v["name"]: v for v in spec["volumes"]}
    for mount in container["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]], f"{mount} is not scratch space"
    writable = {m["mountPath"] for m in container["volumeMounts"]}
    env = env_of(chart)
    assert {env["HOME"], env["KFLOW_HOME"], "/tmp"} <= writable
    state_dir = next(a for a in args_of(chart) if a.startswith("--state-dir="))
    assert state_dir.removeprefix("--state-dir=").startswith(env["KFLOW_HOME"])


def test_the_probes_hit_the_health_endpoint_the_operator_serves() -> None:
    chart = render({"health.port": 9090, "health.path": "/livez"})
    container = chart.operator_container()
    assert "--liveness=http://0.0.0.0:9090/livez" in container["args"]
    assert container["ports"] == [
        {"name": "health", "containerPort": 9090, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 8081, "protocol": "TCP"},
    ]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/livez", "port": "health"}


def test_the_image_is_pinned_to_the_charts_app_version_unless_told() -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    container = render().operator_container()
    assert container["image"] == f"docker.io/kflow/operator:{app_version}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    custom = render({"image.repository": "registry.example/kflow", "image.tag": "0.2.0-rc1"})
    assert custom.operator_container()["image"] == "registry.example/kflow:0.2.0-rc1"


def test_logging_reaches_the_operator() -> None:
    chart = render({"logging.format": "json", "logging.verbose": True})
    assert env_of(chart)["KFLOW_LOG_FORMAT"] == "json"
    assert "--verbose" in args_of(chart)


@pytest.mark.parametrize("values", [{}, NAMESPACED, DOCKER_ONLY, PROCESS_ONLY, ALL_LAUNCHERS])
def test_the_operator_accepts_the_command_line_the_chart_renders(
    values: dict[str, str | int | bool],
) -> None:
    from kflow_operator.main import parse_args

    args = parse_args(args_of(render(values)))
    assert args.liveness.startswith("http://0.0.0.0:")
    assert args.standalone is False, "replicas must coordinate through peering"


OPERATOR_SETTINGS_ENV = ("KFLOW_LOG_FORMAT",)


@pytest.mark.parametrize("name", OPERATOR_SETTINGS_ENV)
def test_the_operator_reads_each_setting_the_chart_passes(name: str) -> None:
    sources = (CHART.parents[1] / "operator" / "kflow_operator").rglob("*.py")
    assert any(name in path.read_text() for path in sources), f"nothing reads {name}"


def test_every_object_carries_the_release_labels_helm_uninstall_relies_on() -> None:
    for values in ({}, NAMESPACED):
        for obj in render(values, release="demo").objects:
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == "demo", obj["metadata"]
            assert labels["app.kubernetes.io/managed-by"] == "Helm"


@pytest.mark.parametrize(("env", "expected"), [(None, "text"), ("json", "json")])
def test_the_operator_takes_its_log_format_from_the_chart_env(
    monkeypatch: pytest.MonkeyPatch, env: str | None, expected: str
) -> None:
    from kflow_operator.main import parse_args

    if env is None:
        monkeypatch.delenv("KFLOW_LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("KFLOW_LOG_FORMAT", env)
    assert parse_args([]).log_format == expected


def test_the_chart_owns_the_peering_object_and_the_operator_does_not_create_it() -> None:
    """Both creating it raced: helm install failed on "already exists" when the pod won."""
    chart = render({})
    assert chart.of_kind("ClusterKopfPeering")
    assert "--external-peering" in args_of(chart)
    listed = render(NAMESPACED)
    assert len(listed.of_kind("KopfPeering")) == 2
    assert "--external-peering" in args_of(listed)


@pytest.mark.parametrize(
    "pools",
    [["gpu"], ["gpu", "cpu"], [f"pool-{i}-with-a-long-name" for i in range(4)]],
)
def test_a_release_of_some_pools_owns_the_peering_object_its_operator_registers_in(
    pools: list[str],
) -> None:
    """The chart rendered `kflow` whatever worker.pools said: the operator registered in its
    own pool peering object, and a second release for other pools failed to install on the
    first one's `kflow` object."""
    chart = render({"worker.pools": "{" + ",".join(pools) + "}"})
    (peering,) = chart.of_kind("ClusterKopfPeering")
    expected = OperatorSettings(work_pools=frozenset(pools)).peering_name
    assert peering["metadata"]["name"] == expected != "kflow"
    other = render({"worker.pools": "{other}"}).of_kind("ClusterKopfPeering")
    assert other[0]["metadata"]["name"] != peering["metadata"]["name"]


def test_notifications_read_secrets_where_runs_are_served_and_only_there() -> None:
    clusterwide = render()
    assert granted(clusterwide.one("ClusterRole"), "", "secrets") == {"get"}
    assert granted(clusterwide.one("ClusterRole"), "kflow.dev", "workpools") >= {"get"}
    namespaced = render(NAMESPACED)
    assert granted(namespaced.one("ClusterRole"), "", "secrets") == frozenset()
    for namespace in ("team-a", "team-b"):
        assert granted(namespaced.one("Role", namespace), "", "secrets") == {"get"}
    off = render({**NAMESPACED, "notifications.enabled": False})
    for role in off.of_kind("ClusterRole") + off.of_kind("Role"):
        assert granted(role, "", "secrets") == frozenset()


def test_notification_values_become_the_operators_flags() -> None:
    from kflow_operator.main import parse_args, settings_from

    default = settings_from(parse_args(args_of(render())))
    assert default.notifications and default.notification_retry_seconds == 3600
    assert default.dashboard_url is None
    chart = render(
        {
            "notifications.retrySeconds": 600,
            "notifications.dashboardUrl": "https://kflow.example.com/",
        }
    )
    settings = settings_from(parse_args(args_of(chart)))
    assert settings.notification_retry_seconds == 600
    assert settings.dashboard_url == "https://kflow.example.com"
    off = settings_from(parse_args(args_of(render({"notifications.enabled": False}))))
    assert not off.notifications

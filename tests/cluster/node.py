"""Tier 2: containerd (CRI) + CNI bridge + kubelet + kube-proxy, so pods really run.

containerd runs as a second instance on its own socket beside Docker's. Its CRI settings are
the ones this kind of VM needs: `restrict_oom_score_adj` (no CAP_SYS_RESOURCE in the sandbox),
cgroupfs, Debian's CNI plugins, and our locally built pause image.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import yaml

from tests.cluster import (
    certs,
    cgroups,
    control_plane,
    host_files,
    images,
    k8s_build,
    kubeconfigs,
    mounts,
    network,
    packages,
    paths,
    topology,
)
from tests.cluster.processes import ClusterStartError, Managed, wait_for

CONTAINERD = Managed("containerd", lambda: str(containerd_config()))
KUBELET = Managed("kubelet", lambda: str(k8s_build.binary("kubelet")))
KUBE_PROXY = Managed("kube-proxy", lambda: str(k8s_build.binary("kube-proxy")))
PROCESSES = (CONTAINERD, KUBELET, KUBE_PROXY)
CNI_BIN_DIR = "/usr/lib/cni"


def node_dir() -> Path:
    return paths.state_dir() / "node"


def containerd_socket() -> Path:
    return node_dir() / "containerd" / "containerd.sock"


def kubelet_root() -> Path:
    return node_dir() / "kubelet"


def cni_conf_dir() -> Path:
    return node_dir() / "cni" / "net.d"


def containerd_config() -> Path:
    return node_dir() / "containerd" / "config.toml"


def _containerd_config() -> str:
    base = node_dir() / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"

[grpc]
  address = "{containerd_socket()}"

[ttrpc]
  address = "{base / "containerd.sock.ttrpc"}"

[metrics]
  address = ""

[{cri}]
  sandbox_image = "{images.PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf_dir()}"
"""


def _cni_config() -> dict[str, object]:
    return {
        "cniVersion": "0.4.0",
        "name": topology.CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": topology.CNI_BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": topology.POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node_dir() / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            # Accepts pod traffic in FORWARD, which a Docker engine sets to policy DROP.
            {"type": "firewall", "backend": "iptables"},
        ],
    }


def ctr(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `ctr` against the node's containerd in the CRI namespace."""
    return subprocess.run(
        ["ctr", "--address", str(containerd_socket()), "--namespace", "k8s.io", *args],
        input=stdin,
        capture_output=True,
        check=False,
    )


def _containerd_serving() -> bool:
    return containerd_socket().exists() and ctr("version").returncode == 0


def _start_containerd() -> None:
    if CONTAINERD.running() and _containerd_serving():
        return
    config = containerd_config()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(_containerd_config())
    cni = cni_conf_dir() / "10-kflow.conflist"
    cni.parent.mkdir(parents=True, exist_ok=True)
    cni.write_text(json.dumps(_cni_config(), indent=2))
    CONTAINERD.start(["containerd", "--config", str(config)])
    wait_for("containerd socket", _containerd_serving, timeout=30, process=CONTAINERD)


def image_present(name: str) -> bool:
    return ctr("images", "check", f"name=={name}").stdout.strip() != b""


def import_archive(archive: Path) -> None:
    proc = ctr("images", "import", str(archive))
    if proc.returncode != 0:
        raise ClusterStartError(
            f"ctr images import {archive} failed: {proc.stderr.decode(errors='replace')}"
        )


def _ensure_images() -> None:
    for name, archive in (
        (images.PAUSE_IMAGE, images.ensure_pause()),
        (images.PYTHON_BASE_IMAGE, images.ensure_python_base()),
    ):
        if not image_present(name):
            import_archive(archive)


def _kubelet_config() -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": topology.NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(certs.ca_cert())},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(certs.cert(certs.KUBELET_SERVING)),
        "tlsPrivateKeyFile": str(certs.key(certs.KUBELET_SERVING)),
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "oomScoreAdj": 0,
        "containerRuntimeEndpoint": f"unix://{containerd_socket()}",
        "clusterDomain": topology.CLUSTER_DOMAIN,
        "resolvConf": "/etc/resolv.conf",
        "podLogsDir": str(node_dir() / "pod-logs"),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        # Our images exist only locally: never garbage-collect them, never evict on disk usage.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "registerNode": True,
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
        "nodeStatusUpdateFrequency": "5s",
    }


def _start_kubelet() -> None:
    if KUBELET.running():
        return
    config = node_dir() / "kubelet-config.yaml"
    config.write_text(yaml.safe_dump(_kubelet_config(), sort_keys=False))
    kubelet_root().mkdir(parents=True, exist_ok=True)
    kubeconfig = kubeconfigs.ensure_kubeconfig(certs.KUBELET_CLIENT)
    KUBELET.start(
        [
            str(k8s_build.binary("kubelet")),
            f"--config={config}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={kubelet_root()}",
            f"--hostname-override={topology.NODE_NAME}",
            f"--node-ip={topology.NODE_IP}",
            "--v=1",
        ]
    )


def _kube_proxy_config() -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfigs.ensure_kubeconfig(certs.KUBE_PROXY))},
        "mode": "iptables",
        "clusterCIDR": topology.CLUSTER_CIDR,
        "hostnameOverride": topology.NODE_NAME,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{topology.NODE_IP}/32"],
        # Leave the host's conntrack sysctls alone (read-only in some VMs).
        "conntrack": {"maxPerCore": 0, "min": 0},
    }


def _start_kube_proxy() -> None:
    if KUBE_PROXY.running():
        return
    config = node_dir() / "kube-proxy-config.yaml"
    config.write_text(yaml.safe_dump(_kube_proxy_config(), sort_keys=False))
    KUBE_PROXY.start([str(k8s_build.binary("kube-proxy")), f"--config={config}", "--v=1"])


def kubectl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(paths.admin_kubeconfig()))
    return subprocess.run(
        [str(k8s_build.binary("kubectl")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def node_ready() -> bool:
    proc = kubectl(
        "get",
        "node",
        topology.NODE_NAME,
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    )
    return proc.returncode == 0 and proc.stdout.strip() == "True"


def _service_routed() -> bool:
    """kube-proxy has programmed the `kubernetes` Service (10.96.0.1:443)."""
    out = subprocess.run(
        ["iptables", "-t", "nat", "-S", "KUBE-SERVICES"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return f"{topology.KUBERNETES_SERVICE_IP}/32" in out


def up() -> None:
    """Bring tier 2 up on top of tier 1 (idempotent); return once the node is Ready."""
    packages.ensure_installed()
    k8s_build.ensure_built(k8s_build.NODE_COMPONENTS)
    control_plane.up()
    for spec in certs.NODE_CERTS:
        certs.ensure_cert(spec)
    _start_containerd()
    _ensure_images()
    _start_kubelet()
    _start_kube_proxy()
    wait_for(f"node {topology.NODE_NAME} Ready", node_ready, timeout=120, process=KUBELET)
    wait_for("kube-proxy rules for 10.96.0.1", _service_routed, timeout=60, process=KUBE_PROXY)


def kill_kubelet() -> int:
    """SIGKILL the kubelet, as a crash would (its pods' containers run on, under containerd);
    the PID it had. Start it again with `restart_kubelet`."""
    pid = KUBELET.pid()
    if pid is None:
        raise ClusterStartError("the kubelet is not running; run `python -m tests.cluster up`")
    os.kill(pid, signal.SIGKILL)
    wait_for("the killed kubelet to be gone", lambda: not KUBELET.running(), timeout=30)
    return pid


def restart_kubelet() -> None:
    """Start the kubelet again as `up` does, and return once the node is Ready."""
    _start_kubelet()
    wait_for(f"node {topology.NODE_NAME} Ready", node_ready, timeout=120, process=KUBELET)


def container_pid(namespace: str, pod: str) -> int | None:
    """The host PID of the first running app container of a pod (not its sandbox), as
    containerd knows it: what a test kills when the kubelet cannot see it happen."""
    wanted = (
        f'labels."io.kubernetes.pod.namespace"=={namespace},'
        f'labels."io.kubernetes.pod.name"=={pod},'
        'labels."io.cri-containerd.kind"==container'
    )
    containers = set(ctr("containers", "ls", "-q", wanted).stdout.decode().split())
    for line in ctr("tasks", "ls").stdout.decode().splitlines()[1:]:
        task, pid, status = line.split()[:3]
        if task in containers and status == "RUNNING":
            return int(pid)
    return None


def _sandbox_netns_paths() -> dict[str, Path]:
    """Pod sandbox ID -> the network namespace containerd's CRI plugin bind-mounted for it."""
    found = {}
    listing = ctr("containers", "ls", "-q", 'labels."io.cri-containerd.kind"==sandbox')
    for container in listing.stdout.decode().split():
        info = ctr("containers", "info", container)
        if info.returncode != 0:
            continue
        spec = json.loads(info.stdout).get("Spec") or {}
        for namespace in (spec.get("linux") or {}).get("namespaces") or []:
            if namespace.get("type") == "network" and namespace.get("path"):
                found[container] = Path(namespace["path"])
    return found


def _remove_containers() -> dict[str, Path]:
    """Kill and delete every task and container of our containerd; return the sandboxes' netns.

    Done through containerd while it still runs, so its shims exit and unmount root filesystems.
    """
    if not _containerd_serving():
        return {}
    netns = _sandbox_netns_paths()
    for task in ctr("tasks", "ls", "-q").stdout.decode().split():
        ctr("tasks", "kill", "-s", "SIGKILL", task)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and ctr("tasks", "ls", "-q").stdout.strip():
        for task in ctr("tasks", "ls", "-q").stdout.decode().split():
            ctr("tasks", "rm", "-f", task)
        time.sleep(0.2)
    for container in ctr("containers", "ls", "-q").stdout.decode().split():
        ctr("containers", "rm", container)
    return netns


def _remove_netns(netns: list[Path]) -> None:
    for path in netns:
        subprocess.run(["umount", path], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            path.unlink()


def owned_cgroups() -> list[str]:
    return cgroups.trees("kubepods")


def down() -> list[str]:
    """Stop tier 2 and remove what it left: pods, mounts, links, chains, cgroups, state."""
    stopped = []
    if KUBE_PROXY.stop():
        stopped.append(KUBE_PROXY.name)
    if KUBELET.stop():
        stopped.append(KUBELET.name)
    sandboxes = _remove_containers()
    if CONTAINERD.stop():
        stopped.append(CONTAINERD.name)
    _remove_netns(list(sandboxes.values()))
    host_files.remove(node_dir(), list(sandboxes))
    mounts.unmount_under(node_dir())
    for veth in network.veth_peers_of_bridge():
        network.remove_link(veth)
    network.remove_link(topology.CNI_BRIDGE)
    network.remove_chains()
    cgroups.remove_trees("kubepods")
    shutil.rmtree(node_dir(), ignore_errors=True)
    return stopped

"""Pure parts of the local-cluster harness: wrapper-module replaces, image archives, leftovers."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from tests.cluster import cluster, images, k8s_build
from tests.cluster.versions import KUBERNETES_VERSION

_GO_MOD = """module k8s.io/kubernetes

require (
\tgithub.com/spf13/cobra v1.9.1
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
\tk8s.io/klog/v2 v2.130.1
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""


def test_staging_modules_required_at_zero_are_replaced_with_the_published_version() -> None:
    published = "v0." + ".".join(KUBERNETES_VERSION.removeprefix("v").split(".")[1:])
    assert k8s_build.staging_replacements(_GO_MOD) == {
        "k8s.io/api": published,
        "k8s.io/client-go": published,
    }


def test_ldflags_stamp_the_pinned_version_into_both_version_packages() -> None:
    flags = k8s_build.ldflags()
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion={KUBERNETES_VERSION}" in flags


def test_docker_archive_names_the_image_and_lists_its_layer(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin" / "hello").write_text("hi\n")
    archive = tmp_path / "image.tar"
    config = images.ImageConfig(entrypoint=("/bin/hello",))

    images.write_docker_archive(rootfs, "docker.io/kflow/test:1", config, archive)

    with tarfile.open(archive) as tar:
        (manifest,) = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        image_config = json.load(tar.extractfile(manifest["Config"]))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=layer) as layer_tar:
            assert "./bin/hello" in layer_tar.getnames()
    assert manifest["RepoTags"] == ["docker.io/kflow/test:1"]
    assert image_config["config"]["Entrypoint"] == ["/bin/hello"]
    assert len(image_config["rootfs"]["diff_ids"]) == 1


def test_leftovers_name_each_kind_of_remnant() -> None:
    status = cluster.Status(
        processes={"kubelet": 42, "etcd": None},
        links=["kflow0"],
        chains={"iptables nat": ["KUBE-SERVICES"]},
        mounts=["/x/kubelet/pods/p/volumes"],
        cgroups=["/sys/fs/cgroup/memory/kubepods"],
    )
    assert status.leftovers() == [
        "process kubelet (pid 42)",
        "link kflow0",
        "iptables nat chain KUBE-SERVICES",
        "mount /x/kubelet/pods/p/volumes",
        "cgroup /sys/fs/cgroup/memory/kubepods",
    ]

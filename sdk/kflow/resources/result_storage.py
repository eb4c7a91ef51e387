"""`infrastructure.resultStorage`: where a cluster run keeps its results and cache entries.

A WorkPool, Deployment or FlowRun names it once, and every flow of their runs persists there
without a line of code changed: the operator hands the run `KFLOW_RESULT_STORAGE` (a directory
or an `s3://bucket/prefix` URL), which the SDK takes as the default `result_storage` (a flow's
or task's own `result_storage=` still wins). Results of a Job or Docker run then outlive its pod
or container, and the cache is shared by every run that names the same storage.

Exactly one of:

* `volume`: a directory at `mountPath`. A `kubernetes-job` run gets the PersistentVolumeClaim
  `claimName` mounted there (its `subPath` inside the claim, optionally); a `docker` run gets
  `hostPath` (default: `mountPath` itself) bind-mounted there; a `process` run uses `mountPath`
  on the operator's host as it is.
* `s3`: a folder (`prefix`) of an S3-compatible `bucket` at `endpointURL` (default AWS), in
  `region`; the credentials come from the Secret `credentialsSecretRef.name` of the run's
  namespace, keys CREDENTIAL_KEYS, handed to the run as environment variables of the same names
  and never written into any kflow resource.

The merge rule (kflow.resources.infrastructure_merge) takes `resultStorage` whole from the
highest layer that sets it: half a bucket from one layer and half a volume from another would
name no storage at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, model_validator

from kflow.filesystems import RESULT_STORAGE_ENV
from kflow.resources.common import SpecModel

CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""The keys of the credentials Secret, passed as env of the same names; the last is optional."""
OPTIONAL_CREDENTIAL_KEYS = frozenset({"AWS_SESSION_TOKEN"})

SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
AbsolutePath = Annotated[
    str, Field(min_length=1, max_length=4096, pattern=r"^/([^/]+(/[^/]+)*)?/?$")
]
RelativePath = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^/]+(/[^/]+)*$")]
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN)]


class SecretRef(SpecModel):
    name: ObjectName


class VolumeStorage(SpecModel):
    mount_path: AbsolutePath
    claim_name: ObjectName | None = None
    """kubernetes-job: the PersistentVolumeClaim mounted at mountPath (required there)."""
    sub_path: RelativePath | None = None
    """kubernetes-job: the directory inside the claim that is mounted."""
    host_path: AbsolutePath | None = None
    """docker: the host directory bind-mounted at mountPath (default: mountPath)."""

    @model_validator(mode="after")
    def _sub_path_needs_claim(self) -> VolumeStorage:
        """The same rule as the CRD's CEL validation."""
        if self.sub_path is not None and self.claim_name is None:
            raise ValueError("`subPath` applies with `claimName` only")
        return self


class S3Storage(SpecModel):
    bucket: Annotated[
        str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    ]
    prefix: RelativePath | None = None
    endpoint_url: (
        Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s/]+(/\S*)?$")]
        | None
    ) = Field(default=None, alias="endpointURL")
    region: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")] | None = (
        None
    )
    credentials_secret_ref: SecretRef | None = None

    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class ResultStorage(SpecModel):
    volume: VolumeStorage | None = None
    s3: S3Storage | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ResultStorage:
        """The same rule as the CRD's CEL validation."""
        if (self.volume is None) == (self.s3 is None):
            raise ValueError("resultStorage needs exactly one of `volume` or `s3`")
        return self

    def mismatch(self, type_: str) -> str | None:
        """What of this storage does not fit a run of `type_` (an InfrastructureType value),
        in words; None when it fits."""
        volume = self.volume
        if volume is None:
            return None
        if volume.claim_name is not None and type_ != "kubernetes-job":
            return "`resultStorage.volume.claimName` applies to type kubernetes-job only"
        if volume.host_path is not None and type_ != "docker":
            return "`resultStorage.volume.hostPath` applies to type docker only"
        if volume.claim_name is None and type_ == "kubernetes-job":
            return (
                "a kubernetes-job run's `resultStorage.volume` needs `claimName` (the "
                "PersistentVolumeClaim mounted at mountPath)"
            )
        return None

    def describe(self) -> str:
        """One line for `kflow flow-run inspect`."""
        if self.s3 is not None:
            where = self.s3.url()
            if self.s3.endpoint_url:
                where += f" at {self.s3.endpoint_url}"
            if self.s3.credentials_secret_ref:
                where += f" (credentials: Secret {self.s3.credentials_secret_ref.name})"
            return where
        assert self.volume is not None
        volume = self.volume
        if volume.claim_name is not None:
            inside = f"/{volume.sub_path}" if volume.sub_path else ""
            return f"{volume.mount_path} (PVC {volume.claim_name}{inside})"
        if volume.host_path is not None:
            return f"{volume.mount_path} (host path {volume.host_path})"
        return volume.mount_path


@dataclass(frozen=True)
class SecretKey:
    """An environment variable whose value is a Secret's key, resolved where the run starts."""

    secret: str
    key: str
    optional: bool


def storage_env(storage: ResultStorage) -> dict[str, str]:
    """The plain environment variables that point a run's flow at `storage`."""
    if storage.s3 is None:
        assert storage.volume is not None
        return {RESULT_STORAGE_ENV: storage.volume.mount_path}
    env = {RESULT_STORAGE_ENV: storage.s3.url()}
    if storage.s3.endpoint_url:
        env["AWS_ENDPOINT_URL"] = storage.s3.endpoint_url
    if storage.s3.region:
        env["AWS_DEFAULT_REGION"] = storage.s3.region
    return env


def storage_secret_env(storage: ResultStorage) -> dict[str, SecretKey]:
    """The variables that come from the credentials Secret (none without one)."""
    if storage.s3 is None or storage.s3.credentials_secret_ref is None:
        return {}
    secret = storage.s3.credentials_secret_ref.name
    return {key: SecretKey(secret, key, key in OPTIONAL_CREDENTIAL_KEYS) for key in CREDENTIAL_KEYS}

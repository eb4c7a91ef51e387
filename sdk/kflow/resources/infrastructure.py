"""Where a run executes: the settings a WorkPool, a Deployment and a FlowRun each may give.

Three shapes of one set of fields. `InfrastructureSettings` has no type (a WorkPool names its
type once, in `spec.type`); `InfrastructureSpec` may name one (a Deployment or FlowRun in a pool
need not); `EffectiveInfrastructure` always has one: it is what the layers merge into
(kflow.resources.infrastructure_merge) and what a launcher starts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from kflow.resources.common import SpecModel
from kflow.resources.result_storage import ResultStorage


class InfrastructureType(StrEnum):
    KUBERNETES_JOB = "kubernetes-job"
    DOCKER = "docker"
    PROCESS = "process"


class ImagePullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


Labels = Annotated[dict[str, Annotated[str, Field(max_length=63)]], Field(max_length=64)]
Annotations = Annotated[dict[str, Annotated[str, Field(max_length=32768)]], Field(max_length=64)]
ObjectName = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
]


class JobOptions(SpecModel):
    """Options of `kubernetes-job` runs. The pod settings are first-class so that a pool can set
    them once; they are applied to the pod template before `podTemplatePatch`, which wins."""

    pod_template_patch: dict[str, Any] | None = None
    active_deadline_seconds: Annotated[int, Field(ge=1)] | None = None
    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] | None = None
    resources: dict[str, Any] | None = None
    node_selector: Labels | None = None
    tolerations: Annotated[list[dict[str, Any]], Field(max_length=64)] | None = None
    affinity: dict[str, Any] | None = None
    service_account_name: ObjectName | None = None
    image_pull_secrets: Annotated[list[ObjectName], Field(max_length=32)] | None = None
    pod_labels: Labels | None = None
    pod_annotations: Annotations | None = None


Volume = Annotated[str, Field(min_length=3, max_length=4096, pattern=r"^[^:]+:/[^:]*(:(ro|rw))?$")]


class DockerOptions(SpecModel):
    network: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    volumes: Annotated[list[Volume], Field(max_length=64)] | None = None


class ProcessOptions(SpecModel):
    working_directory: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    python_executable: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


_OPTIONS_FOR_TYPE = {
    "job": InfrastructureType.KUBERNETES_JOB,
    "docker": InfrastructureType.DOCKER,
    "process": InfrastructureType.PROCESS,
}


class InfrastructureSettings(SpecModel):
    """Everything but the type: a WorkPool's `spec.infrastructure`."""

    image: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    image_pull_policy: ImagePullPolicy | None = None
    env: (
        Annotated[dict[str, Annotated[str, Field(max_length=32768)]], Field(max_length=256)] | None
    ) = None
    command: (
        Annotated[list[Annotated[str, Field(max_length=4096)]], Field(min_length=1, max_length=64)]
        | None
    ) = None
    job: JobOptions | None = None
    docker: DockerOptions | None = None
    process: ProcessOptions | None = None
    result_storage: ResultStorage | None = None

    def options_mismatch(self, type_: InfrastructureType) -> str | None:
        """Which type-specific options block does not fit `type_`, in words; None when all fit.

        `image` may be absent for every type: the operator then uses its --default-image."""
        for field, owner in _OPTIONS_FOR_TYPE.items():
            if getattr(self, field) is not None and type_ is not owner:
                return f"`{field}` options apply to type {owner.value} only"
        if self.result_storage is not None:
            return self.result_storage.mismatch(type_.value)
        return None


class InfrastructureSpec(InfrastructureSettings):
    """A Deployment's or FlowRun's `spec.infrastructure`. Without `type` it takes its work
    pool's; the CRD's CEL rules require one of the two."""

    type: InfrastructureType | None = None

    @model_validator(mode="after")
    def _options_match_type(self) -> InfrastructureSpec:
        """The same rules as the CRD's CEL validations, for input that never meets the API."""
        if self.type is not None and (problem := self.options_mismatch(self.type)):
            raise ValueError(problem)
        return self


class EffectiveInfrastructure(InfrastructureSettings):
    """What a run gets once FlowRun > Deployment > WorkPool > operator defaults are merged."""

    type: InfrastructureType

    @model_validator(mode="after")
    def _options_match_type(self) -> EffectiveInfrastructure:
        if problem := self.options_mismatch(self.type):
            raise ValueError(problem)
        return self

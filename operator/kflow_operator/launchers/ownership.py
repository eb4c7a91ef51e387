"""Whether a container or a Job is a given FlowRun's: its `kflow.dev/flow-run-uid` label says so.

A run's identifier comes from its FlowRun status, which anyone allowed to patch the status can
rewrite: to another run's container or Job, or to anything else with a kflow-looking name. Every
container and Job (and every pod of a Job) the launchers make carries the run's UID in this
label (launchers/docker/names.py, launchers/kubernetes_job/names.py); what does not carry the
UID of the run whose status names it is never started, stopped, deleted or reported as that
run's. The process launcher's counterpart is process_owner.py (the environment of the process).

Pure: the launchers read the labels, this decides.
"""

from __future__ import annotations

from collections.abc import Mapping

from kflow.resources import GROUP

from kflow_operator.infrastructure import Observation, ObservedPhase

RUN_UID_LABEL = f"{GROUP}/flow-run-uid"
"""The label both container launchers put on what they start, valued the FlowRun's UID."""


def belongs(labels: Mapping[str, str] | None, owner: str | None) -> bool:
    """True when `labels` name the run `owner`, or when there is no owner to confirm (the
    launcher's own launch, not an identifier read from a status)."""
    return owner is None or (labels or {}).get(RUN_UID_LABEL) == owner


def not_the_runs(thing: str) -> Observation:
    """What `observe` reports for a `thing` (`container 0123abcd`, `Job team/x`) that is not
    the run's: the run's infrastructure, as far as anyone can tell, is gone. It does not say
    whose it is (it may be in a namespace the run's user cannot read)."""
    return Observation(
        ObservedPhase.MISSING,
        reason=(
            f"{thing} is not this run's: it has no {RUN_UID_LABEL} label with this run's UID, "
            "so status.infrastructure was changed by someone other than the operator; it was "
            "left alone. Run the flow again in a new FlowRun, and leave status.infrastructure "
            "to the operator"
        ),
    )

"""`kflow execute`: the entry command of every run's infrastructure.

It reads its FlowRun (KFLOW_FLOW_RUN_NAMESPACE / KFLOW_FLOW_RUN_NAME) and the Deployment it
names, loads the entrypoint, and runs the flow through the engine as that pre-existing run with
a `FlowRunBackend`, so states, task-run counts and the result land in the FlowRun status. Logs
go to stdout in the SDK's console format, which is what `kubectl logs`, `docker logs` and the
process launcher's log file show.

Everything that goes wrong before the flow can start (no such Deployment, an entrypoint that
does not load or is not a flow) ends the run FAILED with the reason, from PENDING, never
RUNNING, exactly as invalid parameters do.

Exit status: 0 when the run COMPLETED or was suspended by `pause_flow_run(reschedule=True)`
(the operator starts it again on resume), 1 for any other end, 2 when the FlowRun itself
cannot be reached.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from kflow.backend_selection import set_backend
from kflow.cluster.backend import SUSPENDED, FlowRunBackend
from kflow.cluster.credentials import KubeConfigError, load_credentials
from kflow.cluster.entrypoint import EntrypointError, load_entrypoint
from kflow.cluster.flowrun_api import FlowRunApi, retrying, short_error
from kflow.cluster.rest import KubeRestClient
from kflow.cluster.run_spec import (
    RunSpecError,
    deployment_info,
    deployment_name,
    resolve_run_spec,
)
from kflow.engine.flow_calls import run_flow
from kflow.flows import Flow
from kflow.logging import ConsoleFormatter, ConsoleHandler, setup_logging
from kflow.resources.common import parse_timestamp
from kflow.resources.status_patch import StateEntry, current_state
from kflow.states import TERMINAL_STATE_TYPES, State, StateType

NAMESPACE_ENV = "KFLOW_FLOW_RUN_NAMESPACE"
NAME_ENV = "KFLOW_FLOW_RUN_NAME"

EXIT_OK = 0
EXIT_NOT_COMPLETED = 1
EXIT_NO_FLOW_RUN = 2

logger = logging.getLogger("kflow.execute")


def execute() -> int:
    log_to_stdout()
    namespace, name = os.environ.get(NAMESPACE_ENV), os.environ.get(NAME_ENV)
    if not namespace or not name:
        logger.error(
            "kflow execute runs one FlowRun: set %s and %s (the operator's launchers do)",
            NAMESPACE_ENV,
            NAME_ENV,
        )
        return EXIT_NO_FLOW_RUN
    try:
        api = FlowRunApi(KubeRestClient(load_credentials()), namespace, name)
        flow_run = retrying(api.get)
    except KubeConfigError as error:
        logger.error("%s", error)
        return EXIT_NO_FLOW_RUN
    except Exception as error:
        logger.error("cannot read FlowRun %s/%s: %s", namespace, name, short_error(error))
        return EXIT_NO_FLOW_RUN
    state = current_state(flow_run.get("status") or {})
    if state is not None and state.type in TERMINAL_STATE_TYPES:
        logger.error(
            "FlowRun %s/%s already ended (%s); a finished run is not run again",
            namespace,
            name,
            state.type.value,
        )
        return EXIT_OK if state.type is StateType.COMPLETED else EXIT_NOT_COMPLETED
    backend = FlowRunBackend(api, flow_run)
    backend.start()
    # resume_flow_run()/pause_flow_run(flow_run_id=...) in the flow reach other FlowRuns.
    set_backend(backend)
    previous_handler = signal.signal(signal.SIGTERM, _on_stop_signal(backend))
    try:
        final = _run(api, flow_run, backend)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        backend.close()
    logger.info("FlowRun %s/%s ended %s", namespace, name, final.type.value)
    if final.type is StateType.COMPLETED:
        return EXIT_OK
    if final.type is StateType.PAUSED and final.name == SUSPENDED:
        return EXIT_OK
    return EXIT_NOT_COMPLETED


def _on_stop_signal(backend: FlowRunBackend) -> Any:
    def handle(signum: int, frame: FrameType | None) -> None:
        # The operator's SIGTERM on cancel → the spec.cancel path (on_cancellation hooks); a
        # SIGTERM nobody asked for as a cancel (eviction, pod deleted) → CRASHED (on_crashed
        # hooks). Either may raise into the body: keep it last.
        backend.stop_signal(signal.Signals(signum).name)

    return handle


def _run(api: FlowRunApi, flow_run: dict[str, Any], backend: FlowRunBackend) -> State[Any]:
    if current_state(flow_run.get("status") or {}) is None:
        # No operator wrote PENDING (a FlowRun run by hand): start the history where it would.
        backend.propose(StateEntry(StateType.PENDING, "Pending", None, datetime.now(UTC)))
    try:
        deployment_ref = deployment_name(flow_run)
        deployment = (
            retrying(lambda: api.get_deployment(deployment_ref)) if deployment_ref else None
        )
        spec = resolve_run_spec(flow_run, deployment)
        target = load_entrypoint(spec.entrypoint, Path.cwd())
    except (RunSpecError, EntrypointError) as error:
        return _fail_before_start(backend, str(error))
    except Exception as error:
        detail = "".join(traceback.format_exception_only(error)).strip()
        logger.error("loading the flow failed:\n%s", traceback.format_exc())
        return _fail_before_start(backend, f"loading the entrypoint failed: {detail}")
    if not isinstance(target, Flow):
        return _fail_before_start(
            backend,
            f"entrypoint {spec.entrypoint!r} names a {type(target).__name__}, not a @flow "
            "function; decorate it with @flow",
        )
    run_spec = flow_run.get("spec") or {}
    status = flow_run.get("status") or {}
    scheduled = run_spec.get("scheduledTime")
    try:
        return run_flow(
            target,
            spec.parameters,
            flow_run_id=backend.root_id,
            flow_run_name=status.get("runName") or run_spec.get("runName"),
            backend=backend,
            tags=list(run_spec.get("tags") or []),
            scheduled_time=parse_timestamp(scheduled).timestamp() if scheduled else None,
            existing=True,
            deployment=deployment_info(deployment),
        )
    except Exception as error:
        # The engine reports every failure of the flow itself as a state; what escapes is a
        # run it could not set up (e.g. a flow_run_name template that does not render).
        logger.error("the flow run could not be set up:\n%s", traceback.format_exc())
        return _fail_before_start(backend, f"{type(error).__name__}: {error}")


def _fail_before_start(backend: FlowRunBackend, message: str) -> State[Any]:
    logger.error("%s", message)
    failed = StateEntry(StateType.FAILED, "Failed", message, datetime.now(UTC))
    outcome = backend.propose(failed)
    backend.flush()
    if outcome is not None and not outcome.accepted and outcome.current is not None:
        current = outcome.current
        return State(current.type, name=current.name, message=current.message)
    return State(StateType.FAILED, message=message)


def log_to_stdout() -> None:
    """The SDK's console format, on stdout: the stream every infrastructure keeps."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A pipe or file is block-buffered: print() in a flow would show up late or be lost.
        sys.stdout.reconfigure(line_buffering=True)
    setup_logging()
    root = logging.getLogger("kflow")
    for handler in list(root.handlers):
        if isinstance(handler, ConsoleHandler):
            root.removeHandler(handler)
    stdout = logging.StreamHandler(sys.stdout)
    stdout.setFormatter(ConsoleFormatter())
    root.addHandler(stdout)

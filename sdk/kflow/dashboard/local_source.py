"""`kflow dashboard --local`: the local run history (SQLite) in place of the cluster.

A poller thread reads the history twice a second and hands the Store what changed, as a
watch would; runs that are not over are re-read each time (their task runs move without their
state). Actions go through the same commands a person would type: `kflow flow-run cancel
--local` (CANCELLING, SIGTERM to the run's own process, killed after the grace period) and
`kflow flow-run resume --local`; their error, if they fail at once, is shown in the page.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kflow.cluster.rest import ApiError
from kflow.dashboard.local_documents import LOCAL_NAMESPACE, fingerprint, local_flow_run
from kflow.dashboard.logs import TAIL_LINES, LogTail
from kflow.dashboard.store import Store
from kflow.history.queries import FlowRunRecord, History
from kflow.resources import DEPLOYMENT_PLURAL as DEPLOYMENTS
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS

POLL_SECONDS = 0.5
ANSWER_SECONDS = 2.0
"""How long an action's command may take to refuse before the page is answered anyway (a
cancel goes on waiting for the run's end in the background)."""
NOT_LOCAL = 405

logger = logging.getLogger("kflow.dashboard")


class LocalPoller:
    def __init__(self, history: History, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self.history = history
        self.store = store
        self.loop = loop
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-history", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _post(self, call: Callable[..., None], *args: Any) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(call, *args)

    def _run(self) -> None:
        known: dict[str, tuple[Any, ...]] = {}
        first = True
        while not self._stopped.is_set():
            try:
                runs = self.history.flow_runs()
            except Exception as error:  # a locked or half-written database: try again soon
                logger.warning("cannot read the local history %s: %s", self.history.path, error)
                self._post(self.store.fail, FLOWRUNS, f"cannot read {self.history.path}: {error}")
                self._stopped.wait(POLL_SECONDS * 4)
                continue
            changed = [r for r in runs if not r.final or known.get(r.id) != fingerprint(r)]
            documents = [self._document(r) for r in changed]
            if first:
                self._post(self.store.replace, DEPLOYMENTS, [])
                self._post(self.store.replace, FLOWRUNS, documents)
                first = False
            else:
                for document in documents:
                    self._post(self.store.apply, FLOWRUNS, "MODIFIED", document)
                for gone in known.keys() - {r.id for r in runs}:
                    self._post(self.store.apply, FLOWRUNS, "DELETED", _named(gone))
            known = {r.id: fingerprint(r) for r in runs}
            self._stopped.wait(POLL_SECONDS)

    def _document(self, run: FlowRunRecord) -> dict[str, Any]:
        states = self.history.flow_run_states(run.id)
        return local_flow_run(run, states, self.history.task_runs(run.id))


def _named(run_id: str) -> dict[str, Any]:
    return {"metadata": {"name": run_id, "namespace": LOCAL_NAMESPACE}}


class LocalApi:
    """The actions and reads the pages ask of their source, for the local history."""

    namespace: str | None = LOCAL_NAMESPACE
    has_events = False
    authority = "kflow"

    def __init__(self, history: History) -> None:
        self.history = history

    @property
    def server(self) -> str:
        return f"local history {self.history.path}"

    async def patch_flow_run_spec(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        command = "cancel" if patch.get("cancel") else "resume"
        await _control(command, name)
        return {"metadata": {"name": name, "namespace": namespace}}

    async def create_flow_run(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        raise ApiError(NOT_LOCAL, "NotLocal", "local runs are started by running their flow")

    async def patch_deployment_spec(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        raise ApiError(NOT_LOCAL, "NotLocal", "the local history has no Deployments")

    async def run_events(
        self, namespace: str, name: str, infrastructure: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]:
        return [], None

    async def log_tail(self, run: Mapping[str, Any]) -> LogTail:
        run_id = str((run.get("metadata") or {}).get("name"))
        lines = await asyncio.to_thread(self.history.logs, run_id)
        shown = tuple(line.format() for line in lines[-TAIL_LINES:])
        return LogTail(shown, f"the local history {self.history.path}")


_RUNNING_COMMANDS: set[asyncio.Task[tuple[int, bytes]]] = set()
"""Cancels still waiting for their run's end after the page was answered."""


async def _control(command: str, run_id: str) -> None:
    """`kflow flow-run COMMAND --local RUN_ID`; a refusal within ANSWER_SECONDS is raised
    with the command's own message, a command still at work goes on in the background."""
    task = asyncio.create_task(_run_command(command, run_id))
    _RUNNING_COMMANDS.add(task)
    task.add_done_callback(_RUNNING_COMMANDS.discard)
    done, _ = await asyncio.wait({task}, timeout=ANSWER_SECONDS)
    if not done:
        return  # still cancelling (waiting for the run's end): the page follows it
    code, errors = task.result()
    if code:
        message = errors.decode(errors="replace").strip().removeprefix("error: ")
        raise ApiError(409, "Refused", message)


async def _run_command(command: str, run_id: str) -> tuple[int, bytes]:
    kflow = Path(sys.executable).parent / "kflow"
    process = await asyncio.create_subprocess_exec(
        str(kflow),
        "flow-run",
        command,
        "--local",
        run_id,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    return process.returncode or 0, errors

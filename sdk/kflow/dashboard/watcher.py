"""One list+watch of a kind (FlowRuns or Deployments) feeding the dashboard's Store.

It runs in a thread of its own because the REST client blocks: list (in pages of 500, so no
single response holds thousands of runs), then watch from the list's resourceVersion, again
after each watch times out, and list afresh when the server says that version is gone (410).
Anything else (403, the API server away) is shown on every page and retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kflow.cluster.flowrun_api import GONE
from kflow.cluster.rest import TRANSPORT_ERRORS, ApiError, KubeRestClient
from kflow.dashboard.store import Store

LIST_PAGE_SIZE = 500
WATCH_TIMEOUT_SECONDS = 300
MAX_BACKOFF_SECONDS = 30.0

logger = logging.getLogger("kflow.dashboard")


class Watcher:
    def __init__(
        self,
        rest: KubeRestClient,
        kind: str,
        path: str,
        store: Store,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.rest = rest
        self.kind = kind
        self.path = path
        self.store = store
        self.loop = loop
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current watch; the thread is a daemon, so exiting never waits."""
        self._stopped.set()

    def _post(self, call: Callable[..., None], *args: Any) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(call, *args)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopped.is_set():
            try:
                version = self._list()
                backoff = 0.5
                while not self._stopped.is_set():
                    version = self._watch(version)
            except ApiError as error:
                if error.status == GONE:
                    continue
                self._failed(f"{error.status} {error.reason}: {error.message}", backoff)
            except TRANSPORT_ERRORS as error:
                self._failed(
                    f"the API server {self.rest.host} cannot be reached ({error})", backoff
                )
            else:
                return
            self._stopped.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _failed(self, message: str, backoff: float) -> None:
        logger.warning("cannot list or watch %s: %s (again in %.1fs)", self.kind, message, backoff)
        self._post(self.store.fail, self.kind, f"cannot list or watch {self.kind}: {message}")

    def _list(self) -> str:
        items: list[dict[str, Any]] = []
        query = {"limit": str(LIST_PAGE_SIZE)}
        started = time.monotonic()
        while True:
            page = self.rest.get(self.path, query)
            items += page.get("items") or []
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                break
            query = {"limit": str(LIST_PAGE_SIZE), "continue": str(meta["continue"])}
        logger.info("listed %d %s in %.2fs", len(items), self.kind, time.monotonic() - started)
        self._post(self.store.replace, self.kind, items)
        return str(meta.get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        query = {"resourceVersion": version, "allowWatchBookmarks": "true"}
        for event, obj in self.rest.watch(self.path, query, WATCH_TIMEOUT_SECONDS):
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if event != "BOOKMARK":
                self._post(self.store.apply, self.kind, event, obj)
            if self._stopped.is_set():
                break
        return version

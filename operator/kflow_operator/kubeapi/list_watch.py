"""A complete, current picture of a set of Kubernetes objects: list, then watch from the list's
resourceVersion, and list again whenever the watch cannot go on.

A watch resumed from the last resourceVersion seen replays every change since, deletions
included, so a watch the server ends, a connection that drops or cannot be made, and a 429
(the API server shedding load) are all answered by asking for the same watch again, after a
pause: nothing is missed, and nothing is listed. Listing is for when that position is gone —
410 Gone (compacted), an error event, any other refusal — and then a fresh watch would miss
what happened in between: an object deleted meanwhile would never be reported, and a run
waiting for its pods to go would wait forever. So every re-list is compared with the last
picture: what is missing from the fresh list was deleted, and is reported as DELETED with the
last state we saw of it (e.g. the eviction reason of a pod). A 504 "Too large resource
version" (the API server's watch cache is behind the list's revision: etcd 3.4 answers so until
an object of the kind is written) is asked for again too (see WatchBehind).

Re-listing on a 429 was worse than useless: each list of thousands of FlowRuns is tens of MiB
decoded, asked of a server that had just said it was overloaded, and the operator's memory
peaked with every one.

`KnownObjects` is the pure part (what changed, given a list or an event); `ListWatch` drives it
against the API server on a daemon thread.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.list_stream import ListDecoder
from kflow_operator.metrics.instruments import WATCH_RELISTS
from kflow_operator.shared_strings import share_fresh

logger = logging.getLogger(__name__)

WATCH_SECONDS = 300
"""How long the API server keeps one watch open; it is then resumed from where it was."""
CONNECT_SECONDS = 10.0
QUIET_SECONDS = WATCH_SECONDS + 30.0
"""No byte for this long on an open watch: the connection is dead (the server would have ended
the watch by now), so it is dropped and the objects listed again."""
LIST_PAGE = 500
"""Objects asked for per list request (pages of one list share its resourceVersion). A list
the API server answers from its watch cache comes whole whatever the limit (list_stream.py)."""
READ_BYTES = 1 << 20
"""How much of a list response is read at a time (and decoded before the next read)."""
ANY_VERSION = "0"
"""The first list's resourceVersion: whatever the API server's watch cache holds (client-go's
informers list so too); the watch then follows from the revision it was read at."""
BEHIND_RETRY_SECONDS = 1.0
"""Pause before asking again for a watch the server's cache was not ready to serve."""
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
"""Pauses before listing again after consecutive failures."""


@dataclass(frozen=True)
class Change:
    type: str
    """ADDED, MODIFIED or DELETED."""
    object: Body
    """The object as it is now; for DELETED, its last known state."""


@dataclass(frozen=True)
class Failing:
    """Lists or watch requests have failed in a row since `since` (time.monotonic()); `error`
    is the latest failure."""

    since: float
    error: Exception


class WatchExpired(Exception):
    """The watch cannot continue from its resourceVersion: list afresh."""


class WatchBehind(WatchExpired):
    """504 "Too large resource version": the API server's watch cache has not yet reached the
    revision our list was read at.

    Listing again would not help (a fresh list is newer still, and etcd 3.4 moves a kind's
    cache only when an object of that kind is written), and nothing is lost by waiting: any
    change after our list's revision first moves the cache past it, then reaches our watch. So
    the same watch is asked for again, and the list is not repeated (it used to be, twice a
    second per watch, for as long as no pod changed)."""


BEHIND_CODE = 504
TOO_MANY_REQUESTS = 429
RETRY_AFTER_LIMIT_SECONDS = 30.0
"""At most this long is waited on a 429's Retry-After."""


def resume_pause(error: BaseException, failures: int) -> float | None:
    """How long to wait before asking again for the same watch, or None: list afresh.

    A 429 (its Retry-After, when given, bounded) and a connection that failed or dropped keep
    the position; every other API answer does not."""
    backoff = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
    if isinstance(error, ApiException):
        if error.status != TOO_MANY_REQUESTS:
            return None
        headers = error.headers or {}
        try:
            asked = float(headers.get("Retry-After", ""))
        except ValueError:
            return backoff
        return min(max(asked, backoff), RETRY_AFTER_LIMIT_SECONDS)
    if isinstance(error, (urllib3.exceptions.HTTPError, OSError)):
        return backoff
    return None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _key(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


def _slim(obj: Body) -> Body:
    """The object without managedFields (kept in memory for every watched object, unused)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


class KnownObjects:
    """The last known state of every watched object and the resourceVersion it is current at."""

    def __init__(self, remember: Callable[[Body], Body] = _slim) -> None:
        """`remember(obj)`: what is kept of each object (for a watch that feeds an index, what
        the index keeps; a FlowRun's task runs and result would be held twice otherwise)."""
        self.objects: dict[str, Body] = {}
        self.resource_version: str | None = None
        self.remember = remember

    def relist(self, items: Iterable[Body], resource_version: str | None) -> list[Change]:
        """Take a fresh list as the truth; the changes since the last picture, deletions
        (objects no longer listed) first."""
        fresh = {_key(item): self.remember(item) for item in items}
        changes = [Change("DELETED", old) for key, old in self.objects.items() if key not in fresh]
        for key, obj in fresh.items():
            old = self.objects.get(key)
            if old is None:
                changes.append(Change("ADDED", obj))
            elif _meta(old).get("resourceVersion") != _meta(obj).get("resourceVersion"):
                changes.append(Change("MODIFIED", obj))
        self.objects = fresh
        self.resource_version = resource_version
        return changes

    def apply(self, event: Mapping[str, Any]) -> Change | None:
        """One watch event; None for bookmarks (they only move the resourceVersion)."""
        kind = event.get("type")
        obj = event.get("object")
        if kind == "ERROR":
            status = obj if isinstance(obj, Mapping) else {}
            error = WatchBehind if status.get("code") == BEHIND_CODE else WatchExpired
            raise error(
                f"{status.get('code', '?')} {status.get('reason', '')}: {status.get('message', '')}"
            )
        if not isinstance(obj, dict):
            return None
        version = _meta(obj).get("resourceVersion")
        if version:
            self.resource_version = str(version)
        if kind == "BOOKMARK":
            return None
        key = _key(obj)
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = self.remember(obj)
        return Change(str(kind), obj)


Lister = Callable[..., Any]
"""A generated client's list method bound to its namespace (or all namespaces), called with
`label_selector`, `_preload_content=False` and, for watching, `watch`/`resource_version`/…."""


class ListWatch:
    """Reports every change of the objects `lister` selects to `on_change`, until `closed`."""

    def __init__(
        self,
        what: str,
        lister: Lister,
        label_selector: str,
        on_change: Callable[[Change], None],
        closed: threading.Event,
        resource: str = "",
        remember: Callable[[Body], Body] = _slim,
    ) -> None:
        """`resource` names the watched kind in the kflow_watch_relists metric; `remember`
        makes what is kept of each object (KnownObjects)."""
        self._what = what
        self._resource = resource
        self._lister = lister
        self._selector = label_selector
        self._on_change = on_change
        self._closed = closed
        self._known = KnownObjects(remember)
        self._lock = threading.Lock()
        self._response: Any = None
        self._failures = 0
        """Attempts that failed since the last list or the last event received."""
        self.failing: Failing | None = None
        """Set while lists or watch requests fail in a row, for whoever must know when a
        picture stopped being current; None once one is answered. A watch ahead of the
        server's cache (WatchBehind) is not failing: no change is missed meanwhile."""

    def run(self) -> None:
        listed = False
        while not self._closed.is_set():
            try:
                if not listed:
                    self._list()
                    listed = True
                    self._failures = 0
                    self.failing = None
                self._watch()
            except WatchBehind as error:
                self._wait_for_cache(error)
                continue
            except WatchExpired as error:
                logger.debug("watch of %s expired (%s); listing again", self._what, error)
                self._relisting("expired")
            except Exception as error:
                if self._closed.is_set():
                    return
                if isinstance(error, ApiException) and error.status == BEHIND_CODE:
                    self._wait_for_cache(error)
                    continue
                if self._resumed_after(error, listed):
                    continue
            listed = False
            self._closed.wait(RETRY_SECONDS[min(self._failures, len(RETRY_SECONDS) - 1)])

    def _wait_for_cache(self, error: Exception) -> None:
        """A 504, as an error event or as the watch request's answer: see WatchBehind."""
        logger.debug("watch of %s is ahead of the server's cache (%s)", self._what, error)
        self._closed.wait(BEHIND_RETRY_SECONDS)

    def _resumed_after(self, error: Exception, listed: bool) -> bool:
        """After a failed list or watch: True once paused for asking again for the same watch
        (see resume_pause), False when the objects are to be listed again."""
        pause = resume_pause(error, self._failures) if listed else None
        self._failures += 1
        self.failing = Failing(self.failing.since if self.failing else time.monotonic(), error)
        if isinstance(error, ApiException):
            what = f"{error.status} {error.reason}"
        else:
            what = f"failed ({error})"
        if pause is not None:
            logger.warning("watching %s: %s; asking again in %.1fs", self._what, what, pause)
            self._closed.wait(pause)
            return True
        # 410 Gone comes as an HTTP error too.
        expired = isinstance(error, ApiException) and error.status == 410
        level = logging.DEBUG if expired else logging.WARNING
        logger.log(level, "watching %s: %s; listing again", self._what, what)
        self._relisting("expired" if expired else "error")
        return False

    def _relisting(self, reason: str) -> None:
        WATCH_RELISTS.labels(self._resource, reason).inc()

    def _list(self) -> None:
        """List in pages, each item kept as `remember` makes it as soon as it is read: one
        list of tens of thousands of FlowRuns was hundreds of MiB decoded at once."""
        items: list[Body] = []
        began = time.monotonic()
        pages = 0
        token: str | None = None
        while True:
            members = self._list_page(token, items)
            pages += 1
            meta = members.get("metadata") or {}
            token = meta.get("continue") or None
            if token is None:
                break
        logger.info(
            "Listed %d %s in %.1f s (%d pages).",
            len(items),
            self._what,
            time.monotonic() - began,
            pages,
        )
        for change in self._known.relist(items, meta.get("resourceVersion")):
            self._on_change(change)
        logger.info("Reported the listed %s (%.1f s in all).", self._what, time.monotonic() - began)

    def _list_page(self, token: str | None, items: list[Body]) -> dict[str, Any]:
        """Read one page into `items`; the list's other members (its metadata)."""
        page: dict[str, Any] = {"limit": LIST_PAGE}
        if token:
            page["_continue"] = token
        elif self._known.resource_version is None:
            page["resource_version"] = ANY_VERSION
        else:
            # Listing again: never a picture older than the one already reported.
            page["resource_version"] = self._known.resource_version
            page["resource_version_match"] = "NotOlderThan"
        response = self._lister(
            label_selector=self._selector,
            _preload_content=False,
            _request_timeout=(CONNECT_SECONDS, 60.0),
            **page,
        )
        decoder = ListDecoder()
        try:
            for chunk in response.stream(READ_BYTES):
                items.extend(self._fresh(item) for item in decoder.feed(chunk))
            items.extend(self._fresh(item) for item in decoder.close())
        finally:
            response.release_conn()
        return decoder.members

    def _fresh(self, item: Body) -> Body:
        """What is kept of a list item just decoded, its strings shared (shared_strings.py)."""
        share_fresh(item)
        return self._known.remember(item)

    def _watch(self) -> None:
        """Follow events from the known resourceVersion; returns only by raising (or at close)."""
        while not self._closed.is_set():
            response = self._lister(
                label_selector=self._selector,
                watch=True,
                resource_version=self._known.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _preload_content=False,
                _request_timeout=(CONNECT_SECONDS, QUIET_SECONDS),
            )
            self.failing = None
            with self._lock:
                self._response = response
            try:
                for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                    if not line:
                        continue
                    self._failures = 0
                    event = json.loads(line)
                    share_fresh(event)
                    change = self._known.apply(event)
                    if change is not None:
                        self._on_change(change)
            finally:
                with self._lock:
                    self._response = None
                response.release_conn()
            # The server ended the watch after WATCH_SECONDS: resume where it stopped.

    def stop(self) -> None:
        """Interrupt an open watch (the thread ends once `closed` is set).

        The socket is shut down, not the response closed: closing waits for the lock the
        reading thread holds until the server ends the watch (minutes), and an operator pod
        stuck in shutdown is killed by the kubelet before its standby may take over.
        """
        with self._lock:
            response = self._response
        connection = getattr(response, "connection", None) if response is not None else None
        sock = getattr(connection, "sock", None)
        if sock is None:
            return
        try:
            # The plain socket's shutdown: SSLSocket's own would pull its state from under the
            # reader; this just makes the reader's next recv end.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError as error:
            logger.debug("closing the watch of %s: %s", self._what, error)

"""A local run's log lines, kept in the history for `kflow flow-run logs --local`.

What is kept: every record of the `kflow` logger tree that names a flow run the backend
records (`flow_run_id` in the record: the run's own lines, its task runs' lines, `print` under
`log_prints`), at the level the console shows (KFLOW_LOGGING_LEVEL).

Bounded, so a chatty flow cannot grow the history without end: at most `LOG_LINES_PER_RUN`
(10,000) lines per flow run — task-run lines count toward their flow run, a subflow run has its
own allowance — and each message cut at `LOG_MESSAGE_LIMIT` (16,384) characters, traceback
included. The line after the last one kept says that the rest is not; the console shows all.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

from kflow.results import truncate

LOG_LINES_PER_RUN = 10_000
LOG_MESSAGE_LIMIT = 16_384

LOG_INSERT = (
    "INSERT INTO flow_run_logs (flow_run_id, task_run_id, level, timestamp, label, message)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)

# One kept record: the flow run's id, the record, and whether it is the first one past the cap
# (which is written as the "not kept" notice instead).
LogEvent = tuple[str, logging.LogRecord, bool]


class LogSink(Protocol):
    def record_log(self, flow_run_id: str, record: logging.LogRecord) -> None: ...


class LogAllowance:
    """How many lines each flow run has had kept; decides what is kept (thread-safe)."""

    def __init__(self) -> None:
        self._kept: dict[str, int] = {}
        self._lock = threading.Lock()

    def open(self, flow_run_id: str) -> None:
        """Keep the lines of this run from now on."""
        with self._lock:
            self._kept.setdefault(flow_run_id, 0)

    def close(self, flow_run_ids: set[str]) -> None:
        """These runs have ended: forget their counts (a long-lived process runs many)."""
        with self._lock:
            for flow_run_id in flow_run_ids:
                self._kept.pop(flow_run_id, None)

    def take(self, flow_run_id: str) -> bool | None:
        """None: not kept; False: kept; True: the first line past the cap (kept as a notice)."""
        kept = self._kept.get(flow_run_id)
        if kept is None or kept > LOG_LINES_PER_RUN:
            return None  # the common refusals take no lock
        with self._lock:
            kept = self._kept.get(flow_run_id)
            if kept is None or kept > LOG_LINES_PER_RUN:
                return None
            self._kept[flow_run_id] = kept + 1
        return kept == LOG_LINES_PER_RUN


class RunLogHandler(logging.Handler):
    """Hands records that name a flow run to the backend recording it; holds it weakly."""

    def __init__(self, sink: LogSink) -> None:
        super().__init__()
        self._sink = weakref.ref(sink)

    def handle(self, record: logging.LogRecord) -> bool:
        """No handler lock: the sink's allowance is thread-safe and its queue append atomic."""
        flow_run_id = record.__dict__.get("flow_run_id")
        if flow_run_id is None:
            return False
        sink = self._sink()
        if sink is None:
            logging.getLogger("kflow").removeHandler(self)
            return False
        sink.record_log(flow_run_id, record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


_exception_formatter = logging.Formatter()


def log_row(event: LogEvent) -> tuple[Any, ...]:
    """The flow_run_logs row of one kept record (formatted here, in the writer thread)."""
    flow_run_id, record, past_cap = event
    label = record.__dict__.get("run_label") or record.name
    task_run_id = record.__dict__.get("task_run_id")
    if past_cap:
        message = (
            f"This flow run logged more than {LOG_LINES_PER_RUN} lines: later lines are not "
            "kept in the local history (the console showed them)."
        )
        return (flow_run_id, None, logging.WARNING, record.created, label, message)
    try:
        message = record.getMessage()
    except Exception:
        message = f"{record.msg!r} {record.args!r}"
    if record.exc_info:
        message = f"{message}\n{_exception_formatter.formatException(record.exc_info)}"
    return (
        flow_run_id,
        task_run_id,
        record.levelno,
        record.created,
        label,
        truncate(message, LOG_MESSAGE_LIMIT),
    )


@dataclass(frozen=True)
class LogLine:
    seq: int
    flow_run_id: str
    task_run_id: str | None
    level: int
    timestamp: float
    label: str
    message: str

    def format(self) -> str:
        """The line as the run's console showed it."""
        from kflow.logging import ConsoleFormatter

        record = logging.makeLogRecord(
            {
                "msg": self.message,
                "levelno": self.level,
                "levelname": logging.getLevelName(self.level),
                "created": self.timestamp,
                "msecs": (self.timestamp - int(self.timestamp)) * 1000,
                "run_label": self.label,
            }
        )
        return ConsoleFormatter().format(record)

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

import itertools
import logging
import weakref
from dataclasses import dataclass
from typing import Protocol

from kflow.log_lines import EngineLine, LineHandler, register_line_handler
from kflow.resources.common import truncate

LOG_LINES_PER_RUN = 10_000
LOG_MESSAGE_LIMIT = 16_384

LOG_INSERT = (
    "INSERT OR IGNORE INTO flow_run_logs (flow_run_id, line, task_run_id, level, timestamp,"
    " label, message) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

# One kept record: the flow run's id, its line number in the run (from 1), the record; a line
# number past the cap stands for the "not kept" notice.
LogEvent = tuple[str, int, logging.LogRecord]
# A kept engine line is its row already (kflow.log_lines): nothing is left to format.
LogRow = tuple[str, int, str | None, int, float, str, str]


class LogSink(Protocol):
    def record_log(self, flow_run_id: str, record: logging.LogRecord) -> None: ...

    def record_line(self, flow_run_id: str, line: EngineLine) -> None: ...


class LogAllowance:
    """Numbers each flow run's lines and decides which are kept; thread-safe without a lock
    (`next()` on an itertools.count and dict reads are atomic)."""

    def __init__(self) -> None:
        self._lines: dict[str, itertools.count[int]] = {}

    def open(self, flow_run_id: str) -> None:
        """Keep the lines of this run from now on."""
        self._lines.setdefault(flow_run_id, itertools.count(1))

    def close(self, flow_run_ids: set[str]) -> None:
        """These runs have ended: forget them (a long-lived process runs many)."""
        for flow_run_id in flow_run_ids:
            self._lines.pop(flow_run_id, None)

    def take(self, flow_run_id: str) -> int | None:
        """The line number of a kept line (one past the cap: the notice); None: not kept."""
        lines = self._lines.get(flow_run_id)
        if lines is None:
            return None
        line = next(lines)
        return line if line <= LOG_LINES_PER_RUN + 1 else None


class RunLogHandler(LineHandler):
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

    def take_line(self, line: EngineLine) -> None:
        flow_run_id = line.flow_run_id
        if flow_run_id is None:
            return
        sink = self._sink()
        if sink is None:
            logging.getLogger("kflow").removeHandler(self)
            return
        sink.record_line(flow_run_id, line)


register_line_handler(RunLogHandler)
_exception_formatter = logging.Formatter()


def line_row(
    flow_run_id: str,
    line: int,
    task_run_id: str | None,
    level: int,
    created: float,
    label: str,
    message: str,
) -> LogRow:
    """The flow_run_logs row of a kept line whose message (traceback included) is final."""
    if line > LOG_LINES_PER_RUN:
        message = (
            f"This flow run logged more than {LOG_LINES_PER_RUN} lines: later lines are not "
            "kept in the local history (the console showed them)."
        )
        return (flow_run_id, line, None, logging.WARNING, created, label, message)
    if len(message) > LOG_MESSAGE_LIMIT:
        message = truncate(message, LOG_MESSAGE_LIMIT)
    return (flow_run_id, line, task_run_id, level, created, label, message)


def log_row(event: LogEvent | LogRow) -> LogRow:
    """The flow_run_logs row of one kept record (formatted here, in the writer thread)."""
    if len(event) != 3:
        return event  # an engine line's row
    flow_run_id, line, record = event
    extra = record.__dict__
    label = extra.get("run_label") or record.name
    if line > LOG_LINES_PER_RUN:
        return line_row(flow_run_id, line, None, record.levelno, record.created, label, "")
    formatted = extra.get("message")  # by the console handler, when it took the record
    if isinstance(formatted, str):
        message = formatted
    else:
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!r} {record.args!r}"
    if record.exc_info:
        message = f"{message}\n{_exception_formatter.formatException(record.exc_info)}"
    return line_row(
        flow_run_id, line, extra.get("task_run_id"), record.levelno, record.created, label, message
    )


@dataclass(frozen=True)
class LogLine:
    line: int
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

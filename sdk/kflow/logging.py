"""Console logging in Prefect's console format, run loggers, and `log_prints`.

    15:15:58.673 | INFO    | Flow run 'loose-wolverine' - Created task run ...

Records go to the `kflow` logger tree (`kflow.engine`, `kflow.flow_runs`, `kflow.task_runs`),
which has its own console handler writing to the current `sys.stderr` and does not propagate to
the root logger (so an application's own logging setup does not print every line twice).
The level comes from KFLOW_LOGGING_LEVEL (default INFO).
"""

from __future__ import annotations

import builtins
import logging
import os
import sys
import threading
import time
from typing import Any

from kflow.context import flow_run_ctx, task_run_ctx

_setup_lock = threading.Lock()
_configured = False
_start_time = time.time()
_LogRecord = logging.LogRecord
_level_names = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


class RunLogger(logging.LoggerAdapter[logging.Logger]):
    """The logger of one flow run or task run: its records carry the run's name and id.

    `emit_fast` is for the engine's own lines (created / submitted / finished), several per
    task run: it builds the LogRecord directly instead of going through `Logger._log`, which
    walks the stack for the caller and costs most of a task run's overhead otherwise.
    """

    def emit_fast(self, level: int, msg: str, *args: Any, hold: bool = False) -> None:
        """Log one engine line. `hold=True`: the console may write it together with the next
        line from this thread (one write instead of two; only for lines that are certainly
        followed by another without user code in between)."""
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        now = time.time()
        record = _LogRecord.__new__(_LogRecord)
        record.__dict__.update(
            name=logger.name,
            msg=msg,
            args=args,
            levelname=_level_names.get(level) or logging.getLevelName(level),
            levelno=level,
            pathname=__file__,
            filename="logging.py",
            module="logging",
            exc_info=None,
            exc_text=None,
            stack_info=None,
            lineno=0,
            funcName="emit_fast",
            created=now,
            msecs=(now - int(now)) * 1000,
            relativeCreated=(now - _start_time) * 1000,
            thread=threading.get_ident(),
            threadName=None,
            processName=None,
            process=None,
            taskName=None,
        )
        record.__dict__.update(self.extra)  # type: ignore[arg-type]
        if hold:
            record.kflow_hold = True
        logger.handle(record)


class ConsoleFormatter(logging.Formatter):
    """`HH:MM:SS.mmm | LEVEL   | <run label or logger name> - message`."""

    _clock_second = -1
    _clock_text = ""

    def format(self, record: logging.LogRecord) -> str:
        label = record.__dict__.get("run_label") or record.name
        second = int(record.created)
        if second != self._clock_second:
            self._clock_text = time.strftime("%H:%M:%S", time.localtime(second))
            self._clock_second = second
        line = (
            f"{self._clock_text}.{int(record.msecs):03d} | {record.levelname:<7} | {label} - "
            f"{record.getMessage()}"
        )
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class ConsoleHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (pytest's capsys swaps it).

    No explicit flush: since Python 3.9 stderr is line-buffered even when redirected, so each
    line reaches `kubectl logs` / `docker logs` as soon as it is written.
    """

    def handle(self, record: logging.LogRecord) -> bool:
        """Skips the handler lock: one `write` of a whole line is atomic enough for stderr."""
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def __init__(self) -> None:
        super().__init__()
        self._held: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        # Each write to stderr gives up the GIL: with task runs finishing in other threads, a
        # write costs a thread switch, so two engine lines in a row go out as one write.
        try:
            line = self.format(record) + "\n"
            thread = threading.get_ident()
            held = self._held.pop(thread, None)
            if held is not None:
                line = held + line
            if record.__dict__.get("kflow_hold"):
                self._held[thread] = line
                return
            sys.stderr.write(line)
        except Exception:
            self.handleError(record)


def setup_logging() -> None:
    """Install the console handler once (called when the first flow run starts)."""
    global _configured
    if _configured:
        return
    with _setup_lock:
        if _configured:
            return
        root = logging.getLogger("kflow")
        level = os.environ.get("KFLOW_LOGGING_LEVEL", "INFO").upper()
        root.setLevel(level)
        handler = ConsoleHandler()
        handler.setFormatter(ConsoleFormatter())
        root.addHandler(handler)
        root.propagate = False
        _configured = True


# Looked up once: `logging.getLogger` takes the logging module's lock, and a task run's
# logger is made on the per-task hot path.
_ENGINE = logging.getLogger("kflow.engine")
_FLOW_RUNS = logging.getLogger("kflow.flow_runs")
_TASK_RUNS = logging.getLogger("kflow.task_runs")


def engine_logger() -> RunLogger:
    return RunLogger(_ENGINE, {})


def flow_run_logger(flow_run_name: str, flow_run_id: str, flow_name: str) -> RunLogger:
    return RunLogger(
        _FLOW_RUNS,
        {
            "run_label": f"Flow run {flow_run_name!r}",
            "flow_run_name": flow_run_name,
            "flow_run_id": flow_run_id,
            "flow_name": flow_name,
        },
    )


def task_run_logger(task_run_name: str, task_run_id: str, flow_run_id: str) -> RunLogger:
    return RunLogger(
        _TASK_RUNS,
        {
            "run_label": f"Task run {task_run_name!r}",
            "task_run_name": task_run_name,
            "task_run_id": task_run_id,
            "flow_run_id": flow_run_id,
        },
    )


def get_run_logger() -> RunLogger:
    """The logger of the task run or flow run this code runs in.

    Raises RuntimeError outside a run: there is no run to attach the lines to.
    """
    task_ctx = task_run_ctx.get()
    if task_ctx is not None:
        return task_ctx.logger
    flow_ctx = flow_run_ctx.get()
    if flow_ctx is not None:
        return flow_ctx.logger
    raise RuntimeError(
        "get_run_logger() was called outside a flow run or task run: there is no active run "
        "to log for. Call it inside a @flow or @task function, or use the `logging` module."
    )


# -- log_prints -----------------------------------------------------------------------------

_original_print = builtins.print
_print_users = 0
_print_lock = threading.Lock()


def _print_to_run_logger(*args: Any, **kwargs: Any) -> None:
    target = kwargs.get("file")
    if target is None or target is sys.stdout:
        task_ctx = task_run_ctx.get()
        logger: RunLogger | None
        if task_ctx is not None:
            enabled, logger = task_ctx.log_prints, task_ctx.logger
        else:
            flow_ctx = flow_run_ctx.get()
            enabled = flow_ctx is not None and flow_ctx.log_prints
            logger = flow_ctx.logger if flow_ctx is not None else None
        if enabled and logger is not None:
            sep = kwargs.get("sep")
            logger.info((" " if sep is None else sep).join(str(a) for a in args))
            return
    _original_print(*args, **kwargs)


def enable_log_prints() -> None:
    """Route `print` to the run logger in runs with log_prints (reference counted)."""
    global _print_users
    with _print_lock:
        _print_users += 1
        builtins.print = _print_to_run_logger


def disable_log_prints() -> None:
    global _print_users
    with _print_lock:
        _print_users -= 1
        if _print_users <= 0:
            _print_users = 0
            builtins.print = _original_print

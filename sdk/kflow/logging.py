"""Console logging in Prefect's console format, run loggers, and `log_prints`.

    15:15:58.673 | INFO    | Flow run 'loose-wolverine' - Created task run ...

Records go to the `kflow` logger tree (`kflow.engine`, `kflow.flow_runs`, `kflow.task_runs`),
which has its own console handler writing to the current `sys.stderr` and does not propagate to
the root logger (so an application's own logging setup does not print every line twice).
The level comes from KFLOW_LOGGING_LEVEL (default INFO); a line below it costs one check.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import sys
import threading
import time
from collections import deque
from typing import Any, TextIO

from kflow.context import flow_run_ctx, task_run_ctx
from kflow.log_lines import EngineLine, LineHandler, line_handlers, register_line_handler

#: How long a line may wait in the console's queue for others to be written with it.
WRITE_DELAY_SECONDS = 0.02
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
    task run. When only kflow's handlers would see them, it hands them the line itself
    (kflow.log_lines); otherwise it builds the LogRecord directly instead of going through
    `Logger._log`, which walks the stack for the caller. Either way the message is formatted
    only once.
    """

    def emit_fast(self, level: int, msg: str, *args: Any) -> None:
        """Log one engine line."""
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        now = time.time()
        handlers = line_handlers(logger, level)
        if handlers is not None:
            extra: Any = self.extra
            try:
                message = msg % args if args else msg
            except Exception:  # the record's path reports it as logging does
                pass
            else:
                line = EngineLine(
                    level,
                    _level_names.get(level) or logging.getLevelName(level),
                    now,
                    extra.get("run_label") or logger.name,
                    message,
                    extra.get("flow_run_id"),
                    extra.get("task_run_id"),
                )
                for handler in handlers:
                    handler.take_line(line)
                return
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
        logger.handle(record)


class ConsoleFormatter(logging.Formatter):
    """`HH:MM:SS.mmm | LEVEL   | <run label or logger name> - message`."""

    _clock_second = -1
    _clock_text = ""

    def format(self, record: logging.LogRecord) -> str:
        # Kept on the record, as logging.Formatter does: the run history's row reuses it.
        record.message = message = record.getMessage()
        line = self.line(
            record.created,
            record.msecs,
            record.levelname,
            record.__dict__.get("run_label") or record.name,
            message,
        )
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line

    def line(self, created: float, msecs: float, levelname: str, label: str, message: str) -> str:
        """The line of a record with these fields and no exception."""
        second = int(created)
        if second != self._clock_second:
            self._clock_text = time.strftime("%H:%M:%S", time.localtime(second))
            self._clock_second = second
        return f"{self._clock_text}.{int(msecs):03d} | {levelname:<7} | {label} - {message}"


class ConsoleHandler(LineHandler):
    """Writes each line to whatever `sys.stderr` was when it was logged (pytest's capsys
    swaps it), from a writer thread of its own.

    A write to stderr is a system call that gives up the GIL, and a thread that gives it up
    may wait for a task run in another thread to take it back: with three lines per submitted
    task run, the threads that log (the flow's, the task runner's) only format the line and
    queue it, and the writer thread writes what has queued within WRITE_DELAY_SECONDS, many
    lines per write when many come at once. `flush()` writes what is queued from the calling
    thread: the engine calls it when a top-level flow run ends, and `logging.shutdown` at
    exit, so a run's lines are all out when its call returns and none is lost at exit. No
    explicit stream flush: since Python 3.9 stderr is line-buffered even when redirected, so
    lines reach `kubectl logs` / `docker logs` as soon as they are written.
    """

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[tuple[TextIO, str]] = deque()
        self._wake = threading.Event()
        self._delay = threading.Event()  # never set: waiting on it is the writer's pause
        #: One writer at a time (the thread or a `flush()` caller), so lines keep their order.
        self._write_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forget_parent)

    def handle(self, record: logging.LogRecord) -> bool:
        """Skips the handler lock: appending to the queue is atomic."""
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._enqueue(line)

    def takes_lines(self) -> bool:
        return self.formatter.__class__ is ConsoleFormatter

    def take_line(self, line: EngineLine) -> None:
        formatter: Any = self.formatter
        created = line.created
        self._enqueue(
            formatter.line(
                created, (created - int(created)) * 1000, line.levelname, line.label, line.message
            )
        )

    def _enqueue(self, line: str) -> None:
        self._queue.append((sys.stderr, line))
        if not self._wake.is_set():
            if self._writer is None:
                self._start_writer()
            self._wake.set()

    def flush(self) -> None:
        """Write every queued line now, in order, in as few writes as there are streams."""
        with self._write_lock:
            queue = self._queue
            while queue:
                stream = queue[0][0]
                lines = []
                while queue and queue[0][0] is stream:
                    lines.append(queue.popleft()[1])
                # A closed stream (an ended capture, a closed pipe) drops its lines.
                with contextlib.suppress(OSError, ValueError):
                    stream.write("\n".join(lines) + "\n")

    def _write_forever(self) -> None:
        while True:
            self._wake.wait()
            # Woken by the first line of a burst: let the rest of it queue up, so a thousand
            # task runs are a few writes and a few wake-ups of this thread, not thousands.
            # (An Event's wait, not time.sleep: tests replace time.sleep to count sleeps.)
            self._delay.wait(WRITE_DELAY_SECONDS)
            self._wake.clear()
            self.flush()

    def _start_writer(self) -> None:
        with self._write_lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="kflow-console", daemon=True
                )
                self._writer.start()

    def _forget_parent(self) -> None:
        """In a forked child: the parent writes its own queued lines, and the writer thread
        did not come along."""
        self._queue.clear()
        self._wake = threading.Event()
        self._delay = threading.Event()
        self._write_lock = threading.Lock()
        self._writer = None


register_line_handler(ConsoleHandler)
_console: ConsoleHandler | None = None


def flush_console() -> None:
    """Write out every queued console line (a top-level flow run is ending)."""
    if _console is not None:
        _console.flush()


def setup_logging() -> None:
    """Install the console handler once (called when the first flow run starts)."""
    global _configured, _console
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
        _console = handler
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

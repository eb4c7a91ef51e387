"""The engine's own log lines (created / submitted / finished) without a LogRecord.

Each submitted task run logs three such lines, and going through `logging` costs most of their
price: a LogRecord and its dict of two dozen attributes, `Logger.handle`, `callHandlers`, each
handler's `handle`, then the record kept until the history writes it. When nothing but kflow's
own handlers would see the record, the line is handed to them directly as an `EngineLine`:
formatted once, written to the console and kept in the history exactly as the record would
have been. Anything else configured on the way — a handler or filter a user added, a
handler's level above the line's, a formatter replaced, a disabled logger, propagation
changed — and the line takes the ordinary `logging` path instead, checked on every line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

_KFLOW = logging.getLogger("kflow")


class EngineLine:
    """One engine line, as handlers that take lines see it: the fields of the LogRecord they
    would have read (`label` is the record's `run_label`, or its logger's name without one)."""

    __slots__ = (
        "created",
        "flow_run_id",
        "label",
        "levelname",
        "levelno",
        "message",
        "task_run_id",
    )

    def __init__(
        self,
        levelno: int,
        levelname: str,
        created: float,
        label: str,
        message: str,
        flow_run_id: str | None,
        task_run_id: str | None,
    ) -> None:
        self.levelno = levelno
        self.levelname = levelname
        self.created = created
        self.label = label
        self.message = message
        self.flow_run_id = flow_run_id
        self.task_run_id = task_run_id


class LineHandler(logging.Handler):
    """A kflow handler that can take an `EngineLine` in place of a record.

    `take_line` must have exactly the effect `handle` has for the record of that line.
    """

    def takes_lines(self) -> bool:
        """Whether `take_line` is equivalent now (e.g. the formatter is still kflow's)."""
        return True

    def take_line(self, line: EngineLine) -> None:
        raise NotImplementedError


#: The exact classes whose `take_line` is known to match their `handle`: a subclass may
#: override `handle` or `emit`, so it gets records.
_LINE_HANDLER_CLASSES: set[type[LineHandler]] = set()


def register_line_handler(cls: type[LineHandler]) -> None:
    _LINE_HANDLER_CLASSES.add(cls)


def line_handlers(logger: logging.Logger, level: int) -> Sequence[LineHandler] | None:
    """The handlers `logger.handle` would call for a record at `level`, when they all take
    lines and nothing else could see or drop the record on the way; otherwise None.

    `logger` is a child of the `kflow` logger that is enabled for `level`.
    """
    if logger.handlers or logger.filters or logger.disabled or not logger.propagate:
        return None
    parent = logger.parent
    if parent is not _KFLOW or parent.propagate:
        return None
    handlers: list[Any] = parent.handlers
    if not handlers:
        return None  # `logging` would use its handler of last resort
    classes = _LINE_HANDLER_CLASSES
    for handler in handlers:
        if (
            handler.__class__ not in classes
            or handler.filters
            or handler.level > level
            or not handler.takes_lines()
        ):
            return None
    return handlers

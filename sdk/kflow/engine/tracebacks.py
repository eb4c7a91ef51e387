"""Tracebacks in the run logs show the user's code, not the engine's frames."""

from __future__ import annotations

import os
import traceback

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def format_user_exception(exc: BaseException) -> str:
    """The traceback of `exc` (and its causes) without kflow's own frames.

    When every frame is kflow's (the engine itself raised), they are all kept: the reader
    then needs them.
    """
    report = traceback.TracebackException.from_exception(exc)
    seen: set[int] = set()
    pending: list[traceback.TracebackException | None] = [report]
    while pending:
        part = pending.pop()
        if part is None or id(part) in seen:
            continue
        seen.add(id(part))
        user_frames = [f for f in part.stack if not f.filename.startswith(_PACKAGE_DIR)]
        if user_frames:
            part.stack = traceback.StackSummary.from_list(user_frames)
        pending.extend((part.__cause__, part.__context__))
    return "".join(report.format()).rstrip("\n")

"""`kflow flow-run ls|inspect|cancel|resume|logs` over the local run history (runs started on
this machine); `ls` and `inspect` are here, the control commands in kflow.cli.local_control.

The `flow-run` group is built here. The cluster side plugs in through `CLUSTER_EXTENSION`
("module:function", called with the group's subparsers action and the parsers made here by
name): it may add options and set `cluster_handler` on a parser. A subcommand then runs its
`cluster_handler` unless `--local` was given; that handler decides whether the cluster is the
target and may hand back to `args.local_handler`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kflow.cli import Handler, load, name_choices, run_handler
from kflow.cli.output import FORMATS, render

CLUSTER_EXTENSION: str | None = "kflow.cli.cluster_runs:extend_flow_run"

DEFAULT_LIST_LIMIT = 20
DEFAULT_TASK_LIMIT = 100
DEFAULT_GRACE_SECONDS = 30
_RUN_REFERENCE = (
    "a local run's id, a unique start of it, or its name; in a cluster, the FlowRun's name"
)
_CONTROL = "kflow.cli.local_control"


def register_flow_run(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "flow-run",
        help="list and inspect flow runs",
        description="Flow runs. --local reads the run history of this machine "
        "($KFLOW_HOME/history.db, KFLOW_HOME defaulting to ~/.kflow).",
    )
    commands = group.add_subparsers(dest="flow_run_command", required=True)

    ls = commands.add_parser("ls", help="list flow runs, newest first")
    ls.add_argument(
        "--limit",
        type=_non_negative_int,
        default=DEFAULT_LIST_LIMIT,
        help=f"show at most this many runs, 0 for all (default {DEFAULT_LIST_LIMIT})",
    )
    _add_output_option(ls)
    _add_local_option(ls, flow_run_ls)

    inspect = commands.add_parser(
        "inspect", help="show a flow run, its state history, its task runs and subflow runs"
    )
    inspect.add_argument("id", metavar="FLOW_RUN", help=_RUN_REFERENCE)
    inspect.add_argument(
        "--task-limit",
        type=_non_negative_int,
        default=DEFAULT_TASK_LIMIT,
        help=f"list at most this many task runs, 0 for all (default {DEFAULT_TASK_LIMIT})",
    )
    _add_output_option(inspect)
    _add_local_option(inspect, flow_run_inspect)

    cancel = commands.add_parser(
        "cancel",
        help="cancel a flow run: CANCELLING, then CANCELLED once its process has stopped "
        "(on_cancellation hooks run)",
    )
    cancel.add_argument("id", metavar="FLOW_RUN", help=_RUN_REFERENCE)
    cancel.add_argument(
        "--grace-period",
        type=_non_negative_int,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="local runs: how long the process may take to stop after SIGTERM before it is "
        f"killed (default {DEFAULT_GRACE_SECONDS}); a cluster run's is its FlowRun's",
    )
    _add_local_option(cancel, f"{_CONTROL}:flow_run_cancel")

    resume = commands.add_parser("resume", help="resume a paused flow run")
    resume.add_argument("id", metavar="FLOW_RUN", help=_RUN_REFERENCE)
    _add_local_option(resume, f"{_CONTROL}:flow_run_resume")

    logs = commands.add_parser("logs", help="print a flow run's log lines")
    logs.add_argument("id", metavar="FLOW_RUN", help=_RUN_REFERENCE)
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the run ends"
    )
    _add_local_option(logs, f"{_CONTROL}:flow_run_logs")

    if CLUSTER_EXTENSION is not None:
        parsers = {"ls": ls, "inspect": inspect, "cancel": cancel, "resume": resume, "logs": logs}
        load(CLUSTER_EXTENSION)(commands, parsers)
    name_choices(commands)


def _add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        help="print the run(s) as a JSON or YAML document instead of a table",
    )


def _add_local_option(parser: argparse.ArgumentParser, local_handler: Handler | str) -> None:
    parser.add_argument(
        "--local", action="store_true", help="use the local run history of this machine"
    )
    parser.set_defaults(handler=_dispatch, local_handler=local_handler)


def _dispatch(args: argparse.Namespace) -> int:
    cluster_handler: Handler | str | None = getattr(args, "cluster_handler", None)
    if args.local or cluster_handler is None:
        return run_handler(args.local_handler, args)
    return run_handler(cluster_handler, args)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


# -- ls ---------------------------------------------------------------------------------------
def flow_run_ls(args: argparse.Namespace) -> int:
    from kflow.history.queries import History

    history = History.at()
    runs = history.flow_runs(limit=args.limit or None)
    if args.output:
        from kflow.cli.run_documents import flow_run_document

        document = {"items": [flow_run_document(run) for run in runs]}
        print(render(document, args.output), end="")
        return 0
    if not runs:
        print(f"No flow runs in the local history ({history.path}).")
        return 0
    now = time.time()
    rows = [
        [
            run.id,
            run.name,
            run.flow_name,
            _state_label(run.state),
            _datetime(run.start_time),
            _duration(run.start_time, run.end_time, now, finished=run.end_time is not None),
        ]
        for run in runs
    ]
    print(_table(["ID", "NAME", "FLOW", "STATE", "START", "DURATION"], rows))
    return 0


# -- inspect ----------------------------------------------------------------------------------
def flow_run_inspect(args: argparse.Namespace) -> int:
    from kflow.cli.run_documents import state_counts
    from kflow.history.queries import History

    history = History.at()
    run = history.flow_run(args.id)
    states = history.flow_run_states(run.id)
    task_runs = history.task_runs(run.id)
    shown = task_runs if not args.task_limit else task_runs[: args.task_limit]
    subflows = history.subflow_runs(run.id)
    if args.output:
        document = _inspect_document(run, states, task_runs, shown, subflows)
        print(render(document, args.output), end="")
        return 0
    now = time.time()
    state = run.state
    fields = [
        ("Flow run", f"{run.name} ({run.id})"),
        ("Flow", run.flow_name + (f" (version {run.flow_version})" if run.flow_version else "")),
        ("State", _state_label(state)),
        ("Message", (state.message if state else None) or "-"),
        ("Parameters", json.dumps(run.parameters, sort_keys=True)),
        ("Tags", ", ".join(run.tags) or "-"),
        ("Parent", _parent(run.parent_flow_run_id, run.parent_task_run_id)),
        ("Created", _datetime(run.created)),
        ("Started", _datetime(run.start_time)),
        ("Ended", _datetime(run.end_time)),
        ("Duration", _duration(run.start_time, run.end_time, now, run.end_time is not None)),
        ("Run count", str(run.run_count)),
        ("Process", f"{run.pid} on {run.hostname}"),
        ("Result", _result_label(run.result)),
    ]
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        print(f"{label.ljust(width)}  {value}")

    print(f"\nState history ({len(states)})")
    if states:
        state_rows = [
            [_datetime(s.timestamp, millis=True), s.type, s.name, s.message or ""] for s in states
        ]
        print(_indent(_table(["TIME", "TYPE", "NAME", "MESSAGE"], state_rows)))

    print(f"\nTask runs ({_counted(len(task_runs), state_counts([t.state for t in task_runs]))})")
    if shown:
        task_rows = [
            [
                t.name,
                _state_label(t.state),
                _datetime(t.start_time, millis=True),
                _duration(t.start_time, t.end_time, now, t.end_time is not None),
                str(t.run_count),
                t.child_flow_run_id or "",
                (t.state.message or "") if t.state else "",
            ]
            for t in shown
        ]
        headers = ["NAME", "STATE", "START", "DURATION", "RUNS", "SUBFLOW RUN", "MESSAGE"]
        print(_indent(_table(headers, task_rows)))
    if len(shown) < len(task_runs):
        print(f"  ... {len(task_runs) - len(shown)} more (--task-limit 0 lists all)")

    if subflows:
        print(
            f"\nSubflow runs ({_counted(len(subflows), state_counts([s.state for s in subflows]))})"
        )
        sub_rows = [
            [
                s.id,
                s.name,
                s.flow_name,
                _state_label(s.state),
                _datetime(s.start_time, millis=True),
                _duration(s.start_time, s.end_time, now, s.end_time is not None),
            ]
            for s in subflows
        ]
        print(_indent(_table(["ID", "NAME", "FLOW", "STATE", "START", "DURATION"], sub_rows)))
    return 0


def _inspect_document(
    run: Any, states: list[Any], task_runs: list[Any], shown: list[Any], subflows: list[Any]
) -> dict[str, Any]:
    from kflow.cli.run_documents import (
        flow_run_document,
        state_counts,
        state_document,
        task_run_document,
    )

    return {
        **flow_run_document(run),
        "stateHistory": [state_document(s) for s in states],
        "taskRuns": {
            "total": len(task_runs),
            "counts": state_counts([t.state for t in task_runs]),
            "items": [task_run_document(t) for t in shown],
        },
        "subflowRuns": {
            "total": len(subflows),
            "counts": state_counts([s.state for s in subflows]),
            "items": [flow_run_document(s) for s in subflows],
        },
    }


# -- presentation -----------------------------------------------------------------------------
def _state_label(state: Any) -> str:
    if state is None:
        return "-"
    label: str = state.type
    if state.name.upper() != state.type:
        label += f" ({state.name})"
    return label


def _counted(total: int, counts: dict[str, int]) -> str:
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    return f"{total}: {summary}" if summary else str(total)


def _result_label(result: dict[str, Any] | None) -> str:
    """`encode_result`'s record as a line: the value, or where it is stored, or why not shown."""
    if result is None:
        return "-"
    if "value" in result:
        return json.dumps(result["value"], sort_keys=True)
    if result.get("reference"):
        return f"{result.get('summary', '')} (stored at {result['reference']})"
    summary = str(result.get("summary") or "-")
    if summary == "None":
        return summary
    return f"{summary} (not kept: not JSON or over 16 KiB; @flow(persist_result=True) stores it)"


def _parent(parent_flow_run_id: str | None, parent_task_run_id: str | None) -> str:
    if parent_flow_run_id is None:
        return "-"
    if parent_task_run_id is None:
        return f"flow run {parent_flow_run_id}"
    return f"flow run {parent_flow_run_id} (task run {parent_task_run_id})"


def _datetime(timestamp: float | None, *, millis: bool = False) -> str:
    if timestamp is None:
        return "-"
    moment = datetime.fromtimestamp(timestamp).astimezone()
    if millis:
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: float | None, end: float | None, now: float, finished: bool) -> str:
    if start is None:
        return "-"
    seconds = max(0.0, (end if end is not None else now) - start)
    if seconds < 60:
        text = f"{seconds:.3f}s" if seconds < 1 else f"{seconds:.1f}s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    else:
        text = f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return text if finished else f"{text} so far"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())

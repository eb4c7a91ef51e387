"""A run whose infrastructure is in another operator's scope (design.md §5): left alone, but
never silently.

Only an operator of the identifier's scope may watch, cancel or finish a run, so a run whose
status names a scope no operator serves (launched on another host or cluster, or a status
rewritten by a user) would wait for ever with nothing said. The ForeignScope condition says
which scope the run carries, this operator's, and what to do; it is cleared once the run's
scope is this operator's again.
"""

from __future__ import annotations

from kflow_operator.decisions.actions import ReportScope
from kflow_operator.decisions.supervised_run import SupervisedRun

FOREIGN_SCOPE = "ForeignScope"
"""Condition: True while the run's infrastructure is in a scope this operator may not act in."""
FOREIGN_REASON = "ForeignScope"
IN_SCOPE_REASON = "InScope"


def foreign_scope_message(run: SupervisedRun, own_scope: str | None) -> str:
    identifier = run.identifier
    assert identifier is not None, "only a run with recorded infrastructure has a scope"
    if own_scope is None:
        this = f"this operator runs no {identifier.type} infrastructure"
    else:
        this = f"this operator's {identifier.type} scope is {own_scope!r}"
    return (
        f"status.infrastructure.scope is {identifier.scope!r} and {this}: only an operator of "
        f"{identifier.scope!r} may watch, cancel or finish this run, so this one leaves it "
        "alone. If no operator runs there (the run was launched on another host or cluster, "
        "or status.infrastructure was changed), the run cannot end by itself: set "
        "status.infrastructure back to what its launch recorded, or delete the FlowRun "
        "(infrastructure in that scope is not stopped)."
    )


def scope_report(run: SupervisedRun, ours: bool, own_scope: str | None) -> ReportScope | None:
    """What to write about the run's scope, or None when its condition already says it.

    `ours`: the run's identifier is in this operator's scope; `own_scope`: this operator's scope
    for the identifier's type (None: it runs no launcher of that type)."""
    if run.identifier is None:
        return None
    current = run.condition(FOREIGN_SCOPE)
    if ours:
        if current is not None and current.status == "True":
            back = f"The run's infrastructure is in this operator's scope {own_scope!r} again."
            return ReportScope(False, back)
        return None
    message = foreign_scope_message(run, own_scope)
    if current is not None and current.status == "True" and current.message == message:
        return None
    return ReportScope(True, message)

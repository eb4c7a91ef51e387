"""How carrying out one of a supervisor's actions went: what its loop does next."""

from __future__ import annotations

import enum


class Step(enum.Enum):
    """How carrying out an action went, for the loop."""

    CARRIED_OUT = "carried out"
    """Carried out (or nothing to write): decide again on what is known."""
    REFUSED = "refused"
    """kflow.transitions refused the state from the current one: re-read, decide again."""
    MOVED = "moved"
    """The run is gone or changed since it was read: re-read (stop if gone), decide again."""
    FINISHED = "finished"
    """The operator is done with the run."""
    HELD = "held"
    """Still held, as already written (a run of no Deployment that its pool holds): sleep
    until woken."""

"""Exceptions a user of kflow may see or catch."""

from __future__ import annotations


class KflowException(Exception):
    """Base class of kflow's own errors."""


class FailedRun(KflowException):
    """Raised by `State.result()` for a FAILED state that carries no exception of its own."""


class CrashedRun(KflowException):
    """Raised by `State.result()` for a CRASHED state that carries no exception of its own."""


class CancelledRun(KflowException):
    """Raised by `State.result()` for a CANCELLED state (the run was cancelled)."""


class PausedRun(KflowException):
    """Raised by `State.result()` for a PAUSED state (the run is waiting to be resumed)."""


class ParameterTypeError(KflowException, TypeError):
    """The parameters given to a flow do not match its signature or type hints."""


class UpstreamTaskError(KflowException):
    """A task could not run because a task it depends on did not complete."""


class MappingLengthMismatch(KflowException, ValueError):
    """`Task.map()` got iterables of different lengths."""


class ReschedulingNotSupported(KflowException, RuntimeError):
    """`pause_flow_run(reschedule=True)` outside a run backed by the kflow operator."""


class FlowPauseTimeout(KflowException):
    """A paused flow run was not resumed within its timeout; the run fails."""


class MissingContextError(KflowException, RuntimeError):
    """`get_run_context()` was called outside a flow run or task run."""


class HashError(KflowException, TypeError):
    """A value could not be hashed into a cache key (neither JSON nor pickle can encode it)."""


class NotSupportedError(KflowException):
    """A Prefect feature kflow does not have; the message names what to use instead.

    Raised as one of the subclasses below, each also the builtin exception Python would raise
    in its place, so code that catches ImportError, AttributeError or TypeError still does.
    """


class NotSupportedImportError(NotSupportedError, ImportError):
    """`from kflow import X` (or `from kflow.<module> import X`) of a Prefect name kflow lacks."""


class NotSupportedAttributeError(NotSupportedError, AttributeError):
    """A Prefect method or attribute kflow lacks, such as `Flow.serve`."""


class NotSupportedArgumentError(NotSupportedError, TypeError):
    """A Prefect keyword argument kflow does not accept, such as `@task(result_storage=...)`."""


class ResultStorageError(KflowException):
    """The result storage could not be read or written; the message names it and what to
    check. The task run (or flow run) that needed it fails."""

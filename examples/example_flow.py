"""The sample flow: greets someone, then squares and sums a list of numbers with tasks.

Run it with no cluster:

    uv run poe example                                  # defaults
    uv run python examples/example_flow.py Marvin 3 -4 5

then look at what was recorded with `uv run kflow flow-run ls` and
`uv run kflow flow-run inspect <id or name>`.

The same file is a Deployment entrypoint for the operator:
`examples/example_flow.py:example_workflow`.
"""

from __future__ import annotations

import math
import sys

from kflow import flow, get_run_logger, task

DEFAULT_NUMBERS = (1, 2, 3, -4, 5)

# Tasks that talk to the outside world fail for passing reasons; these settings are the ones a
# production flow would use. They cost nothing on the happy path: no retry, no delay.
RETRIES = 3
RETRY_DELAY_SECONDS = 60
TIMEOUT_SECONDS = 300


@task(
    name="greet",
    description="Say hello to whoever the run is for.",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAY_SECONDS,
    timeout_seconds=TIMEOUT_SECONDS,
)
def greet(name: str) -> str:
    message = f"Hello, {name}!"
    get_run_logger().info(message)
    return message


@task(
    name="square",
    description="Square one number.",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAY_SECONDS,
    timeout_seconds=TIMEOUT_SECONDS,
)
def square(number: float) -> float:
    logger = get_run_logger()
    if number < 0:
        logger.warning("%s is negative: its square is positive all the same", number)
    result = number * number
    logger.info("%s squared is %s", number, result)
    return result


@task(
    name="total",
    description="Add the squares up.",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAY_SECONDS,
    timeout_seconds=TIMEOUT_SECONDS,
)
def total(squares: list[float]) -> float:
    result = math.fsum(squares)
    get_run_logger().info("Sum of %d squares: %s", len(squares), result)
    return result


@flow
def example_workflow(
    name: str = "kflow", numbers: list[float] | None = None
) -> dict[str, int | float]:
    """Greet NAME, then square each of NUMBERS concurrently and add the squares up."""
    logger = get_run_logger()
    greet(name)
    values = list(DEFAULT_NUMBERS if numbers is None else numbers)
    usable = [n for n in values if math.isfinite(n)]
    for skipped in (n for n in values if not math.isfinite(n)):
        logger.error("%s is not a finite number: it is left out of the sum", skipped)
    if not usable:
        logger.warning("No numbers to process")
    squares = [future.result() for future in square.map(usable)]
    summary: dict[str, int | float] = {"count": len(squares), "sum_of_squares": total(squares)}
    logger.info("Processed %d numbers for %s: %s", len(squares), name, summary)
    return summary


def main(argv: list[str]) -> None:
    if not argv:
        example_workflow()
        return
    name, *numbers = argv
    try:
        parsed = [float(n) for n in numbers]
    except ValueError as exc:
        sys.exit(f"usage: example_flow.py [NAME [NUMBER ...]]: {exc}")
    example_workflow(name, parsed or None)


if __name__ == "__main__":
    main(sys.argv[1:])

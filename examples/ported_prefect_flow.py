"""A Prefect 3 flow ported to kflow by changing its imports (`prefect` became `kflow`).

It fetches a day's hourly readings for some weather stations (retried when the source times
out), cleans them (cached by input, so a rerun on the same day skips the work, in this
process or the next) and summarises each station. Given `publish_to`, the name of another
deployment, it starts a run of it with the report (`run_deployment`, which needs a cluster in
kflow as it needs a server in Prefect) and returns without waiting for it.
"""

from datetime import timedelta

from kflow import flow, get_run_logger, runtime, task, unmapped
from kflow.cache_policies import INPUTS, TASK_SOURCE
from kflow.deployments import run_deployment
from kflow.tasks import task_input_hash


@task(retries=2, cache_key_fn=task_input_hash, cache_expiration=timedelta(hours=12))
def fetch_readings(station: str, day: str) -> list[float]:
    if station.endswith("2") and runtime.task_run.run_count == 1:
        raise ConnectionError(f"the source for {station} timed out")  # retried
    seed = sum(map(ord, station + day))
    return [round(seed * (hour + 7) % 97 / 3, 2) for hour in range(24)]


@task(cache_policy=INPUTS + TASK_SOURCE)
def clean(readings: list[float]) -> list[float]:
    return [value for value in readings if 0 < value < 30]


@task(task_run_name="summarise-{station}")
def summarise(station: str, readings: list[float]) -> dict[str, float | str]:
    mean = round(sum(readings) / len(readings), 2)
    return {"station": station, "hours": len(readings), "mean": mean}


@flow(name="daily-readings", log_prints=True)
def daily_readings(
    day: str, stations: list[str], publish_to: str | None = None
) -> list[dict[str, float | str]]:
    raw = fetch_readings.map(stations, unmapped(day))
    summaries = summarise.map(stations, clean.map(raw))
    report = [summary.result() for summary in summaries]
    for line in report:
        print(f"{line['station']}: {line['hours']} hours, mean {line['mean']}")
    get_run_logger().info("Summarised %d stations for %s", len(report), day)
    if publish_to:
        published = run_deployment(publish_to, parameters={"report": report}, timeout=0)
        get_run_logger().info("Publishing in flow run %s", published.name)
    return report


if __name__ == "__main__":
    daily_readings("2024-05-01", ["station-1", "station-2", "station-3"])

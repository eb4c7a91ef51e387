"""The chart's metrics: on by default (--metrics-address, a `metrics` port and Service), a
ServiceMonitor only when asked, off entirely with metrics.enabled=false."""

from __future__ import annotations

import pytest

from tests.support.chart import HelmError, Rendered, render


def metrics_args(chart: Rendered) -> list[str]:
    return [a for a in chart.operator_container()["args"] if a.startswith("--metrics-address")]


def test_by_default_the_operator_serves_metrics_behind_a_service() -> None:
    chart = render()
    assert metrics_args(chart) == ["--metrics-address=0.0.0.0:8081"]
    ports = {p["name"]: p["containerPort"] for p in chart.operator_container()["ports"]}
    assert ports == {"health": 8080, "metrics": 8081}
    service = chart.one("Service")
    assert service["metadata"]["name"] == "kflow-metrics"
    assert service["metadata"]["namespace"] == "kflow-system"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = chart.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "operator"
    assert not chart.of_kind("ServiceMonitor")


MONITORING = ("--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
"""What `helm template` is told the cluster serves when the Prometheus operator is installed."""


def test_a_service_monitor_scrapes_the_metrics_port_when_enabled() -> None:
    chart = render(
        {
            "metrics.serviceMonitor.enabled": True,
            "metrics.serviceMonitor.interval": "15s",
            "metrics.serviceMonitor.labels.release": "prometheus",
        },
        *MONITORING,
    )
    monitor = chart.one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s"}
    ]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["kflow-system"]}
    service = chart.one("Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


def test_without_the_prometheus_operator_no_service_monitor_is_rendered() -> None:
    """(The install notes then say so: tests/integration/test_operator_metrics.py.)"""
    assert not render({"metrics.serviceMonitor.enabled": True}).of_kind("ServiceMonitor")


def test_metrics_off_renders_no_port_service_or_flag() -> None:
    chart = render({"metrics.enabled": False, "metrics.serviceMonitor.enabled": True}, *MONITORING)
    assert metrics_args(chart) == []
    assert [p["name"] for p in chart.operator_container()["ports"]] == ["health"]
    assert not chart.of_kind("Service")
    assert not chart.of_kind("ServiceMonitor")


def test_another_port_moves_flag_port_and_service_together() -> None:
    chart = render({"metrics.port": 9100})
    assert metrics_args(chart) == ["--metrics-address=0.0.0.0:9100"]
    assert chart.one("Service")["spec"]["ports"][0]["port"] == 9100


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"metrics.port": 8080}, "metrics.port and health.port must differ"),
        ({"metrics.port": 80}, "metrics.port"),
        ({"metrics.serviceMonitor.interval": "often"}, "interval"),
        ({"metrics.enable": True}, "enable"),
    ],
)
def test_bad_metrics_values_are_refused_naming_the_value(
    values: dict[str, int | str | bool], message: str
) -> None:
    with pytest.raises(HelmError, match=message):
        render(values)

"""Names Grafana knows HostPulse's objects by: the dashboards, the provisioning files and
`hostpulse-grafana push` must agree on them, so they live here once."""

from __future__ import annotations

FOLDER_TITLE = "HostPulse"
FOLDER_UID = "hostpulse"

PROMETHEUS_DATASOURCE_UID = "hostpulse-prometheus"
PROMETHEUS_DATASOURCE_NAME = "HostPulse Prometheus"
POSTGRES_DATASOURCE_UID = "hostpulse-postgres"
POSTGRES_DATASOURCE_NAME = "HostPulse PostgreSQL"
POSTGRES_DATASOURCE_TYPE = "grafana-postgresql-datasource"

# The label Prometheus puts on every HostPulse series (relabeled from the target): the host.
HOST_LABEL = "host_name"
# The exporter's default collection interval; Prometheus should scrape no faster.
SCRAPE_INTERVAL = "10s"

"""The two PostgreSQL dashboards: a host's history from HostPulse's own database, and alerts.

They read only schema `grafana` (042_grafana_reader.sql), as the read-only role
`hostpulse_grafana`. Values go through grafana.metric_values / metric_rates, which pick raw
samples, 1-minute or 1-hour rollups by the range, so 30 days stay fast. Multi-value variables are
quoted lists (`'a','b'`), always used as `ARRAY[$host]::text[]` (an empty selection is an empty
array, not the syntax error `IN ()` would be)."""

# ruff: noqa: S608  (these strings are SQL for Grafana to run; nothing here executes them)
from __future__ import annotations

from dashboards.grafana.panels import (
    BUSY_THRESHOLDS,
    POSTGRES,
    Column,
    Json,
    Layout,
    dashboard,
    query_variable,
    row,
    sql,
    stat,
    table,
    thresholds,
    timeseries,
)

RANGE = "ARRAY[$host]::text[], '{metric}', $__timeFrom(), $__timeTo()"


def values(metric: str, legend: str, where: str = "") -> str:
    """One time series per stored series of `metric`, named by `legend` (an SQL expression)."""
    condition = f"\nWHERE {where}" if where else ""
    return (
        f"SELECT time, {legend} AS metric, value\n"
        f"FROM grafana.metric_values({RANGE.format(metric=metric)}){condition}\n"
        "ORDER BY 1"
    )


def rates(metric: str, legend: str) -> str:
    """A counter's per-second rate, one time series per stored series (each series of the
    metric has its own label set, so there is nothing to sum: a GROUP BY here doubled the
    30-day panel's time, bench/grafana_sql_bench.py)."""
    return (
        f"SELECT time, {legend} AS metric, value\n"
        f"FROM grafana.metric_rates({RANGE.format(metric=metric)})\n"
        "ORDER BY 1"
    )


DEVICE = "host || ' ' || (labels->>'system_device') || ' ' || (labels->>'disk_io_direction')"
INTERFACE = (
    "host || ' ' || (labels->>'network_interface_name') || ' ' || (labels->>'network_io_direction')"
)


def host_variable(query: str, *, include_all: bool = True) -> Json:
    return query_variable(
        "host", "Host", query, datasource=POSTGRES, sql_query=True, include_all=include_all
    )


def history() -> Json:
    layout = Layout()
    layout.add(
        stat(
            "Resolution",
            [
                sql(
                    "SELECT grafana.resolution($__timeFrom(), $__timeTo()) AS resolution",
                    table=True,
                )
            ],
            unit="string",
            description="raw: samples (≤ 2 h; older than the merge horizon, 1-minute averages); "
            "1m: 1-minute rollups (≤ 2 days); 1h: hourly rollups.",
            width=4,
        ),
        stat(
            "CPU busy (last)",
            [
                sql(
                    "SELECT time, host AS metric, 1 - value AS value\n"
                    "FROM grafana.metric_values("
                    + RANGE.format(metric="system_cpu_utilization_ratio")
                    + ")\nWHERE labels->>'cpu_mode' = 'idle'\nORDER BY 1"
                )
            ],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            width=5,
        ),
        stat(
            "Memory used (last)",
            [sql(values("system_memory_utilization_ratio", "host"))],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            width=5,
        ),
        stat(
            "Uptime",
            [sql(values("system_uptime_seconds", "host"))],
            unit="s",
            width=5,
        ),
        stat(
            "Load (1 min)",
            [sql(values("system_cpu_load_average_1m", "host"))],
            unit="short",
            width=5,
        ),
    )
    layout.add(row("CPU and memory"))
    layout.add(
        timeseries(
            "CPU busy per core",
            [
                sql(
                    values(
                        "system_cpu_utilization_ratio",
                        "host || ' cpu' || (labels->>'cpu_logical_number')",
                        "labels ? 'cpu_logical_number'",
                    )
                )
            ],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            max_value=1,
            width=8,
        ),
        timeseries(
            "CPU by mode",
            [
                sql(
                    values(
                        "system_cpu_utilization_ratio",
                        "host || ' ' || (labels->>'cpu_mode')",
                        "labels ? 'cpu_mode' AND labels->>'cpu_mode' <> 'idle'",
                    )
                )
            ],
            unit="percentunit",
            stack=True,
            max_value=1,
            width=8,
        ),
        timeseries(
            "Load average",
            [
                sql(values("system_cpu_load_average_1m", "host || ' 1m'")),
                sql(values("system_cpu_load_average_15m", "host || ' 15m'")),
            ],
            unit="short",
            width=8,
        ),
        timeseries(
            "Memory",
            [
                sql(
                    values(
                        "system_memory_usage_bytes",
                        "host || ' ' || (labels->>'system_memory_state')",
                    )
                ),
                sql(values("system_linux_memory_available_bytes", "host || ' available'")),
            ],
            unit="bytes",
            width=8,
        ),
        timeseries(
            "Swap",
            [
                sql(
                    values(
                        "system_paging_usage_bytes",
                        "host || ' ' || (labels->>'system_paging_state')",
                    )
                )
            ],
            unit="bytes",
            width=8,
        ),
        timeseries(
            "Threads and open file handles",
            [
                sql(values("hostpulse_system_threads", "host || ' threads'")),
                sql(values("system_linux_file_handle_usage", "host || ' file handles'")),
            ],
            unit="short",
            width=8,
        ),
    )
    layout.add(row("Disk and network"))
    layout.add(
        timeseries(
            "Disk I/O",
            [sql(rates("system_disk_io_bytes_total", DEVICE))],
            unit="Bps",
        ),
        timeseries(
            "Disk operations",
            [sql(rates("system_disk_operations_total", DEVICE))],
            unit="iops",
        ),
        timeseries(
            "Network traffic",
            [sql(rates("system_network_io_bytes_total", INTERFACE))],
            unit="Bps",
            width=8,
        ),
        timeseries(
            "Network packets",
            [sql(rates("system_network_packet_count_total", INTERFACE))],
            unit="pps",
            width=8,
        ),
        timeseries(
            "Network errors and drops",
            [
                sql(rates("system_network_errors_total", INTERFACE + " || ' errors'")),
                sql(rates("system_network_dropped_total", INTERFACE + " || ' dropped'")),
            ],
            unit="pps",
            width=8,
        ),
    )
    layout.add(row("Top processes"))
    layout.add(
        table(
            "Top processes (last snapshot in the range)",
            [
                sql(
                    "SELECT s.time, h.host, (p->>'rank')::int AS rank, p->>'name' AS process,\n"
                    "       (p->>'pid')::int AS pid,\n"
                    "       grafana.to_float((p->>'cpu_utilization')::numeric) AS cpu,\n"
                    "       grafana.to_float((p->>'memory_rss_bytes')::numeric) AS rss,\n"
                    "       grafana.to_float((p->>'threads')::numeric) AS threads,\n"
                    "       grafana.to_float((p->>'disk_read_bytes')::numeric) AS disk_read,\n"
                    "       grafana.to_float((p->>'disk_write_bytes')::numeric) AS disk_write,\n"
                    "       grafana.to_float((p->>'open_fds')::numeric) AS open_files\n"
                    "FROM unnest(ARRAY[$host]::text[]) AS h(host)\n"
                    "CROSS JOIN LATERAL (\n"
                    "    SELECT ps.time, ps.processes FROM grafana.process_snapshots ps\n"
                    "    WHERE ps.host = h.host AND ps.time BETWEEN $__timeFrom() AND $__timeTo()\n"
                    "    ORDER BY ps.time DESC LIMIT 1\n"
                    ") AS s\n"
                    "CROSS JOIN LATERAL jsonb_array_elements(s.processes) AS p\n"
                    "ORDER BY h.host, rank",
                    table=True,
                )
            ],
            [
                Column("time", "Snapshot", "dateTimeAsIso"),
                Column("host", "Host"),
                Column("rank", "Rank"),
                Column("process", "Process"),
                Column("pid", "PID"),
                Column("cpu", "CPU", "percentunit", BUSY_THRESHOLDS),
                Column("rss", "RSS", "bytes"),
                Column("threads", "Threads"),
                Column("disk_read", "Read since start", "bytes"),
                Column("disk_write", "Written since start", "bytes"),
                Column("open_files", "Open files"),
            ],
            description="The agent's top processes by CPU at the newest snapshot in the range.",
            keep_time=True,
        ),
    )
    return dashboard(
        "hostpulse-history",
        "HostPulse / Host history (PostgreSQL)",
        "A host's CPU, memory, load, swap, threads, handles, disk and network history from "
        "HostPulse's own PostgreSQL: raw samples, 1-minute or hourly rollups by the range.",
        ["host", "history", "postgresql"],
        # No All: a host's history, several hosts ticked to compare; All over a fleet of
        # 2,000 hosts would read every series of the fleet for each panel.
        [host_variable("SELECT host FROM grafana.hosts ORDER BY 1", include_all=False)],
        layout,
        time_from="now-6h",
        refresh="1m",
    )


# `= ANY (ARRAY[...]::text[])` rather than `IN (...)`: with nothing ticked Grafana sends an empty
# list, and `IN ()` is a syntax error where an empty array simply matches nothing.
FILTER = (
    "host = ANY (ARRAY[$host]::text[]) AND rule = ANY (ARRAY[$rule]::text[])\n"
    "  AND severity = ANY (ARRAY[$severity]::text[])"
)


def alerts() -> Json:
    layout = Layout()
    layout.add(
        stat(
            "Firing now",
            [
                sql(
                    "SELECT count(*) AS firing FROM grafana.alert_state\n"
                    f"WHERE state = 'firing' AND {FILTER}",
                    table=True,
                )
            ],
            unit="short",
            limits=thresholds((1, "red")),
            width=6,
        ),
        stat(
            "Pending now",
            [
                sql(
                    "SELECT count(*) AS pending FROM grafana.alert_state\n"
                    f"WHERE state = 'pending' AND {FILTER}",
                    table=True,
                )
            ],
            unit="short",
            limits=thresholds((1, "orange")),
            width=6,
        ),
        timeseries(
            "Transitions to firing",
            [
                sql(
                    "SELECT $__timeGroupAlias(at, $__interval), count(*) AS value\n"
                    "FROM grafana.alert_transitions\n"
                    f"WHERE $__timeFilter(at) AND to_state = 'firing' AND {FILTER}\n"
                    "GROUP BY 1 ORDER BY 1"
                )
            ],
            unit="short",
            width=12,
            height=4,
        ),
    )
    layout.add(
        table(
            "Current alerts",
            [
                sql(
                    "SELECT active_since AS time, rule, host, severity, state, last_value,\n"
                    "       fired_at, labels::text AS labels\n"
                    "FROM grafana.alert_state\n"
                    f"WHERE state <> 'inactive' AND {FILTER}\n"
                    "ORDER BY state = 'firing' DESC, active_since",
                    table=True,
                )
            ],
            [
                Column("time", "Active since", "dateTimeAsIso"),
                Column("rule", "Rule"),
                Column("host", "Host"),
                Column("severity", "Severity"),
                Column("state", "State"),
                Column("last_value", "Last value"),
                Column("fired_at", "Fired at", "dateTimeAsIso"),
                Column("labels", "Labels"),
            ],
            keep_time=True,
            height=8,
        ),
    )
    layout.add(
        table(
            "Alert history",
            [
                sql(
                    "SELECT at AS time, rule, host, severity, from_state, to_state, value,\n"
                    "       reason, muted\n"
                    "FROM grafana.alert_transitions\n"
                    f"WHERE $__timeFilter(at) AND {FILTER}\n"
                    "ORDER BY at DESC, id DESC\nLIMIT 1000",
                    table=True,
                )
            ],
            [
                Column("time", "At", "dateTimeAsIso"),
                Column("rule", "Rule"),
                Column("host", "Host"),
                Column("severity", "Severity"),
                Column("from_state", "From"),
                Column("to_state", "To"),
                Column("value", "Value"),
                Column("reason", "Reason"),
                Column("muted", "Muted", "bool"),
            ],
            description="Every state change in the range, newest first (up to 1,000).",
            keep_time=True,
            height=12,
        ),
    )
    variables = [
        host_variable(
            "SELECT host FROM grafana.hosts UNION SELECT host FROM grafana.alert_state "
            "WHERE host <> '' ORDER BY 1"
        ),
        query_variable(
            "rule",
            "Rule",
            "SELECT name FROM grafana.alert_rules ORDER BY 1",
            datasource=POSTGRES,
            sql_query=True,
        ),
        query_variable(
            "severity",
            "Severity",
            "SELECT severity FROM grafana.alert_rules UNION SELECT severity FROM "
            "grafana.alert_state ORDER BY 1",
            datasource=POSTGRES,
            sql_query=True,
        ),
    ]
    return dashboard(
        "hostpulse-alerts",
        "HostPulse / Alerts",
        "HostPulse's alert rules' current alerts and their history, from PostgreSQL.",
        ["alerts", "postgresql"],
        variables,
        layout,
        time_from="now-24h",
        refresh="30s",
    )

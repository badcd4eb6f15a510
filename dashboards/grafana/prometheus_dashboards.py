"""The three Prometheus dashboards: host detail, fleet overview, HostPulse self-monitoring.

Every series carries `host_name` (Prometheus relabels it from the target, see docs/grafana.md) and
`job`. Multi-value variables are matched with `=~`; every rate() uses `$__rate_interval`."""

from __future__ import annotations

from dashboards.grafana.panels import (
    BUSY_THRESHOLDS,
    PROMETHEUS,
    Column,
    Json,
    Layout,
    dashboard,
    datasource_variable,
    prom,
    query_variable,
    row,
    stat,
    table,
    thresholds,
    timeseries,
)

HOST = 'job=~"$job", host_name=~"$host"'
# Busy CPU modes: everything but idle and iowait (the exporter's per-core busy share agrees).
BUSY_MODES = 'cpu_mode=~"user|nice|system|interrupt|softirq|steal"'
RATE = "[$__rate_interval]"


def host_variables() -> list[Json]:
    return [
        datasource_variable(),
        query_variable(
            "job", "Job", "label_values(target_info, job)", datasource=PROMETHEUS, all_value=".+"
        ),
        query_variable(
            "host",
            "Host",
            'label_values(target_info{job=~"$job"}, host_name)',
            datasource=PROMETHEUS,
            all_value=".+",  # not a regex of 2,000 names when All is chosen
        ),
    ]


def cpu_busy(selector: str = HOST) -> str:
    return f"sum by (host_name) (system_cpu_utilization_ratio{{{selector}, {BUSY_MODES}}})"


def host_detail() -> Json:
    layout = Layout()
    layout.add(
        stat("Uptime", [prom(f"system_uptime_seconds{{{HOST}}}", "{{host_name}}")], unit="s"),
        stat(
            "CPU busy",
            [prom(cpu_busy(), "{{host_name}}")],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
        ),
        stat(
            "Memory used",
            [prom(f"system_memory_utilization_ratio{{{HOST}}}", "{{host_name}}")],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
        ),
        stat(
            "Logical CPUs",
            [prom(f"system_cpu_logical_cpus{{{HOST}}}", "{{host_name}}")],
            unit="short",
        ),
        stat(
            "Load (1 min)",
            [prom(f"system_cpu_load_average_1m{{{HOST}}}", "{{host_name}}")],
            unit="short",
        ),
        stat(
            "Open file handles",
            [prom(f"system_linux_file_handle_usage{{{HOST}}}", "{{host_name}}")],
            unit="short",
        ),
    )
    layout.add(row("CPU"))
    layout.add(
        timeseries(
            "CPU busy",
            [prom(cpu_busy(), "{{host_name}}")],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            max_value=1,
            width=8,
        ),
        timeseries(
            "CPU busy per core",
            [
                prom(
                    f'system_cpu_utilization_ratio{{{HOST}, cpu_logical_number!=""}}',
                    "{{host_name}} cpu{{cpu_logical_number}}",
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
                prom(
                    f'system_cpu_utilization_ratio{{{HOST}, cpu_mode!=""}}',
                    "{{host_name}} {{cpu_mode}}",
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
                prom(f"system_cpu_load_average_1m{{{HOST}}}", "{{host_name}} 1m"),
                prom(f"system_cpu_load_average_5m{{{HOST}}}", "{{host_name}} 5m"),
                prom(f"system_cpu_load_average_15m{{{HOST}}}", "{{host_name}} 15m"),
            ],
            unit="short",
            description="Runnable and uninterruptible threads, averaged (compare: Logical CPUs).",
        ),
        timeseries(
            "Threads and processes",
            [
                prom(f"hostpulse_system_threads{{{HOST}}}", "{{host_name}} threads"),
                prom(f"system_processes{{{HOST}}}", "{{host_name}} processes {{process_state}}"),
            ],
            unit="short",
        ),
    )
    layout.add(row("Memory"))
    layout.add(
        timeseries(
            "Memory",
            [
                prom(
                    f"system_memory_usage_bytes{{{HOST}}}",
                    "{{host_name}} {{system_memory_state}}",
                ),
                prom(f"system_linux_memory_available_bytes{{{HOST}}}", "{{host_name}} available"),
                prom(f"system_memory_limit_bytes{{{HOST}}}", "{{host_name}} total"),
            ],
            unit="bytes",
            width=8,
        ),
        timeseries(
            "Memory used",
            [prom(f"system_memory_utilization_ratio{{{HOST}}}", "{{host_name}}")],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            max_value=1,
            width=8,
        ),
        timeseries(
            "Swap",
            [
                prom(
                    f"system_paging_usage_bytes{{{HOST}}}",
                    "{{host_name}} {{system_paging_state}}",
                )
            ],
            unit="bytes",
            stack=True,
            width=8,
        ),
        timeseries(
            "Open file handles",
            [
                prom(f"system_linux_file_handle_usage{{{HOST}}}", "{{host_name}} used"),
                prom(f"system_linux_file_handle_limit{{{HOST}}}", "{{host_name}} limit"),
            ],
            unit="short",
            width=24,
        ),
    )
    layout.add(row("Disk and network"))
    per_device = "sum by (host_name, system_device, disk_io_direction)"
    per_interface = "sum by (host_name, network_interface_name, network_io_direction)"
    layout.add(
        timeseries(
            "Disk I/O",
            [
                prom(
                    f"{per_device} (rate(system_disk_io_bytes_total{{{HOST}}}{RATE}))",
                    "{{host_name}} {{system_device}} {{disk_io_direction}}",
                )
            ],
            unit="Bps",
        ),
        timeseries(
            "Disk operations",
            [
                prom(
                    f"{per_device} (rate(system_disk_operations_total{{{HOST}}}{RATE}))",
                    "{{host_name}} {{system_device}} {{disk_io_direction}}",
                )
            ],
            unit="iops",
        ),
        timeseries(
            "Network traffic",
            [
                prom(
                    f"{per_interface} (rate(system_network_io_bytes_total{{{HOST}}}{RATE}))",
                    "{{host_name}} {{network_interface_name}} {{network_io_direction}}",
                )
            ],
            unit="Bps",
            width=8,
        ),
        timeseries(
            "Network packets",
            [
                prom(
                    f"{per_interface} (rate(system_network_packet_count_total{{{HOST}}}{RATE}))",
                    "{{host_name}} {{network_interface_name}} {{network_io_direction}}",
                )
            ],
            unit="pps",
            width=8,
        ),
        timeseries(
            "Network errors and drops",
            [
                prom(
                    f"{per_interface} (rate(system_network_errors_total{{{HOST}}}{RATE}))",
                    "{{host_name}} {{network_interface_name}} {{network_io_direction}} errors",
                ),
                prom(
                    f"{per_interface} (rate(system_network_dropped_total{{{HOST}}}{RATE}))",
                    "{{host_name}} {{network_interface_name}} {{network_io_direction}} dropped",
                ),
            ],
            unit="pps",
            width=8,
        ),
    )
    layout.add(row("Top processes"))
    process = "host_name, rank, process_pid, process_executable_name"
    layout.add(
        table(
            "Top processes (now)",
            [
                prom(
                    f"max by ({process}) (process_cpu_utilization_ratio{{{HOST}}})",
                    instant=True,
                    table=True,
                ),
                prom(
                    f"max by ({process}) (process_memory_usage_bytes{{{HOST}}})",
                    instant=True,
                    table=True,
                ),
                prom(f"max by ({process}) (process_threads{{{HOST}}})", instant=True, table=True),
                prom(
                    f"sum by ({process}) (rate(process_disk_io_bytes_total{{{HOST}}}{RATE}))",
                    instant=True,
                    table=True,
                ),
                prom(
                    f"max by ({process}) (process_unix_file_descriptors{{{HOST}}})",
                    instant=True,
                    table=True,
                ),
            ],
            [
                Column("host_name", "Host"),
                Column("rank", "Rank"),
                Column("process_executable_name", "Process"),
                Column("process_pid", "PID"),
                Column("Value #A", "CPU", "percentunit", BUSY_THRESHOLDS),
                Column("Value #B", "RSS", "bytes"),
                Column("Value #C", "Threads"),
                Column("Value #D", "Disk I/O", "Bps"),
                Column("Value #E", "Open files"),
            ],
            description="The agent's top processes by CPU (top_n, default 5) on each selected "
            "host; I/O and open files are empty for processes the agent may not inspect.",
            merge=True,
            sort_by="CPU",
        ),
        timeseries(
            "CPU per process",
            [
                prom(
                    "max by (host_name, process_executable_name, process_pid) "
                    f"(process_cpu_utilization_ratio{{{HOST}}})",
                    "{{host_name}} {{process_executable_name}} ({{process_pid}})",
                )
            ],
            unit="percentunit",
            description="Share of the whole machine (all CPUs) per top process.",
        ),
        timeseries(
            "Memory per process (RSS)",
            [
                prom(
                    "max by (host_name, process_executable_name, process_pid) "
                    f"(process_memory_usage_bytes{{{HOST}}})",
                    "{{host_name}} {{process_executable_name}} ({{process_pid}})",
                )
            ],
            unit="bytes",
        ),
    )
    return dashboard(
        "hostpulse-host",
        "HostPulse / Host detail",
        "CPU, memory, swap, load, threads, handles, disk and network I/O and the top processes "
        "of the selected hosts, from the HostPulse exporter's Prometheus metrics.",
        ["host", "prometheus"],
        host_variables(),
        layout,
    )


def fleet_overview() -> Json:
    """One table row per host from a handful of instant queries: no panel repeats per host, so
    2,000 hosts are 2,000 rows, not 2,000 panels."""
    layout = Layout()
    up = f"up{{{HOST}}}"
    layout.add(
        stat(
            "Hosts up",
            [prom(f"count(max by (host_name) ({up}) == 1)", "up")],
            unit="short",
            width=6,
        ),
        stat(
            "Hosts down",
            [prom(f"count(max by (host_name) ({up}) == 0) or vector(0)", "down")],
            unit="short",
            limits=thresholds((1, "red")),
            width=6,
        ),
        stat(
            "Fleet CPU busy (mean)",
            [prom(f"avg({cpu_busy()})", "mean")],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            width=6,
        ),
        stat(
            "Fleet memory used (mean)",
            [prom(f"avg(system_memory_utilization_ratio{{{HOST}}})", "mean")],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            width=6,
        ),
    )
    layout.add(
        table(
            "Hosts",
            [
                prom(f"max by (host_name) ({up})", instant=True, table=True),
                prom(cpu_busy(), instant=True, table=True),
                prom(
                    f"max by (host_name) (system_memory_utilization_ratio{{{HOST}}})",
                    instant=True,
                    table=True,
                ),
                prom(
                    f"max by (host_name) (system_cpu_load_average_1m{{{HOST}}})",
                    instant=True,
                    table=True,
                ),
                prom(
                    'count by (host_name) (ALERTS{alertstate="firing", host_name=~"$host"})',
                    instant=True,
                    table=True,
                ),
                prom(
                    "max by (host_name, process_executable_name) "
                    f'(process_cpu_utilization_ratio{{{HOST}, rank="1"}})',
                    instant=True,
                    table=True,
                ),
                prom(
                    f"max by (host_name) (system_uptime_seconds{{{HOST}}})",
                    instant=True,
                    table=True,
                ),
            ],
            [
                Column("host_name", "Host"),
                Column("Value #A", "Up", "bool_yes_no", thresholds((1, "green"))),
                Column("Value #B", "CPU", "percentunit", BUSY_THRESHOLDS),
                Column("Value #C", "Memory", "percentunit", BUSY_THRESHOLDS),
                Column("Value #D", "Load 1m"),
                Column("Value #E", "Firing alerts", "short", thresholds((1, "red"))),
                Column("process_executable_name", "Top process"),
                Column("Value #F", "Top process CPU", "percentunit"),
                Column("Value #G", "Uptime", "s"),
            ],
            description="One row per host; click a header to sort. Up is the last scrape.",
            merge=True,
            sort_by="CPU",
            height=16,
        ),
    )
    layout.add(
        timeseries(
            "CPU busy: 10 busiest hosts",
            [prom(f"topk(10, {cpu_busy()})", "{{host_name}}")],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            max_value=1,
        ),
        timeseries(
            "Memory used: 10 fullest hosts",
            [prom(f"topk(10, system_memory_utilization_ratio{{{HOST}}})", "{{host_name}}")],
            unit="percentunit",
            limits=BUSY_THRESHOLDS,
            max_value=1,
        ),
    )
    return dashboard(
        "hostpulse-fleet",
        "HostPulse / Fleet overview",
        "Every host in one sortable table (up, CPU, memory, load, firing alerts, top process) "
        "and the busiest hosts over time.",
        ["fleet", "prometheus"],
        host_variables(),
        layout,
    )


def self_monitoring() -> Json:
    backend = 'job=~"$backend_job"'
    agent = 'job=~"$job", host_name=~"$host"'
    variables = [
        datasource_variable(),
        query_variable(
            "backend_job",
            "Backend job",
            "label_values(hostpulse_writer_queue_samples, job)",
            datasource=PROMETHEUS,
            all_value=".+",
        ),
        *host_variables()[1:],
    ]
    layout = Layout()
    layout.add(row("Backend: ingest"))
    layout.add(
        timeseries(
            "Ingested samples by protocol",
            [
                prom(
                    f"sum by (protocol) (rate(hostpulse_ingest_samples_total{{{backend}}}{RATE}))",
                    "{{protocol}}",
                )
            ],
            unit="cps",
            width=8,
        ),
        timeseries(
            "Ingest requests by protocol",
            [
                prom(
                    f"sum by (protocol) (rate(hostpulse_ingest_requests_total{{{backend}}}{RATE}))",
                    "{{protocol}}",
                )
            ],
            unit="reqps",
            width=8,
        ),
        timeseries(
            "Ingest requests refused",
            [
                prom(
                    "sum by (protocol, reason) "
                    f"(rate(hostpulse_ingest_rejected_total{{{backend}}}{RATE}))",
                    "{{protocol}} {{reason}}",
                )
            ],
            unit="reqps",
            width=8,
        ),
    )
    layout.add(row("Backend: HTTP"))
    latency = f"rate(http_server_request_duration_seconds_bucket{{{backend}}}{RATE})"
    layout.add(
        timeseries(
            "Request latency percentiles by route",
            [
                prom(
                    f"histogram_quantile({q}, sum by (le, http_route) ({latency}))",
                    f"p{int(q * 100)} {{{{http_route}}}}",
                )
                for q in (0.5, 0.9, 0.99)
            ],
            unit="s",
            limits=thresholds((0.1, "orange"), (1, "red")),
        ),
        timeseries(
            "Requests by status",
            [
                prom(
                    "sum by (http_response_status_code) "
                    f"(rate(http_server_request_duration_seconds_count{{{backend}}}{RATE}))",
                    "{{http_response_status_code}}",
                )
            ],
            unit="reqps",
        ),
    )
    layout.add(row("Backend: storage"))
    layout.add(
        timeseries(
            "Writer queue",
            [
                prom(
                    f"sum by (instance) (hostpulse_writer_queue_samples{{{backend}}})",
                    "{{instance}}",
                )
            ],
            unit="short",
            width=8,
        ),
        timeseries(
            "Writer lag",
            [
                prom(
                    f"max by (instance) (hostpulse_writer_lag_seconds{{{backend}}})", "{{instance}}"
                )
            ],
            unit="s",
            limits=thresholds((5, "orange"), (30, "red")),
            width=8,
        ),
        timeseries(
            "Writer: written, failed, dropped",
            [
                prom(
                    f"sum(rate(hostpulse_writer_written_samples_total{{{backend}}}{RATE}))",
                    "written samples",
                ),
                prom(
                    f"sum(rate(hostpulse_writer_failed_attempts_total{{{backend}}}{RATE}))",
                    "failed attempts",
                ),
                prom(
                    f"sum(rate(hostpulse_writer_dropped_samples_total{{{backend}}}{RATE}))",
                    "dropped samples",
                ),
            ],
            unit="cps",
            width=8,
        ),
        timeseries(
            "Duplicate samples not stored again",
            [
                prom(
                    "sum by (kind, stage) "
                    f"(rate(hostpulse_storage_duplicate_samples_total{{{backend}}}{RATE}))",
                    "{{stage}} {{kind}}",
                ),
                prom(
                    "sum by (kind) "
                    f"(rate(hostpulse_storage_sealing_duplicate_samples_total{{{backend}}}{RATE}))",
                    "sealing {{kind}}",
                ),
            ],
            unit="cps",
            width=8,
        ),
        timeseries(
            "Sealing: chunks and samples",
            [
                prom(
                    f"sum(rate(hostpulse_storage_chunks_sealed_total{{{backend}}}{RATE}))", "chunks"
                ),
                prom(
                    f"sum(rate(hostpulse_storage_sealed_samples_total{{{backend}}}{RATE}))",
                    "samples",
                ),
            ],
            unit="cps",
            width=8,
        ),
        timeseries(
            "Sealing CPU",
            [
                prom(
                    "sum by (instance) "
                    f"(rate(hostpulse_storage_sealing_cpu_seconds_total{{{backend}}}{RATE}))",
                    "{{instance}}",
                )
            ],
            unit="percentunit",
            description="CPU seconds per second (1 = one core) of the sealing job.",
            width=8,
        ),
        timeseries(
            "Sealing lag",
            [
                prom(
                    f"max by (instance) (hostpulse_storage_sealing_lag_seconds{{{backend}}})",
                    "{{instance}}",
                )
            ],
            unit="s",
            description="Age of the oldest raw data still in row form below the frontier; "
            "absent until the first sealing pass found such data.",
        ),
        timeseries(
            "Disk bytes per sample",
            [prom(f"max by (tier) (hostpulse_storage_bytes_per_sample{{{backend}}})", "{{tier}}")],
            unit="bytes",
            description="Absent until the sealing job sealed something.",
        ),
    )
    layout.add(row("Backend: live and alerting"))
    layout.add(
        timeseries(
            "WebSocket clients",
            [prom(f"sum by (instance) (hostpulse_live_clients{{{backend}}})", "{{instance}}")],
            unit="short",
            width=8,
        ),
        timeseries(
            "Live frames",
            [
                prom(
                    f"sum(rate(hostpulse_live_dispatched_frames_total{{{backend}}}{RATE}))",
                    "dispatched",
                ),
                prom(
                    f"sum(rate(hostpulse_live_dropped_frames_total{{{backend}}}{RATE}))", "dropped"
                ),
                prom(
                    f"sum(rate(hostpulse_live_slow_clients_closed_total{{{backend}}}{RATE}))",
                    "slow clients closed",
                ),
            ],
            unit="cps",
            width=8,
        ),
        timeseries(
            "Redis trouble",
            [
                prom(
                    f"sum by (operation) (rate(hostpulse_redis_errors_total{{{backend}}}{RATE}))",
                    "errors {{operation}}",
                ),
                prom(
                    f"sum(rate(hostpulse_ingest_redis_skipped_batches_total{{{backend}}}{RATE}))",
                    "batches that skipped Redis",
                ),
            ],
            unit="cps",
            width=8,
        ),
        timeseries(
            "Alert evaluator",
            [
                prom(
                    f"max by (instance) (hostpulse_alert_evaluator_leading{{{backend}}})",
                    "leading {{instance}}",
                ),
                prom(
                    f"sum(rate(hostpulse_alert_dropped_observations_total{{{backend}}}{RATE}))",
                    "dropped observations /s",
                ),
            ],
            unit="short",
            description="1 on the one process holding the alert lease.",
        ),
        timeseries(
            "Backend scrape",
            [
                prom(f"up{{{backend}}}", "up {{instance}}"),
                prom(f"scrape_duration_seconds{{{backend}}}", "scrape seconds {{instance}}"),
            ],
            unit="short",
        ),
    )
    layout.add(row("Backend: background jobs and forwarding"))
    forward = "sum by (target)"
    layout.add(
        timeseries(
            "Once-only jobs",
            [
                prom(
                    f"max by (instance, exported_job) (hostpulse_job_leading{{{backend}}})",
                    "{{exported_job}} on {{instance}}",
                )
            ],
            unit="short",
            description="1 on the process running each once-only job (scraping, retention, "
            "sealing, forward:<target>). The metric's own `job` label arrives as "
            "`exported_job`: Prometheus keeps `job` for the scrape job.",
            width=8,
        ),
        timeseries(
            "Forwarded samples",
            [
                prom(
                    f"{forward} (rate(hostpulse_forward_{kind}_samples_total{{{backend}}}{RATE}))",
                    f"{{{{target}}}} {kind}",
                )
                for kind in ("sent", "retried", "failed", "dropped")
            ],
            unit="cps",
            description="Per forward target (docs/forwarding.md); absent without targets.",
            width=8,
        ),
        timeseries(
            "Forward queue",
            [
                prom(
                    f"max by (target) (hostpulse_forward_queue_samples{{{backend}}})",
                    "{{target}} queued samples",
                ),
                prom(
                    f"max by (target) (hostpulse_forward_lag_seconds{{{backend}}})",
                    "{{target}} lag (s)",
                ),
                prom(
                    f"max by (target, instance) (hostpulse_forward_sending{{{backend}}})",
                    "{{target}} sending on {{instance}}",
                ),
            ],
            unit="short",
            description="The durable queue's samples and the age in seconds of its oldest "
            "body, from the one process sending for the target (sending = 1).",
            width=8,
        ),
    )
    layout.add(row("Agents"))
    layout.add(
        timeseries(
            "Collector duration",
            [
                prom(
                    "max by (host_name, collector) "
                    f"(hostpulse_collector_duration_seconds{{{agent}}})",
                    "{{host_name}} {{collector}}",
                )
            ],
            unit="s",
            width=8,
        ),
        timeseries(
            "Collector success",
            [
                prom(
                    f"min by (host_name, collector) (hostpulse_collector_success{{{agent}}})",
                    "{{host_name}} {{collector}}",
                )
            ],
            unit="bool",
            limits=thresholds((0.5, "green")),
            description="1 when the collector's last run succeeded.",
            width=8,
        ),
        timeseries(
            "Processes the scan skipped",
            [
                prom(
                    "sum by (host_name, reason) "
                    f"(rate(hostpulse_process_unreadable_total{{{agent}}}{RATE}))",
                    "{{host_name}} {{reason}}",
                )
            ],
            unit="cps",
            width=8,
        ),
        timeseries(
            "JSON push: reports buffered",
            [
                prom(
                    f"max by (host_name) (hostpulse_agent_reports_buffered{{{agent}}})",
                    "{{host_name}}",
                )
            ],
            unit="short",
            description="Only agents with JSON push on report these.",
            width=8,
        ),
        timeseries(
            "JSON push: reports sent and dropped",
            [
                prom(
                    "sum by (host_name) "
                    f"(rate(hostpulse_agent_reports_sent_total{{{agent}}}{RATE}))",
                    "{{host_name}} sent",
                ),
                prom(
                    "sum by (host_name) "
                    f"(rate(hostpulse_agent_reports_dropped_total{{{agent}}}{RATE}))",
                    "{{host_name}} dropped",
                ),
                prom(
                    "sum by (host_name) "
                    f"(rate(hostpulse_agent_send_failures_total{{{agent}}}{RATE}))",
                    "{{host_name}} failed sends",
                ),
            ],
            unit="cps",
            width=8,
        ),
        timeseries(
            "Agent scrape",
            [
                prom(f"up{{{agent}}}", "up {{host_name}}"),
                prom(f"scrape_duration_seconds{{{agent}}}", "scrape seconds {{host_name}}"),
            ],
            unit="short",
            width=8,
        ),
    )
    return dashboard(
        "hostpulse-self",
        "HostPulse / Self-monitoring",
        "The backend's and the agents' own metrics: ingest, latency, writer, sealing, live "
        "fan-out, Redis, alerting, once-only jobs, forwarding, collectors and JSON push.",
        ["self-monitoring", "prometheus"],
        variables,
        layout,
    )

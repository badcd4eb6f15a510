"""Realistic values for the backend bench's agent report: what a 16-core host's exporter sends.

The series are exactly those of `backend_bench.report_body` (a 16-core host with top-5 processes),
named and labelled by the backend's own JSON translation. The values follow how the exporter
derives them from procfs, because that decides how well they compress:
- CPU busy fractions come from cumulative tick counters read as seconds (ticks / 100) and
  differenced in floating point, so they carry the same rounding noise the real ones do;
- byte gauges are whole pages or kB, counters grow by whole sectors, packets or bytes;
- load averages and uptime have two decimals (/proc/loadavg, /proc/uptime);
- process CPU is normalised by a monotonic-clock elapsed time x 16 CPUs (full-precision floats);
- report times are 2 s apart plus the few milliseconds of collection jitter a real agent has.
Everything is vectorised with numpy: 24 hours of 50 hosts is 130 M samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson
from backend_bench import report_body

from backend.ingest.json_report import translate_document
from backend.ingest.limits import IngestLimits

INTERVAL_MS = 2_000
CPUS = 16
MEM_TOTAL = 64 * 2**30

Values = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True, slots=True)
class Series:
    metric: str
    host: str
    labels: dict[str, str]
    times_ms: np.ndarray  # int64, unix ms
    values: np.ndarray  # float64


def series_keys(host: str) -> list[tuple[str, dict[str, str]]]:
    """(metric, labels) of every sample in one of the bench's reports, in report order."""
    now = int(datetime.now(UTC).timestamp() * 1000)
    document = orjson.loads(report_body(host, host, 1, now))
    (report,) = translate_document(document, now_ms=now, limits=IngestLimits())
    return [(sample.name, dict(sample.labels)) for sample in report.samples]


def report_times(rng: np.random.Generator, start_ms: int, count: int) -> np.ndarray:
    """One host's report times: a drift-free 2 s cadence plus 1-12 ms of collection jitter."""
    jitter = rng.integers(1, 13, count)
    return start_ms + np.arange(count, dtype=np.int64) * INTERVAL_MS + jitter


def _walk(rng: np.random.Generator, count: int, start: float, step: float, low: float,
          high: float) -> np.ndarray:  # fmt: skip
    return np.clip(start + np.cumsum(rng.normal(0, step, count)), low, high)


def _cpu_busy(rng: np.random.Generator, count: int) -> np.ndarray:
    """1 - idle/elapsed from cumulative ticks read as seconds, as exporter/collectors/cpu does."""
    load = _walk(rng, count, rng.uniform(0.05, 0.6), 0.03, 0.0, 1.0)
    ticks = rng.integers(199, 202, count)  # USER_HZ = 100 over ~2 s
    busy_ticks = np.minimum(ticks, rng.binomial(ticks, load))
    total = np.cumsum(ticks) + rng.integers(10**7, 10**8)
    idle = np.cumsum(ticks - busy_ticks) + rng.integers(10**6, 10**7)
    total_s, idle_s = total / 100.0, idle / 100.0
    elapsed = np.diff(total_s, prepend=total_s[0] - 2.0)
    idle_delta = np.diff(idle_s, prepend=idle_s[0] - 1.0)
    return np.asarray(np.clip(1.0 - idle_delta / elapsed, 0.0, 1.0))


def _counter(rng: np.random.Generator, count: int, mean: float, unit: int) -> np.ndarray:
    steps = rng.poisson(mean / unit, count) * unit
    return (rng.integers(10**9, 10**11) + np.cumsum(steps)).astype(np.float64)


def _pages(rng: np.random.Generator, count: int, start: float, step: float) -> np.ndarray:
    walk = _walk(rng, count, start, step, start * 0.3, start * 1.7)
    return np.floor(walk / 4096) * 4096


def _rarely_changes(rng: np.random.Generator, count: int, start: float, jump: float) -> np.ndarray:
    changes = rng.random(count) < 0.002
    return start + np.cumsum(np.where(changes, rng.choice([-jump, jump], count), 0.0))


def _two_decimals(values: np.ndarray) -> np.ndarray:
    return np.asarray(np.round(values * 100) / 100)


def _values_for(metric: str, labels: dict[str, str]) -> Values:
    """How the exporter's value of this series behaves over time."""
    if metric == "system_cpu_utilization_ratio":
        return _cpu_busy
    if metric == "process_cpu_utilization_ratio":
        return lambda rng, n: (
            rng.poisson(rng.uniform(1, 40), n) / 100.0 / (2.0 + rng.normal(0, 0.002, n)) / CPUS
        )
    if metric == "system_memory_usage_bytes":
        share = {"used": 0.4, "free": 0.3, "buffers": 0.02, "cached": 0.28}
        return lambda rng, n: _pages(rng, n, MEM_TOTAL * share.get(labels.get(
            "system_memory_state", ""), 0.1), 2e6)  # fmt: skip
    if metric == "system_memory_utilization_ratio":
        return lambda rng, n: _pages(rng, n, MEM_TOTAL * 0.4, 2e6) / MEM_TOTAL
    if metric in ("system_memory_limit_bytes", "system_cpu_logical_cpus"):
        constant = float(MEM_TOTAL if "limit" in metric else CPUS)
        return lambda rng, n: np.full(n, constant)
    if metric == "system_paging_usage_bytes":
        return lambda rng, n: _rarely_changes(rng, n, 2**30, 4096 * 16)
    if metric == "system_disk_io_bytes_total":
        return lambda rng, n: _counter(rng, n, 2e5, 512)
    if metric == "system_disk_operations_total":
        return lambda rng, n: _counter(rng, n, 30, 1)
    if metric == "system_network_io_bytes_total":
        return lambda rng, n: _counter(rng, n, 5e5, 1)
    if metric == "system_network_packet_count_total":
        return lambda rng, n: _counter(rng, n, 800, 1)
    if metric == "system_processes":
        return lambda rng, n: np.round(_walk(rng, n, 300, 1.5, 1, 2000))
    if metric == "system_uptime_seconds":
        return lambda rng, n: _two_decimals(rng.uniform(1e5, 1e7) + np.arange(n) * 2.0
                                            + rng.uniform(0, 0.01, n))  # fmt: skip
    if metric.startswith("system_linux_cpu_load"):
        return lambda rng, n: _two_decimals(_walk(rng, n, 2.0, 0.05, 0.0, 32.0))
    if metric == "process_memory_usage_bytes":
        return lambda rng, n: _pages(rng, n, rng.uniform(5e7, 2e9), 3e5)
    if metric == "process_memory_virtual_bytes":
        return lambda rng, n: _rarely_changes(
            rng, n, 4096.0 * int(rng.integers(10**5, 10**6)), 4096 * 256
        )
    if metric == "process_threads":
        return lambda rng, n: _rarely_changes(rng, n, float(rng.integers(1, 64)), 1.0)
    if metric == "hostpulse_collector_duration_seconds":  # perf_counter differences: all noise
        return lambda rng, n: rng.lognormal(np.log(0.002), 0.3, n)
    return lambda rng, n: np.ones(n)  # collector success: 1 while it works


def host_series(host: str, start_ms: int, count: int, seed: int) -> Iterator[Series]:
    """Every series of `host`'s reports: `count` reports from `start_ms`, 2 s apart."""
    rng = np.random.default_rng(seed)
    times = report_times(rng, start_ms, count)
    for metric, labels in series_keys(host):
        values = _values_for(metric, labels)(rng, count).astype(np.float64)
        yield Series(metric, host, labels, times, values)

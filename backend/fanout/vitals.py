"""A host's vital signs in a batch — CPU, memory, load — picked up while `host_split` passes over
the samples (no second pass), for the fleet summary (`backend.live.summary`). Pure.

Only the newest report of the batch counts: an agent that buffered several reports sends them
in one batch, and the summary shows where the host is now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CPU = "system_cpu_utilization_ratio"
MEMORY_USED = "system_memory_usage_bytes"
MEMORY_LIMIT = "system_memory_limit_bytes"
MEMORY_AVAILABLE = "system_linux_memory_available_bytes"
LOAD_1M = "system_cpu_load_average_1m"
# The metrics a summary reads: `host_split` hands only these to `Vitals.note`.
SUMMARY_METRICS = frozenset({CPU, MEMORY_USED, MEMORY_LIMIT, MEMORY_AVAILABLE, LOAD_1M})


@dataclass(slots=True)
class Vitals:
    """The newest value of each vital a host sent in one batch."""

    cpu_time_ms: int = -1
    cores: dict[str, float] = field(default_factory=dict)  # cpu_logical_number -> busy ratio
    modes: dict[str, float] = field(default_factory=dict)  # cpu_mode -> share of time
    gauges: dict[str, tuple[int, float]] = field(default_factory=dict)  # name -> (time, value)

    def note(self, name: str, labels: Mapping[str, str], time_ms: int, value: float) -> None:
        if name == CPU:
            if time_ms > self.cpu_time_ms:
                self.cpu_time_ms = time_ms
                self.cores.clear()
                self.modes.clear()
            elif time_ms < self.cpu_time_ms:
                return
            core = labels.get("cpu_logical_number")
            if core is not None:
                self.cores[core] = value
            elif (mode := labels.get("cpu_mode")) is not None:
                self.modes[mode] = value
            return
        if name == MEMORY_USED and labels.get("system_memory_state") != "used":
            return
        known = self.gauges.get(name)
        if known is None or time_ms >= known[0]:
            self.gauges[name] = (time_ms, value)

    def cpu(self) -> float | None:
        """Busy share of all cores: 1 - idle when the agent sends per-mode shares, else the mean
        of the cores (what the dashboard's host view shows)."""
        if self.modes:
            idle = self.modes.get("idle")
            return 1.0 - idle if idle is not None else sum(self.modes.values())
        if self.cores:
            return sum(self.cores.values()) / len(self.cores)
        return None

    def gauge(self, name: str) -> float | None:
        known = self.gauges.get(name)
        return known[1] if known is not None else None

    def memory_ratio(self) -> float | None:
        used = self.gauge(MEMORY_USED)
        if used is None:
            return None
        total = self.gauge(MEMORY_LIMIT)
        if total is None and (available := self.gauge(MEMORY_AVAILABLE)) is not None:
            total = used + available
        return used / total if total else None

"""Turns the agent config into the enabled collectors, each with its interval.

Linux with a readable procfs takes the fast path; anywhere else every collector uses psutil.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exporter.collectors.base import Collector
from exporter.collectors.cpu import CpuCollector
from exporter.collectors.disk import DiskCollector
from exporter.collectors.handles import HandlesCollector
from exporter.collectors.memory import MemoryCollector
from exporter.collectors.network import NetworkCollector
from exporter.collectors.processes import ProcessesCollector
from exporter.collectors.system import SystemCollector
from exporter.options import AgentOptions, CollectorOptions
from exporter.procfs.cpu_stat import read_logical_cpu_count


@dataclass(frozen=True, slots=True)
class ScheduledCollector:
    collector: Collector
    interval: float  # seconds


def procfs_available(procfs: Path) -> bool:
    return sys.platform.startswith("linux") and (procfs / "stat").is_file()


def _build(name: str, config: AgentOptions, procfs: Path | None) -> Collector:
    top_n = config.collectors.processes.top_n
    if procfs is None:
        portable: dict[str, Callable[[], Collector]] = {
            "cpu": CpuCollector.from_psutil,
            "memory": MemoryCollector.from_psutil,
            "processes": lambda: ProcessesCollector.from_psutil(top_n),
            "disk": DiskCollector.from_psutil,
            "network": NetworkCollector.from_psutil,
            "handles": HandlesCollector.from_psutil,
            "system": SystemCollector.from_psutil,
        }
        return portable[name]()
    linux: dict[str, Callable[[Path], Collector]] = {
        "cpu": CpuCollector.from_procfs,
        "memory": MemoryCollector.from_procfs,
        "processes": lambda p: ProcessesCollector.from_procfs(p, top_n, read_logical_cpu_count(p)),
        "disk": DiskCollector.from_procfs,
        "network": NetworkCollector.from_procfs,
        "handles": HandlesCollector.from_procfs,
        "system": SystemCollector.from_procfs,
    }
    return linux[name](procfs)


def build_collectors(config: AgentOptions) -> list[ScheduledCollector]:
    """The enabled collectors in a fixed order; a collector's own interval wins over the agent's."""
    procfs = config.procfs if procfs_available(config.procfs) else None
    sections: dict[str, CollectorOptions] = {
        "cpu": config.collectors.cpu,
        "memory": config.collectors.memory,
        "processes": config.collectors.processes,
        "disk": config.collectors.disk,
        "network": config.collectors.network,
        "handles": config.collectors.handles,
        "system": config.collectors.system,
    }
    return [
        ScheduledCollector(_build(name, config, procfs), section.interval or config.interval)
        for name, section in sections.items()
        if section.enabled
    ]

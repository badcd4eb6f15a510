"""Every collector the agent has, registered once, and the enabled ones built from the config.

A collector is added by one entry in `REGISTRATIONS`: its settings section (`collectors.<name>`
with `enabled` and `interval`), its `--disable-collector` choice and its place in every report
follow from it. A collector with settings of its own also declares them in
`exporter.config_models` and `exporter.options` (as `processes` does its `top_n`).

Linux with a readable procfs takes the fast path; anywhere else every collector uses psutil.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from exporter.collectors.base import Collector
from exporter.collectors.cpu import CpuCollector
from exporter.collectors.disk import DiskCollector
from exporter.collectors.handles import HandlesCollector
from exporter.collectors.memory import MemoryCollector
from exporter.collectors.network import NetworkCollector
from exporter.collectors.processes import ProcessesCollector
from exporter.collectors.system import SystemCollector
from exporter.options import (
    AgentOptions,
    CollectorOptions,
    NetworkOptions,
    TopProcessesOptions,
)
from exporter.procfs.cpu_stat import read_logical_cpu_count


@dataclass(frozen=True, slots=True)
class Registration:
    """How to build one collector from its options: on procfs (Linux) or on psutil (anywhere)."""

    name: str
    from_procfs: Callable[[Path, CollectorOptions], Collector]
    from_psutil: Callable[[CollectorOptions], Collector]


class _SettinglessCollector(Protocol):
    @classmethod
    def from_procfs(cls, procfs: Path) -> Collector: ...
    @classmethod
    def from_psutil(cls) -> Collector: ...


def _settingless(name: str, collector: type[_SettinglessCollector]) -> Registration:
    """A collector whose only settings are `enabled` and `interval`."""
    return Registration(
        name, lambda procfs, _: collector.from_procfs(procfs), lambda _: collector.from_psutil()
    )


def _network_namespace(options: CollectorOptions) -> str:
    if not isinstance(options, NetworkOptions):
        raise TypeError("the network collector needs NetworkOptions")
    return options.namespace


def _top_n(options: CollectorOptions) -> int:
    if not isinstance(options, TopProcessesOptions):
        raise TypeError("the processes collector needs TopProcessesOptions")
    return options.top_n


REGISTRATIONS: tuple[Registration, ...] = (
    _settingless("cpu", CpuCollector),
    _settingless("memory", MemoryCollector),
    # One /proc scan per cycle: top-N processes, system-wide threads and process counts.
    Registration(
        "processes",
        lambda procfs, options: ProcessesCollector.from_procfs(
            procfs, _top_n(options), read_logical_cpu_count(procfs)
        ),
        lambda options: ProcessesCollector.from_psutil(_top_n(options)),
    ),
    _settingless("disk", DiskCollector),
    # The node's interfaces or the agent's own network namespace's (`namespace`).
    Registration(
        "network",
        lambda procfs, options: NetworkCollector.from_procfs(procfs, _network_namespace(options)),
        lambda _: NetworkCollector.from_psutil(),
    ),
    _settingless("handles", HandlesCollector),
    # Load average, uptime, logical CPU count.
    _settingless("system", SystemCollector),
)
COLLECTOR_NAMES: tuple[str, ...] = tuple(r.name for r in REGISTRATIONS)


@dataclass(frozen=True, slots=True)
class ScheduledCollector:
    collector: Collector
    interval: float  # seconds


def procfs_available(procfs: Path) -> bool:
    return sys.platform.startswith("linux") and (procfs / "stat").is_file()


def build_collectors(config: AgentOptions) -> list[ScheduledCollector]:
    """The enabled collectors in registration order; a collector's own interval wins over the
    agent's."""
    procfs = config.procfs if procfs_available(config.procfs) else None
    scheduled = []
    for registration in REGISTRATIONS:
        options = config.collectors[registration.name]
        if not options.enabled:
            continue
        if procfs is not None:
            collector = registration.from_procfs(procfs, options)
        else:
            collector = registration.from_psutil(options)
        scheduled.append(ScheduledCollector(collector, options.interval or config.interval))
    return scheduled

"""/proc/meminfo: memory and swap sizes in bytes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporter.procfs.files import ProcfsFormatError, read_text

_UNITS = {"kB": 1024, "": 1}


def parse_meminfo(text: str) -> dict[str, int]:
    """Every `Key: value [kB]` line as key -> bytes (page counts like HugePages_* stay counts)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        unit = parts[1] if len(parts) > 1 else ""
        try:
            values[key] = int(parts[0]) * _UNITS[unit]
        except (ValueError, KeyError) as exc:
            raise ProcfsFormatError(f"/proc/meminfo: cannot read line {line!r}") from exc
    return values


@dataclass(frozen=True, slots=True)
class MemoryStat:
    total: int
    available: int
    free: int
    buffers: int
    cached: int
    swap_total: int
    swap_free: int

    @property
    def used(self) -> int:
        return max(self.total - self.available, 0)

    @property
    def swap_used(self) -> int:
        return max(self.swap_total - self.swap_free, 0)


def memory_stat_from_meminfo(values: dict[str, int]) -> MemoryStat:
    missing = [k for k in ("MemTotal", "MemFree") if k not in values]
    if missing:
        raise ProcfsFormatError(f"/proc/meminfo: missing {', '.join(missing)}")
    free = values["MemFree"]
    buffers = values.get("Buffers", 0)
    cached = values.get("Cached", 0)
    # Kernels before 3.14 lack MemAvailable; free + buffers + cached is the classic estimate.
    available = values.get("MemAvailable", free + buffers + cached)
    return MemoryStat(
        total=values["MemTotal"],
        available=available,
        free=free,
        buffers=buffers,
        cached=cached,
        swap_total=values.get("SwapTotal", 0),
        swap_free=values.get("SwapFree", 0),
    )


def read_memory_stat(procfs: Path) -> MemoryStat:
    return memory_stat_from_meminfo(parse_meminfo(read_text(procfs / "meminfo")))

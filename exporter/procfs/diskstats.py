"""/proc/diskstats: reads and writes per whole block device."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from exporter.procfs.files import ProcfsFormatError, read_text

SECTOR_BYTES = 512  # diskstats counts 512-byte sectors whatever the device's real sector size

# Like node_exporter's default: RAM disks, loop devices and floppies carry no real disk I/O, and a
# partition's I/O is already counted on its whole disk (counting both would double the totals).
_IGNORED_DEVICE = re.compile(
    r"^(?:z?ram\d+|loop\d+|fd\d+|(?:h|s|v|xv)d[a-z]+\d+|(?:nvme\d+n\d+|mmcblk\d+)p\d+)$"
)


@dataclass(frozen=True, slots=True)
class DiskStat:
    device: str
    reads: int
    writes: int
    read_bytes: int
    write_bytes: int


def is_reported_device(name: str) -> bool:
    return _IGNORED_DEVICE.match(name) is None


def parse_diskstats(text: str) -> list[DiskStat]:
    """Whole disks (and dm/md devices) from /proc/diskstats; see `_IGNORED_DEVICE` for the rule."""
    disks = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 10:
            raise ProcfsFormatError(f"/proc/diskstats: line {line.strip()!r} has too few fields")
        name = fields[2]
        if not is_reported_device(name):
            continue
        disks.append(
            DiskStat(
                device=name,
                reads=int(fields[3]),
                writes=int(fields[7]),
                read_bytes=int(fields[5]) * SECTOR_BYTES,
                write_bytes=int(fields[9]) * SECTOR_BYTES,
            )
        )
    return disks


def read_diskstats(procfs: Path) -> list[DiskStat]:
    return parse_diskstats(read_text(procfs / "diskstats"))

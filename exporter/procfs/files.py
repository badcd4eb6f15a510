"""Reading small kernel files with plain syscalls (no Python file objects on the hot path)."""

from __future__ import annotations

import os
from pathlib import Path

_CHUNK = 65536


class ProcfsFormatError(ValueError):
    """A procfs file did not have the expected format."""


def read_bytes(path: Path | str) -> bytes:
    """The whole content of a small procfs/sysfs file; OSError when it cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path | str) -> str:
    return read_bytes(path).decode("utf-8", errors="replace")

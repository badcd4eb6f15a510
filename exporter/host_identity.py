"""Who is reporting: the host's name and stable id, and this agent instance's id."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path

# systemd's machine id first, D-Bus's copy second (the OTel host.id convention uses the same).
MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


def resolve_host_name(configured: str | None) -> str:
    """The configured name, else the machine's hostname."""
    return configured or socket.gethostname() or "localhost"


def resolve_host_id(host_name: str, candidates: Sequence[Path] = MACHINE_ID_FILES) -> str:
    """The machine id; without one, a stable hash of the host name so the id never changes."""
    for path in candidates:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text:
            return text
    return hashlib.sha256(host_name.encode()).hexdigest()[:32]


def new_instance_id() -> str:
    """An id for one agent instance; with the spool on it is kept across restarts."""
    return uuid.uuid4().hex

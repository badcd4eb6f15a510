"""Where `hostpulse up` keeps its state: one data directory, with a fixed layout inside."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# sun_path is 108 bytes on Linux; keep a margin for the terminating NUL.
_MAX_SOCKET_PATH = 100


def default_data_dir(environ: Mapping[str, str], home: Path) -> Path:
    """`$XDG_DATA_HOME/hostpulse`, else `~/.local/share/hostpulse` (a relative XDG value is
    ignored, as the XDG spec says)."""
    xdg = environ.get("XDG_DATA_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "hostpulse"
    return home / ".local" / "share" / "hostpulse"


def socket_path(preferred: Path, fallback_root: Path | None = None) -> Path:
    """`preferred` when short enough for a unix socket, else a short path keyed by its hash."""
    if len(str(preferred)) <= _MAX_SOCKET_PATH:
        return preferred
    root = fallback_root if fallback_root is not None else Path(tempfile.gettempdir())
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return root / f"hostpulse-{digest}" / preferred.name


@dataclass(frozen=True, slots=True)
class StackPaths:
    root: Path

    @property
    def lock_file(self) -> Path:
        return self.root / "hostpulse-up.lock"

    @property
    def children_file(self) -> Path:
        return self.root / "children.json"

    @property
    def token_file(self) -> Path:
        return self.root / "agent-token"

    @property
    def pgdata(self) -> Path:
        return self.root / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def redis_socket(self) -> Path:
        return socket_path(self.redis_dir / "redis.sock")

    @property
    def redis_pid_file(self) -> Path:
        return self.redis_dir / "redis.pid"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

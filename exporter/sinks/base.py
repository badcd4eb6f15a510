"""The sink protocol, shaped like the OTel SDK exporters: non-blocking submit, bounded shutdown."""

from __future__ import annotations

from typing import Protocol

from exporter.model import Snapshot


class Sink(Protocol):
    name: str

    def start(self) -> None:
        """Open sockets / start threads. Raises OSError with a clear message if it cannot."""

    def submit(self, snapshot: Snapshot) -> None:
        """Hand over the newest snapshot; never blocks (the collection thread calls it)."""

    def shutdown(self, deadline_seconds: float) -> None:
        """Flush what is pending within the deadline, then release everything."""

"""The bounded buffer between the collection thread and the JSON push sender.

Full means drop the OLDEST: a backend that comes back wants the recent past first of all, and the
collection thread must never wait. With a spool every report is also on disk until it is acked.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable

from exporter.spool import BufferedReport, Spool

log = logging.getLogger(__name__)


class ReportBuffer:
    """A thread-safe FIFO of encoded reports, ordered by seq, holding at most `capacity`."""

    def __init__(self, capacity: int, spool: Spool | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._spool = spool
        self._reports: deque[BufferedReport] = deque()
        self._changed = threading.Condition()
        self._spool_failing = False

    def __len__(self) -> int:
        with self._changed:
            return len(self._reports)

    def restore(self, reports: Iterable[BufferedReport]) -> int:
        """Load reports recovered from the spool (already on disk); returns how many dropped."""
        with self._changed:
            self._reports.extend(reports)
            dropped = self._trim()
            self._changed.notify_all()
            return dropped

    def put(self, report: BufferedReport) -> int:
        """Append the newest report, dropping the oldest when full; returns how many dropped."""
        with self._changed:
            self._write_to_spool(report)
            self._reports.append(report)
            dropped = self._trim()
            self._changed.notify_all()
            return dropped

    def peek(self, max_count: int) -> list[BufferedReport]:
        """Up to `max_count` of the oldest reports, left in place until acked."""
        with self._changed:
            return [self._reports[i] for i in range(min(max_count, len(self._reports)))]

    def ack(self, through_seq: int) -> int:
        """Forget every report with seq <= through_seq (sent, or refused for good)."""
        removed = []
        with self._changed:
            while self._reports and self._reports[0].seq <= through_seq:
                removed.append(self._reports.popleft().seq)
            if self._spool is not None:
                self._spool.remove(removed)
            self._changed.notify_all()
        return len(removed)

    def wait_for_reports(self, timeout: float) -> bool:
        """Block until the buffer holds something or `timeout` seconds pass."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self._reports), timeout)

    def wait_until_empty(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._reports, timeout)

    def _trim(self) -> int:
        dropped = []
        while len(self._reports) > self.capacity:
            dropped.append(self._reports.popleft().seq)
        if dropped and self._spool is not None:
            self._spool.remove(dropped)
        return len(dropped)

    def _write_to_spool(self, report: BufferedReport) -> None:
        if self._spool is None:
            return
        try:
            self._spool.append(report)
        except OSError as exc:
            # Keep going from memory; say so once per run of failures, not once per report.
            if not self._spool_failing:
                log.error(
                    "cannot write to the spool; buffering in memory only",
                    extra={"fields": {"error": str(exc)}},
                )
            self._spool_failing = True
        else:
            if self._spool_failing:
                log.info("spool writable again")
            self._spool_failing = False

"""The bounded buffer between the collection thread and the JSON push sender.

Full means drop the OLDEST: a backend that comes back wants the recent past first of all, and the
collection thread must never wait. With a spool, reports reach the disk from the sender's thread
(`persist`), never from `put`: the collection thread does no file I/O. A report is only handed out
for sending (`peek`) once the spool has it, so every seq the backend may have seen is on disk.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable

from exporter.spool import BufferedReport, Spool, SpoolState

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
        # With a spool: every report up to this seq went through `persist` (on disk unless the
        # write failed); reports after it are in memory only and are not handed out yet.
        self._persisted_through = 0
        self._unlink_later: list[int] = []  # spooled reports dropped by `put`, for `persist`
        self._persist_lock = threading.Lock()  # the sender and a shutdown may both persist
        self._spool_failing = False

    def __len__(self) -> int:
        with self._changed:
            return len(self._reports)

    def restore(self, reports: Iterable[BufferedReport]) -> int:
        """Load reports recovered from the spool (already on disk); returns how many dropped."""
        with self._changed:
            self._reports.extend(reports)
            if self._reports:
                self._persisted_through = max(self._persisted_through, self._reports[-1].seq)
            dropped = self._trim()
            self._changed.notify_all()
        self._unlink(self._take_unlink_later())
        return dropped

    def put(self, report: BufferedReport) -> int:
        """Append the newest report, dropping the oldest when full; returns how many dropped.

        Never touches the disk: the sender's `persist` writes it to the spool.
        """
        with self._changed:
            self._reports.append(report)
            dropped = self._trim()
            self._changed.notify_all()
            return dropped

    def peek(self, max_count: int) -> list[BufferedReport]:
        """Up to `max_count` of the oldest reports (with a spool: persisted ones), left in place."""
        with self._changed:
            count = min(max_count, len(self._reports))
            batch = [self._reports[i] for i in range(count)]
        if self._spool is not None:
            batch = [report for report in batch if report.seq <= self._persisted_through]
        return batch

    def ack(self, through_seq: int) -> int:
        """Forget every report with seq <= through_seq (sent, or refused for good)."""
        removed = []
        with self._changed:
            while self._reports and self._reports[0].seq <= through_seq:
                removed.append(self._reports.popleft().seq)
            on_disk = [seq for seq in removed if seq <= self._persisted_through]
            self._changed.notify_all()
        self._unlink(on_disk)
        return len(removed)

    def has_unpersisted(self) -> bool:
        with self._changed:
            return self._has_unpersisted()

    def persist(self, state: Callable[[], SpoolState]) -> None:
        """Write the reports not yet in the spool, and `state()` with them.

        Runs in the sender's thread. A failing spool is logged once per run of failures and the
        reports go on from memory: the spool never stops the agent.
        """
        spool = self._spool
        if spool is None:
            return
        with self._persist_lock:
            with self._changed:
                pending = [r for r in self._reports if r.seq > self._persisted_through]
            stale = self._take_unlink_later()
            if not pending and not stale:
                return
            try:
                if pending:
                    spool.append_all(pending, state())
            except OSError as exc:
                self._note_spool_failure(exc)
            else:
                self._note_spool_working()
            with self._changed:
                if pending:
                    self._persisted_through = max(self._persisted_through, pending[-1].seq)
                # Acked or dropped while being written: their files must go as well.
                oldest = self._reports[0].seq if self._reports else self._persisted_through + 1
                stale += [r.seq for r in pending if r.seq < oldest]
                self._changed.notify_all()
            self._unlink(stale)

    def wait_for_reports(self, timeout: float) -> bool:
        """Block until the buffer holds something or `timeout` seconds pass."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self._reports), timeout)

    def wait_for_unpersisted(self, timeout: float, interrupt: threading.Event) -> bool:
        """Block until a report needs persisting, `interrupt` is set (see `wake`) or timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: interrupt.is_set() or self._has_unpersisted(), timeout
            )

    def wake(self) -> None:
        """Wake the waiters so they look at their events again."""
        with self._changed:
            self._changed.notify_all()

    def _has_unpersisted(self) -> bool:
        if self._spool is None:
            return False
        return bool(self._reports) and self._reports[-1].seq > self._persisted_through

    def _trim(self) -> int:
        dropped = 0
        while len(self._reports) > self.capacity:
            seq = self._reports.popleft().seq
            dropped += 1
            if self._spool is not None and seq <= self._persisted_through:
                self._unlink_later.append(seq)
        return dropped

    def _take_unlink_later(self) -> list[int]:
        with self._changed:
            stale, self._unlink_later = self._unlink_later, []
        return stale

    def _unlink(self, seqs: list[int]) -> None:
        if self._spool is not None and seqs:
            self._spool.remove(seqs)  # never raises

    def _note_spool_failure(self, exc: OSError) -> None:
        # Keep going from memory; say so once per run of failures, not once per report.
        if not self._spool_failing:
            log.error(
                "cannot write to the spool; buffering in memory only",
                extra={"fields": {"error": str(exc)}},
            )
        self._spool_failing = True

    def _note_spool_working(self) -> None:
        if self._spool_failing:
            log.info("spool writable again")
        self._spool_failing = False

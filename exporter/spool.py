"""The on-disk spool: buffered reports survive an agent restart.

One file per report (`<seq>.json`, written to a temporary name, fsynced, then renamed) so that an
ack is an unlink and a torn write can only ever lose the one report being written. `state.json`
keeps the instance id and the last seq handed out, so seq keeps increasing across restarts.
A corrupt file is logged, moved aside as `*.corrupt` and skipped: the spool never stops the agent.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

log = logging.getLogger(__name__)

_STATE = "state.json"
_LOCK = ".lock"
_SUFFIX = ".json"


@dataclass(frozen=True, slots=True)
class BufferedReport:
    seq: int
    body: bytes  # the encoded report (one element of the batch's `reports`)


@dataclass(frozen=True, slots=True)
class SpoolState:
    instance_id: str
    last_seq: int


def _state_body(state: SpoolState) -> bytes:
    return orjson.dumps({"instance_id": state.instance_id, "last_seq": state.last_seq})


def _report_name(seq: int) -> str:
    return f"{seq:020d}{_SUFFIX}"


class Spool:
    """A directory of pending reports, owned by one agent at a time (an flock guards it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock_file: IO[bytes] | None = None
        self.corrupt_skipped = 0  # report files the last `load` set aside as unreadable

    def open(self) -> None:
        """Create the directory and take its lock; OSError with a clear message if it cannot."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = (self.directory / _LOCK).open("ab")
        except OSError as exc:
            raise OSError(f"spool_dir {self.directory}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock.close()
            raise OSError(f"spool_dir {self.directory}: in use by another agent") from exc
        self._lock_file = lock

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None

    def read_state(self) -> SpoolState | None:
        """The saved instance id and last seq; None when absent or unreadable (logged)."""
        path = self.directory / _STATE
        try:
            data = orjson.loads(path.read_bytes())
            state = SpoolState(str(data["instance_id"]), int(data["last_seq"]))
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "spool state unreadable; starting a new agent instance",
                extra={"fields": {"path": str(path), "error": str(exc)}},
            )
            self._set_aside(path)
            return None
        if not state.instance_id or state.last_seq < 0:
            self._set_aside(path)
            return None
        return state

    def write_state(self, state: SpoolState) -> None:
        self._write_atomically(self.directory / _STATE, _state_body(state))

    def append(self, report: BufferedReport) -> None:
        self.append_all([report])

    def append_all(
        self, reports: Iterable[BufferedReport], state: SpoolState | None = None
    ) -> None:
        """Write each report (then the state) durably; the directory is synced once for all."""
        for report in reports:
            self._write_file(self.directory / _report_name(report.seq), report.body)
        if state is not None:
            self._write_file(self.directory / _STATE, _state_body(state))
        self._sync_directory()

    def remove(self, seqs: Iterable[int]) -> None:
        for seq in seqs:
            with contextlib.suppress(OSError):  # already gone, or a read-only disk: never fatal
                (self.directory / _report_name(seq)).unlink()

    def load(self) -> list[BufferedReport]:
        """Every readable pending report, oldest first; corrupt files are set aside and logged."""
        reports = []
        self.corrupt_skipped = 0
        for path in sorted(self.directory.glob("*" + _SUFFIX)):
            if path.name == _STATE:
                continue
            try:
                seq = int(path.stem)
                body = path.read_bytes()
                parsed = orjson.loads(body)
                if not isinstance(parsed, dict) or parsed.get("seq") != seq:
                    raise ValueError("the file's seq does not match its name")
            except (OSError, ValueError, orjson.JSONDecodeError) as exc:
                log.warning(
                    "skipping a corrupt spool file",
                    extra={"fields": {"path": str(path), "error": str(exc)}},
                )
                self._set_aside(path)
                self.corrupt_skipped += 1
                continue
            reports.append(BufferedReport(seq, body))
        return reports

    def _write_atomically(self, path: Path, body: bytes) -> None:
        self._write_file(path, body)
        self._sync_directory()

    @staticmethod
    def _write_file(path: Path, body: bytes) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)

    def _sync_directory(self) -> None:
        # Make the renames themselves durable.
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _set_aside(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            path.replace(path.with_name(path.name + ".corrupt"))

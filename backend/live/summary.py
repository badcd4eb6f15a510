"""The fleet summary, pure: one small line per host (status, CPU, memory, load, alert counts, the
top process, last seen) instead of its full live frame, for views of the whole fleet.

Two halves:
- the ingesting process encodes each host's *report summary* from the batch's one pass
  (`encode_host_summary`): what the host sent. They are stored in a Redis hash (the fleet's
  latest) and published as one summary bundle per batch, like live frames.
- every process with fleet clients keeps a `FleetTable`: the latest report summary per host, plus
  the alert counts (from the alert transitions every process hears) and up/stale from the clock.
  It answers with `{"type":"summaries","hosts":[…]}` messages: the whole fleet when a client
  subscribes, then only the hosts that changed since the last flush.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from backend.fanout.host_split import HostPart, SplitBatch
from backend.fanout.vitals import LOAD_1M, MEMORY_USED
from backend.model import ProcessSnapshot

# What joins the report summaries of one batch in a summary bundle (orjson escapes newlines).
SUMMARY_SEPARATOR = b"\n"
MAX_PROCESS_NAME = 64
# The bound the protocol promises per host summary, as sent to clients (tests assert it).
MAX_SUMMARY_BYTES = 400


def _rounded(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def _top_process(snapshots: list[ProcessSnapshot]) -> dict[str, Any] | None:
    latest: ProcessSnapshot | None = None
    for snapshot in snapshots:
        if latest is None or snapshot.time_ms >= latest.time_ms:
            latest = snapshot
    if latest is None or not latest.processes:
        return None
    top = min(latest.processes, key=lambda p: p.get("rank") or 0)
    return {
        "name": str(top.get("name") or "")[:MAX_PROCESS_NAME],
        "pid": top.get("pid"),
        "cpu": _rounded(top.get("cpu_utilization"), 4),
    }


def encode_host_summary(host: str, part: HostPart, accepted_ms: int) -> bytes:
    """What one host's share of a batch says about it: its newest CPU, memory and load, its top
    process, and when it was seen (the server's clock, like the hosts index). Keys without a
    value are left out."""
    vitals = part.vitals
    fields: dict[str, Any] = {
        "host": host,
        "seen_ms": accepted_ms,
        "cpu": _rounded(vitals.cpu(), 4),
        "mem": _rounded(vitals.memory_ratio(), 4),
        "mem_used": vitals.gauge(MEMORY_USED),
        "load": _rounded(vitals.gauge(LOAD_1M), 2),
        "top": _top_process(part.snapshots),
    }
    return orjson.dumps({key: value for key, value in fields.items() if value is not None})


def encode_summaries(split: SplitBatch, accepted_ms: int) -> dict[str, bytes]:
    """Each host's report summary, by host name."""
    return {
        host: encode_host_summary(host, part, accepted_ms) for host, part in split.hosts.items()
    }


def join_summary_bundle(summaries: Iterable[bytes]) -> bytes:
    return SUMMARY_SEPARATOR.join(summaries)


@dataclass(slots=True)
class _HostState:
    report: dict[str, Any]  # the latest report summary
    stale: bool = False


def _alert_key(message: Mapping[str, Any]) -> str:
    labels = message.get("labels")
    return str(message.get("rule")) + orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()


class FleetTable:
    """The latest summary of every host this process knows, with alert counts and up/stale; the
    hosts changed since the last `flush`. Pure: times are passed in."""

    def __init__(self, stale_after_ms: int) -> None:
        self._stale_after_ms = stale_after_ms
        self._hosts: dict[str, _HostState] = {}
        self._alerts: dict[str, tuple[str, str]] = {}  # alert key -> (host, pending|firing)
        self._changed: set[str] = set()

    def __len__(self) -> int:
        return len(self._hosts)

    def add_reports(self, bundle: bytes) -> None:
        """A summary bundle (or one report summary), as published per batch."""
        for line in bundle.split(SUMMARY_SEPARATOR):
            self._add_report(line)

    def replace_reports(self, reports: Iterable[bytes], now_ms: int) -> None:
        """The fleet's latest report summaries as stored in Redis: hosts not among them are gone
        (their window and index entries expired) — unless the table heard from them within
        `stale_after`: such a report reached the channel after the stored ones were read (the
        index keeps a host far longer than that), and dropping it would hide the host until its
        next report."""
        known: dict[str, _HostState] = {}
        for line in reports:
            report = self._decode(line)
            if report is not None:
                old = self._hosts.get(report["host"])
                newer = old is not None and old.report.get("seen_ms", 0) > report.get("seen_ms", 0)
                known[report["host"]] = old if old is not None and newer else _HostState(report)
        recent = now_ms - self._stale_after_ms
        for host, state in self._hosts.items():
            if host not in known and state.report.get("seen_ms", 0) >= recent:
                known[host] = state
        self._hosts = known
        self._changed &= known.keys()

    def _decode(self, line: bytes) -> dict[str, Any] | None:
        try:
            report = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(report, dict) or not isinstance(report.get("host"), str):
            return None
        return report

    def catch_up(self, reports: Iterable[bytes]) -> None:
        """Stored report summaries, after the channel may have missed some: only those newer
        than what the table holds count as changes."""
        for line in reports:
            report = self._decode(line)
            if report is None:
                continue
            state = self._hosts.get(report["host"])
            if state is None or state.report.get("seen_ms", 0) < report.get("seen_ms", 0):
                self._hosts[report["host"]] = _HostState(report)
                self._changed.add(report["host"])

    def _add_report(self, line: bytes) -> None:
        report = self._decode(line)
        if report is None:
            return
        host = report["host"]
        state = self._hosts.get(host)
        if state is not None and state.report.get("seen_ms", 0) > report.get("seen_ms", 0):
            return  # an older batch, delivered late
        self._hosts[host] = _HostState(report)
        self._changed.add(host)

    def load_alerts(self, alerts: Iterable[tuple[str, Mapping[str, str], str]]) -> None:
        """The pending and firing alerts as stored: (rule, labels, state)."""
        self._alerts = {
            _alert_key({"rule": rule, "labels": dict(labels)}): (labels.get("host", ""), state)
            for rule, labels, state in alerts
            if state in ("pending", "firing")
        }
        self._changed.update(self._hosts.keys())

    def apply_alert(self, message: bytes) -> None:
        """An `{"type":"alert"}` transition as broadcast to every process."""
        try:
            transition = orjson.loads(message)
        except orjson.JSONDecodeError:
            return
        if not isinstance(transition, dict) or transition.get("type") != "alert":
            return
        key = _alert_key(transition)
        host = str(transition.get("host") or "")
        to = transition.get("to")
        if to in ("pending", "firing"):
            self._alerts[key] = (host, str(to))
        else:
            self._alerts.pop(key, None)
        if host in self._hosts:
            self._changed.add(host)

    def mark_stale(self, now_ms: int) -> None:
        """Hosts that stopped reporting turn stale (and count as changed) once."""
        cutoff = now_ms - self._stale_after_ms
        for host, state in self._hosts.items():
            stale = state.report.get("seen_ms", 0) < cutoff
            if stale != state.stale:
                state.stale = stale
                self._changed.add(host)

    def _counts(self) -> dict[str, list[int]]:
        counts: dict[str, list[int]] = {}
        for host, state in self._alerts.values():
            pair = counts.setdefault(host, [0, 0])
            pair[0 if state == "firing" else 1] += 1
        return counts

    def _summary(self, host: str, counts: Mapping[str, list[int]]) -> dict[str, Any]:
        state = self._hosts[host]
        firing, pending = counts.get(host, (0, 0))
        return {
            **state.report,
            "status": "stale" if state.stale else "up",
            "firing": firing,
            "pending": pending,
        }

    def snapshot(self, now_ms: int) -> bytes:
        """Every host, as a `summaries` message (for a client that just subscribed)."""
        self.mark_stale(now_ms)
        counts = self._counts()
        hosts = [self._summary(host, counts) for host in sorted(self._hosts)]
        return orjson.dumps({"type": "summaries", "full": True, "hosts": hosts})

    def flush(self, now_ms: int) -> bytes | None:
        """The hosts changed since the last flush, as a `summaries` message; None when none."""
        self.mark_stale(now_ms)
        if not self._changed:
            return None
        counts = self._counts()
        hosts = [self._summary(host, counts) for host in sorted(self._changed)]
        self._changed.clear()
        return orjson.dumps({"type": "summaries", "full": False, "hosts": hosts})

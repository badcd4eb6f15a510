"""The live protocol, pure: frames published on Redis and sent to WebSocket clients, and the
messages clients send. Every message is JSON with a `type`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from backend.model import IngestBatch, ProcessSnapshot, Sample

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
MAX_SUBSCRIBED_HOSTS = 1000
MAX_HOST_LENGTH = 255


def sample_json(sample: Sample) -> dict[str, Any]:
    return {
        "name": sample.name,
        "labels": dict(sample.labels),
        "time_ms": sample.time_ms,
        "value": sample.value,
    }


def processes_json(snapshot: ProcessSnapshot) -> dict[str, Any]:
    return {"time_ms": snapshot.time_ms, "processes": [dict(p) for p in snapshot.processes]}


def encode_frames(batch: IngestBatch, accepted_ms: int) -> list[bytes]:
    """One `samples` frame per host of the batch, ready to publish and to forward unchanged."""
    samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in batch.samples:
        # Inlined sample_json: this loop runs for every accepted sample.
        labels = sample.labels
        samples[sample.host].append(
            {
                "name": sample.name,
                "labels": labels if type(labels) is dict else dict(labels),
                "time_ms": sample.time_ms,
                "value": sample.value,
            }
        )
    return host_frames(samples, batch.process_snapshots, accepted_ms)


def host_frames(
    samples_by_host: dict[str, list[dict[str, Any]]],
    process_snapshots: Sequence[ProcessSnapshot],
    accepted_ms: int,
) -> list[bytes]:
    """One `samples` frame per host, with that host's newest process table (if any)."""
    latest: dict[str, ProcessSnapshot] = {}
    for snap in process_snapshots:
        if snap.host not in latest or snap.time_ms >= latest[snap.host].time_ms:
            latest[snap.host] = snap
    frames = []
    for host in sorted(samples_by_host.keys() | latest.keys()):
        snapshot = latest.get(host)
        frame = {
            "type": "samples",
            "host": host,
            "accepted_ms": accepted_ms,
            "samples": samples_by_host.get(host, []),
            "processes": processes_json(snapshot) if snapshot is not None else None,
        }
        frames.append(orjson.dumps(frame))
    return frames


# What joins the frames of one batch in a single live-channel message. orjson never writes a raw
# newline (it escapes them inside strings), so it cannot occur inside a frame.
FRAME_SEPARATOR = b"\n"
_SAMPLES_KEY = b',"samples"'


def join_frames(frames: Sequence[bytes]) -> bytes:
    """One live-channel message for all of a batch's frames (see `split_frames`)."""
    return FRAME_SEPARATOR.join(frames)


def split_frames(message: bytes) -> list[bytes]:
    return message.split(FRAME_SEPARATOR)


def frame_host(frame: bytes) -> str | None:
    """The host a published frame is about; None for anything that is not a samples frame.

    Reads only the frame's head (`type`, `host`, `accepted_ms` come before `samples`): a frame
    carries a whole report and every dispatch would otherwise parse it for one string."""
    head_end = frame.find(_SAMPLES_KEY)
    try:
        data = orjson.loads(frame[:head_end] + b"}" if head_end > 0 else frame)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") != "samples":
        return None
    host = data.get("host")
    return host if isinstance(host, str) else None


# A subscription: every host ("*") or a set of host names.
ALL_HOSTS = "*"
Subscription = frozenset[str] | str


@dataclass(frozen=True, slots=True)
class Subscribe:
    hosts: Subscription


@dataclass(frozen=True, slots=True)
class Ping:
    pass


class ClientMessageError(ValueError):
    """A client message the server refuses; the text goes back as `{"type":"error"}`."""


def parse_client_message(text: str | bytes) -> Subscribe | Ping:
    """`{"type":"subscribe","hosts":["web-1"]}`, `{"hosts":"*"}` or `{"type":"ping"}`."""
    if len(text) > MAX_CLIENT_MESSAGE_BYTES:
        raise ClientMessageError(f"message larger than {MAX_CLIENT_MESSAGE_BYTES} bytes")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ClientMessageError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ClientMessageError("a message must be a JSON object with a 'type'")
    kind = data.get("type", "subscribe")
    if kind == "ping":
        return Ping()
    if kind != "subscribe":
        raise ClientMessageError(f"type: unknown message type {kind!r}; use 'subscribe' or 'ping'")
    return Subscribe(hosts=_parse_hosts(data.get("hosts")))


def _parse_hosts(hosts: Any) -> Subscription:
    if hosts == ALL_HOSTS:
        return ALL_HOSTS
    if not isinstance(hosts, list):
        raise ClientMessageError("hosts: must be '*' or a list of host names")
    if len(hosts) > MAX_SUBSCRIBED_HOSTS:
        raise ClientMessageError(f"hosts: at most {MAX_SUBSCRIBED_HOSTS} hosts per subscription")
    for host in hosts:
        if not isinstance(host, str) or not 0 < len(host) <= MAX_HOST_LENGTH:
            raise ClientMessageError(
                f"hosts: each host must be a non-empty string of at most {MAX_HOST_LENGTH} chars"
            )
    return frozenset(hosts)


def subscribed_message(hosts: Subscription) -> str:
    shown: str | list[str] = hosts if isinstance(hosts, str) else sorted(hosts)
    return orjson.dumps({"type": "subscribed", "hosts": shown}).decode()


def error_message(detail: str) -> str:
    return orjson.dumps({"type": "error", "detail": detail}).decode()


def pong_message() -> str:
    return '{"type":"pong"}'

"""The live protocol, pure: the live frames WebSocket clients receive (published on Redis in one
live bundle per batch), and the messages clients send. Every message is JSON with a `type`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from backend.fanout.host_split import HostPart, SplitBatch
from backend.model import ProcessSnapshot

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
MAX_SUBSCRIBED_HOSTS = 1000
MAX_HOST_LENGTH = 255


def encode_live_frame(host: str, part: HostPart, accepted_ms: int) -> bytes:
    """The `samples` message a WebSocket client subscribed to `host` receives for one batch:
    its samples, and its newest process table of the batch (or null)."""
    latest: ProcessSnapshot | None = None
    for snapshot in part.snapshots:
        if latest is None or snapshot.time_ms >= latest.time_ms:
            latest = snapshot
    frame = {
        "type": "samples",
        "host": host,
        "accepted_ms": accepted_ms,
        "samples": [
            {"name": name, "labels": labels, "time_ms": time_ms, "value": value}
            for name, labels, time_ms, value in part.rows
        ],
        "processes": (
            {"time_ms": latest.time_ms, "processes": [dict(p) for p in latest.processes]}
            if latest is not None
            else None
        ),
    }
    return orjson.dumps(frame)


# What joins the live frames of one batch in a single live-channel message (a live bundle).
# orjson never writes a raw newline (it escapes them inside strings), so it cannot occur in a frame.
FRAME_SEPARATOR = b"\n"
_SAMPLES_KEY = b',"samples"'


def encode_live_bundle(split: SplitBatch, accepted_ms: int) -> bytes:
    """One live-channel message for a whole batch: each host's live frame, by host name. One
    message, not one per host: each pub/sub message costs every subscribing process more than
    what is in it (the hub splits the bundle again)."""
    return FRAME_SEPARATOR.join(
        encode_live_frame(host, split.hosts[host], accepted_ms) for host in sorted(split.hosts)
    )


def split_live_bundle(bundle: bytes) -> list[bytes]:
    return bundle.split(FRAME_SEPARATOR)


def frame_host(frame: bytes) -> str | None:
    """The host a live frame is about; None for anything that is not a `samples` frame.

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


# The protocol versions a client may ask for with `"v"` (none: 1).
PROTOCOL_VERSIONS = (1, 2)


@dataclass(frozen=True, slots=True)
class Subscribe:
    hosts: Subscription
    summary: bool = False  # the fleet summaries (version 2)
    version: int = 1


@dataclass(frozen=True, slots=True)
class Ping:
    pass


class ClientMessageError(ValueError):
    """A client message the server refuses; the text goes back as `{"type":"error"}`."""


def parse_client_message(text: str | bytes) -> Subscribe | Ping:
    """`{"type":"ping"}`, or a subscription:

    - version 1 (no `v`): `{"type":"subscribe","hosts":["web-1"]}` or `{"hosts":"*"}`: the full
      frames of those hosts;
    - version 2: `{"type":"subscribe","v":2,"summary":true,"hosts":["web-1"]}`: the fleet
      summaries when `summary`, and the full frames of `hosts` (default none; `"*"` allowed).
      Each subscription replaces the previous one.
    """
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
    version = data.get("v", 1)
    if type(version) is not int or version not in PROTOCOL_VERSIONS:
        raise ClientMessageError(
            f"v: unsupported protocol version {version!r}; this backend speaks "
            + " and ".join(str(v) for v in PROTOCOL_VERSIONS)
            + " (reload the dashboard if it is older than the backend)"
        )
    if version == 1:
        if "summary" in data:
            raise ClientMessageError('summary: needs protocol version 2 ("v":2)')
        return Subscribe(hosts=_parse_hosts(data.get("hosts")))
    summary = data.get("summary", False)
    if not isinstance(summary, bool):
        raise ClientMessageError("summary: must be true or false")
    return Subscribe(hosts=_parse_hosts(data.get("hosts", [])), summary=summary, version=2)


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


def subscribed_message(request: Subscribe) -> str:
    hosts = request.hosts
    shown: str | list[str] = hosts if isinstance(hosts, str) else sorted(hosts)
    if request.version == 1:
        return orjson.dumps({"type": "subscribed", "hosts": shown}).decode()
    reply = {"type": "subscribed", "v": request.version, "hosts": shown, "summary": request.summary}
    return orjson.dumps(reply).decode()


def error_message(detail: str) -> str:
    return orjson.dumps({"type": "error", "detail": detail}).decode()


def pong_message() -> str:
    return '{"type":"pong"}'

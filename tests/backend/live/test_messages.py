"""The live protocol, pure: one live frame per host of a batch in one live bundle, the host read
from a frame's head, and what clients may send."""

from __future__ import annotations

import orjson
import pytest

from backend.fanout.host_split import split_by_host
from backend.live.messages import (
    ALL_HOSTS,
    ClientMessageError,
    Ping,
    Subscribe,
    encode_live_bundle,
    frame_host,
    parse_client_message,
    split_live_bundle,
)
from backend.model import IngestBatch, ProcessSnapshot, Sample


def live_frames(batch: IngestBatch, accepted_ms: int) -> list[bytes]:
    """The live frames of the bundle the fan-out publishes for `batch`."""
    return split_live_bundle(encode_live_bundle(split_by_host(batch, {}), accepted_ms))


def test_client_messages_parse_or_explain() -> None:
    assert parse_client_message('{"type":"subscribe","hosts":["web-1"]}') == Subscribe(
        frozenset({"web-1"})
    )
    assert parse_client_message('{"hosts":"*"}') == Subscribe(ALL_HOSTS)
    assert parse_client_message('{"type":"ping"}') == Ping()
    for bad, reason in [
        ("not json", "not valid JSON"),
        ("[1]", "JSON object"),
        ('{"type":"dance"}', "type: unknown message type"),
        ('{"type":"subscribe","hosts":"web-1"}', r"hosts: must be '\*' or a list"),
        ('{"type":"subscribe","hosts":[1]}', "hosts: each host"),
    ]:
        with pytest.raises(ClientMessageError, match=reason):
            parse_client_message(bad)


def test_frames_are_one_per_host_with_the_latest_process_table() -> None:
    batch = IngestBatch(
        protocol="remote_write",
        samples=[
            Sample("b", "up", {"job": "x"}, 1000, 1.0),
            Sample("a", "up", {}, 1000, 0.0),
        ],
        process_snapshots=[
            ProcessSnapshot("a", 900, [{"pid": 1}]),
            ProcessSnapshot("a", 1000, [{"pid": 2}]),
        ],
    )
    frames = [orjson.loads(f) for f in live_frames(batch, accepted_ms=1234)]
    assert [f["host"] for f in frames] == ["a", "b"]
    assert frames[0] == {
        "type": "samples",
        "host": "a",
        "accepted_ms": 1234,
        "samples": [{"name": "up", "labels": {}, "time_ms": 1000, "value": 0.0}],
        "processes": {"time_ms": 1000, "processes": [{"pid": 2}]},
    }
    assert frames[1]["processes"] is None


def test_the_host_is_read_from_the_frames_head_only() -> None:
    tricky = Sample('web-1",\n"samples', 'm",\n"samples":[', {"k": ',"samples"'}, 1, 0.5)
    (frame,) = live_frames(IngestBatch("json", [tricky]), accepted_ms=1)
    assert frame_host(frame) == 'web-1",\n"samples'
    assert frame_host(b"not json") is None
    assert frame_host(b'{"type":"alert","host":"a","samples":[]}') is None
    assert frame_host(b'{"type":"samples","host":7,"samples":[]}') is None

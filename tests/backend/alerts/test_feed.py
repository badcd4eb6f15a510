"""Live-channel frames into engine observations (pure)."""

from __future__ import annotations

import orjson

from backend.alerts.feed import observations_from_frame


def frame(samples: list[dict[str, object]], kind: str = "samples") -> bytes:
    return orjson.dumps({"type": kind, "host": "web-1", "samples": samples})


def sample(name: str, time_ms: int, value: float = 1.0) -> dict[str, object]:
    return {"name": name, "labels": {"cpu_mode": "idle"}, "time_ms": time_ms, "value": value}


def test_watched_metrics_pass_and_the_newest_other_sample_marks_the_host_alive() -> None:
    found = observations_from_frame(
        frame([sample("cpu", 1000, 0.5), sample("disk", 1000), sample("net", 2000)]), {"cpu"}
    )
    assert [(o.host, o.metric, o.time_ms, o.value) for o in found] == [
        ("web-1", "cpu", 1000, 0.5),
        ("web-1", "net", 2000, 1.0),
    ]
    assert found[0].labels == {"cpu_mode": "idle"}


def test_no_extra_presence_sample_when_a_watched_one_is_newest() -> None:
    found = observations_from_frame(frame([sample("disk", 1000), sample("cpu", 1000)]), {"cpu"})
    assert [o.metric for o in found] == ["cpu"]


def test_other_frames_and_garbage_give_nothing() -> None:
    assert observations_from_frame(b"not json", {"cpu"}) == []
    assert observations_from_frame(frame([sample("cpu", 1)], kind="alert"), {"cpu"}) == []
    assert observations_from_frame(frame([{"name": "cpu"}]), {"cpu"}) == []

"""SampleColumns: the JSON path's columnar samples still behave as a Sequence[Sample]."""

from __future__ import annotations

import pytest

from backend.model import Sample, SampleColumns, as_columns, concat

SAMPLES = [
    Sample("web-1", "system_cpu_utilization_ratio", {"cpu": "0"}, 1_000, 0.5),
    Sample("web-1", "system_cpu_utilization_ratio", {"cpu": "1"}, 1_000, 0.25),
    Sample("db-1", "system_uptime_seconds", {}, 2_000, 42.0),
]


def test_columns_read_back_as_the_same_samples() -> None:
    columns = as_columns(SAMPLES)
    assert len(columns) == 3
    assert list(columns) == SAMPLES
    assert columns[2] == SAMPLES[2]
    assert columns[-1] == SAMPLES[-1]
    assert list(columns[1:]) == SAMPLES[1:]
    assert columns == SAMPLES  # equal to a list of the same samples
    assert columns == as_columns(list(SAMPLES))
    assert columns != as_columns(SAMPLES[:2])


def test_concat_keeps_order_and_stays_columnar_only_when_every_part_is() -> None:
    first, second = as_columns(SAMPLES[:1]), as_columns(SAMPLES[1:])
    merged = concat([first, second])
    assert isinstance(merged, SampleColumns)
    assert list(merged) == SAMPLES
    assert len(first) == 1  # the parts are not changed
    mixed = concat([first, SAMPLES[1:]])
    assert list(mixed) == SAMPLES


def test_columns_of_unequal_length_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        SampleColumns([("m", "h", ())], [{}], [1, 2], [1.0])

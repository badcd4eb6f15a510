"""chunk_codec: a chunk decodes to exactly the times and value bits it was made of."""

from __future__ import annotations

import numpy as np
import pytest

from backend.storage.chunk_codec import CorruptChunk, decode_chunk, encode_chunk


def test_times_and_value_bits_round_trip_exactly() -> None:
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.integers(1, 5_000_000, 3_600)) + 1_700_000_000_000_000
    values = rng.integers(0, 2**64, 3_600, dtype=np.uint64).view(np.float64)  # NaNs included
    got_times, got_values = decode_chunk(encode_chunk(times, values))
    assert got_times.tolist() == times.tolist()
    assert got_values.view(np.uint64).tolist() == values.view(np.uint64).tolist()


def test_regular_exporter_data_takes_a_few_bytes_per_sample() -> None:
    times = np.arange(3_600, dtype=np.int64) * 2_000_000 + 1_700_000_000_000_000
    values = np.round(np.linspace(0.1, 0.9, 3_600), 4)
    assert len(encode_chunk(times, values)) / 3_600 < 3


@pytest.mark.parametrize(
    ("chunk", "message"),
    [(b"\x01", "shorter than its header"), (b"\x09\x00\x00\x00\x00", "version 9"),
     (b"\x01\x04\x00\x00\x00junkjunk", "does not decode")],
)  # fmt: skip
def test_bytes_that_are_not_a_chunk_raise_corrupt_chunk(chunk: bytes, message: str) -> None:
    with pytest.raises(CorruptChunk, match=message):
        decode_chunk(chunk)


def test_an_empty_or_uneven_chunk_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        encode_chunk(np.zeros(0, np.int64), np.zeros(0))
    with pytest.raises(ValueError, match="as many times as values"):
        encode_chunk(np.zeros(2, np.int64), np.zeros(1))

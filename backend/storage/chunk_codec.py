"""A sealed chunk's bytes: one series' samples of one window, compressed with pcodec.

Layout: version byte (1), the length of the timestamps block (uint32, little-endian), then two
pcodec standalone blocks: timestamps (int64 microseconds since the Unix epoch, PostgreSQL's own
resolution, so any stored time round-trips; pcodec finds the delta-of-delta order and the common
factor of 1,000 by itself) and values (float64; pcodec detects decimal and integer-like
structure). pcodec won the measurement in bench/codec_compare.py on realistic exporter data:
about 2 bytes per sample, against 2.9 for Gorilla's delta-of-delta/XOR transforms + zstd and 3.0
for blosc2, at less encode CPU than either (figures in bench/README.md).
Decoding is exact: timestamps and the values' bits come back unchanged.
"""

from __future__ import annotations

import struct

import numpy as np
from pcodec import ChunkConfig, standalone

FORMAT_VERSION = 1
_HEADER = struct.Struct("<BI")
_CONFIG = ChunkConfig(compression_level=8)


class CorruptChunk(ValueError):
    """Chunk bytes this version cannot decode."""


def encode_chunk(times_us: np.ndarray, values: np.ndarray) -> bytes:
    """The chunk of (sorted, distinct) int64 times and float64 values of equal length."""
    if len(times_us) != len(values) or len(times_us) == 0:
        raise ValueError("a chunk holds at least one sample, with as many times as values")
    times = np.ascontiguousarray(times_us, dtype=np.int64)
    block: bytes = standalone.simple_compress(times, _CONFIG)
    values = np.ascontiguousarray(values, dtype=np.float64)
    data: bytes = standalone.simple_compress(values, _CONFIG)
    return _HEADER.pack(FORMAT_VERSION, len(block)) + block + data


def decode_chunk(chunk: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(times int64 µs since the epoch, values float64) of a chunk made by `encode_chunk`."""
    if len(chunk) < _HEADER.size:
        raise CorruptChunk(f"chunk of {len(chunk)} bytes is shorter than its header")
    version, size = _HEADER.unpack_from(chunk)
    if version != FORMAT_VERSION:
        raise CorruptChunk(f"chunk format version {version} is not {FORMAT_VERSION}")
    start = _HEADER.size
    try:
        times = standalone.simple_decompress(chunk[start : start + size])
        values = standalone.simple_decompress(chunk[start + size :])
    except (RuntimeError, TypeError) as error:
        raise CorruptChunk(f"chunk does not decode: {error}") from error
    if times is None or values is None or len(times) != len(values):
        raise CorruptChunk("chunk's timestamps and values differ in length")
    return times.astype(np.int64, copy=False), values.astype(np.float64, copy=False)

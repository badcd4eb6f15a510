"""Candidate chunk codecs on realistic exporter data: bytes per sample and CPU per sample.

    .venv/bin/python bench/codec_compare.py [--hosts 5] [--hours 6] [--window-hours 2]

Each series of `--hosts` realistic 16-core hosts (bench/realistic_host.py) is cut into windows
of `--window-hours` (one chunk each, as the sealing job makes them) and every candidate encodes
every chunk: timestamps (int64 ms) and values (float64) together. Printed per candidate: bytes
per sample (median chunk and all chunks together), encode and decode CPU microseconds per sample
(process CPU time, best of 3 passes), and whether every chunk came back bit-for-bit.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from collections.abc import Callable

import cramjam
import numpy as np
import pcodec
from pcodec import standalone
from realistic_host import INTERVAL_MS, host_series

Chunk = tuple[np.ndarray, np.ndarray]
Encode = Callable[[np.ndarray, np.ndarray], bytes]
Decode = Callable[[bytes, int], Chunk]


def pco_codec(level: int) -> tuple[Encode, Decode]:
    config = pcodec.ChunkConfig(compression_level=level)

    def encode(times: np.ndarray, values: np.ndarray) -> bytes:
        t = standalone.simple_compress(times, config)
        return len(t).to_bytes(4, "little") + t + standalone.simple_compress(values, config)

    def decode(blob: bytes, n: int) -> Chunk:
        size = int.from_bytes(blob[:4], "little")
        return (
            standalone.simple_decompress(blob[4 : 4 + size]),
            standalone.simple_decompress(blob[4 + size :]),
        )

    return encode, decode


def _delta_xor(times: np.ndarray, values: np.ndarray) -> bytes:
    """Gorilla's transforms with numpy: delta-of-delta times, each value XOR the one before."""
    deltas = np.diff(times)
    head = np.concatenate([times[:1], deltas[:1]])
    bits = values.view(np.uint64)
    xor = np.bitwise_xor(bits, np.concatenate([np.zeros(1, np.uint64), bits[:-1]]))
    return head.tobytes() + np.diff(deltas).tobytes() + xor.tobytes()


def _undo_delta_xor(raw: bytes, n: int) -> Chunk:
    head = np.frombuffer(raw, np.int64, min(n, 2))
    dod = np.frombuffer(raw, np.int64, max(n - 2, 0), 16)
    deltas = head[1:][:1].sum() + np.concatenate([[0], np.cumsum(dod)]) if n > 1 else []
    times = head[0] + np.concatenate([[0], np.cumsum(deltas)]).astype(np.int64)
    xor = np.frombuffer(raw, np.uint64, n, 8 * min(n, 2) + 8 * max(n - 2, 0))
    return times[:n], np.bitwise_xor.accumulate(xor).view(np.float64)


def dxor_codec(compress: Callable[[bytes], bytes], decompress: Callable[[bytes], bytes],
               shuffle: bool) -> tuple[Encode, Decode]:  # fmt: skip
    def encode(times: np.ndarray, values: np.ndarray) -> bytes:
        raw = _delta_xor(times, values)
        if shuffle:  # byte planes: the zero high bytes of small deltas line up
            raw = np.frombuffer(raw, np.uint8).reshape(-1, 8).T.tobytes()
        return bytes(compress(raw))

    def decode(blob: bytes, n: int) -> Chunk:
        raw = bytes(decompress(blob))
        if shuffle:
            raw = np.frombuffer(raw, np.uint8).reshape(8, -1).T.tobytes()
        return _undo_delta_xor(raw, n)

    return encode, decode


def blosc2_codec() -> tuple[Encode, Decode]:
    import blosc2  # the `bench` extra: pip install -c constraints.txt -e '.[bench]'

    times_params = {"codec": blosc2.Codec.ZSTD, "clevel": 9, "typesize": 8,
                    "filters": [blosc2.Filter.DELTA, blosc2.Filter.BITSHUFFLE]}  # fmt: skip
    values_params = {"codec": blosc2.Codec.ZSTD, "clevel": 9, "typesize": 8,
                     "filters": [blosc2.Filter.BYTEDELTA, blosc2.Filter.SHUFFLE]}  # fmt: skip

    def encode(times: np.ndarray, values: np.ndarray) -> bytes:
        t = blosc2.compress2(times.tobytes(), **times_params)
        v = blosc2.compress2(values.tobytes(), **values_params)
        return len(t).to_bytes(4, "little") + t + v

    def decode(blob: bytes, n: int) -> Chunk:
        size = int.from_bytes(blob[:4], "little")
        times = np.frombuffer(blosc2.decompress2(blob[4 : 4 + size]), np.int64)
        return times, np.frombuffer(blosc2.decompress2(blob[4 + size :]), np.float64)

    return encode, decode


CANDIDATES: dict[str, tuple[Encode, Decode]] = {
    "pcodec level 8 (default)": pco_codec(8),
    "pcodec level 4": pco_codec(4),
    "pcodec level 12": pco_codec(12),
    "numpy dod/XOR + zstd 3 (cramjam)": dxor_codec(
        lambda b: cramjam.zstd.compress(b, level=3), cramjam.zstd.decompress, shuffle=False
    ),
    "numpy dod/XOR + byte shuffle + zstd 19": dxor_codec(
        lambda b: cramjam.zstd.compress(b, level=19), cramjam.zstd.decompress, shuffle=True
    ),
    "numpy dod/XOR + byte shuffle + lz4": dxor_codec(
        cramjam.lz4.compress_block, cramjam.lz4.decompress_block, shuffle=True
    ),
}
try:
    CANDIDATES["blosc2 delta+bitshuffle / bytedelta+shuffle, zstd 9"] = blosc2_codec()
except ImportError:
    print("blosc2 not installed (pip install -c constraints.txt -e '.[bench]'): not measured")


def chunks(hosts: int, hours: float, window_hours: float) -> list[Chunk]:
    count = int(hours * 3_600_000 / INTERVAL_MS)
    window_ms = int(window_hours * 3_600_000)
    start = 1_700_000_000_000 - 1_700_000_000_000 % window_ms
    out = []
    for host in range(hosts):
        for series in host_series(f"bench-host-{host:03d}", start, count, seed=host):
            edges = np.arange(start, start + count * INTERVAL_MS + window_ms, window_ms)
            bounds = np.searchsorted(series.times_ms, edges)
            for lo, hi in itertools.pairwise(bounds):
                if hi > lo:
                    out.append((series.times_ms[lo:hi].copy(), series.values[lo:hi].copy()))
    return out


def measure(name: str, codec: tuple[Encode, Decode], data: list[Chunk]) -> dict[str, object]:
    encode, decode = codec
    samples = sum(len(t) for t, _ in data)
    best_enc = best_dec = float("inf")
    blobs: list[bytes] = []
    for _ in range(3):
        began = time.process_time()
        blobs = [encode(t, v) for t, v in data]
        best_enc = min(best_enc, time.process_time() - began)
        began = time.process_time()
        decoded = [decode(b, len(t)) for b, (t, _) in zip(blobs, data, strict=True)]
        best_dec = min(best_dec, time.process_time() - began)
    exact = all(
        np.array_equal(t, dt) and v.tobytes() == np.asarray(dv, np.float64).tobytes()
        for (t, v), (dt, dv) in zip(data, decoded, strict=True)
    )
    per_chunk = [len(b) / len(t) for b, (t, _) in zip(blobs, data, strict=True)]
    return {
        "name": name,
        "bytes_per_sample": sum(map(len, blobs)) / samples,
        "median_chunk": statistics.median(per_chunk),
        "encode_us": best_enc / samples * 1e6,
        "decode_us": best_dec / samples * 1e6,
        "exact": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--window-hours", type=float, default=2.0)
    args = parser.parse_args()
    data = chunks(args.hosts, args.hours, args.window_hours)
    samples = sum(len(t) for t, _ in data)
    print(f"{len(data)} chunks, {samples:,} samples; load average {os.getloadavg()[0]:.2f}")
    print(f"{'codec':52} {'B/sample':>8} {'median':>7} {'enc µs':>7} {'dec µs':>7}  exact")
    for name, codec in CANDIDATES.items():
        r = measure(name, codec, data)
        print(f"{name:52} {r['bytes_per_sample']:8.3f} {r['median_chunk']:7.3f} "
              f"{r['encode_us']:7.3f} {r['decode_us']:7.3f}  {r['exact']}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

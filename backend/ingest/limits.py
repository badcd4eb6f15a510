"""What every ingest path refuses, shared by the translators: the pure checks and the bounded
decompressors. Errors name the offending field path so a sender can fix its payload."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import cramjam


class IngestError(Exception):
    """A request the backend refuses as a whole; the router answers `status` with `detail`."""

    def __init__(self, status: int, detail: str, reason: str = "invalid") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason  # a short metric label for the rejected-requests counter


def bad_request(detail: str) -> IngestError:
    return IngestError(400, detail, "malformed")


def unprocessable(detail: str) -> IngestError:
    return IngestError(422, detail, "invalid")


def too_large(detail: str) -> IngestError:
    return IngestError(413, detail, "too_large")


def unsupported(detail: str) -> IngestError:
    return IngestError(415, detail, "unsupported_encoding")


MAX_AGE_MS = 30 * 24 * 3600 * 1000  # the longest raw retention ingest accepts data for


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_body_bytes: int = 10 * 1024 * 1024  # applies to the body as sent AND after decompression
    max_labels: int = 64
    max_name_length: int = 256
    max_label_value_length: int = 2048
    max_future_ms: int = 10 * 60 * 1000  # clocks drift; ten minutes ahead is already suspicious
    # Nothing older than the storage horizon: rollups and partitions past it are never read.
    max_age_ms: int = MAX_AGE_MS


def check_time(time_ms: int, now_ms: int, limits: IngestLimits, where: str) -> None:
    if time_ms > now_ms + limits.max_future_ms:
        raise unprocessable(
            f"{where}: timestamp {time_ms} ms is more than "
            f"{limits.max_future_ms // 1000}s in the future"
        )
    if time_ms < now_ms - limits.max_age_ms:
        raise unprocessable(
            f"{where}: timestamp {time_ms} ms is older than the retention horizon "
            f"({limits.max_age_ms // 86_400_000} days)"
        )


def check_text(text: str, where: str) -> None:
    # PostgreSQL text and jsonb cannot hold NUL; anything else (quotes, unicode) is kept verbatim.
    if "\x00" in text:
        raise unprocessable(f"{where}: contains a NUL character")


def unstorable(text: str) -> str | None:
    """Why PostgreSQL could not store `text` (a NUL; an unpaired UTF-16 surrogate, which has no
    UTF-8 form), or None."""
    if "\x00" in text:
        return "contains a NUL character"
    # json.loads joins valid surrogate pairs, so any surrogate left is unpaired.
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "contains an unpaired UTF-16 surrogate (not valid Unicode)"
    return None


Location = tuple[str | int, ...]


def find_unstorable(value: object, loc: Location = ()) -> tuple[Location, str] | None:
    """The first string (value or object key) of a decoded JSON document that cannot be stored,
    with its path, or None."""
    if isinstance(value, str):
        problem = unstorable(value)
        return (loc, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable(key)
            if problem:
                return (*loc, key), f"name {problem}"
            found = find_unstorable(item, (*loc, key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_unstorable(item, (*loc, index))
            if found:
                return found
    return None


def check_name(name: str, limits: IngestLimits, where: str) -> None:
    if not name:
        raise unprocessable(f"{where}: metric name is empty")
    if len(name) > limits.max_name_length:
        raise unprocessable(f"{where}: metric name longer than {limits.max_name_length} characters")
    check_text(name, where)


def labels_within(labels: Mapping[str, str], limits: IngestLimits) -> bool:
    """The common case in a few C-speed passes; check_labels explains only when this is False."""
    if not labels:
        return True
    return (
        len(labels) <= limits.max_labels
        and max(map(len, labels)) <= limits.max_name_length
        and min(map(len, labels)) > 0
        and max(map(len, labels.values())) <= limits.max_label_value_length
        and "\x00" not in "".join(labels)
        and "\x00" not in "".join(labels.values())
    )


def check_labels(labels: Mapping[str, str], limits: IngestLimits, where: str) -> None:
    if labels_within(labels, limits):
        return
    if len(labels) > limits.max_labels:
        raise unprocessable(
            f"{where}: {len(labels)} labels, more than the limit of {limits.max_labels}"
        )
    for name, value in labels.items():
        if not name:
            raise unprocessable(f"{where}: empty label name")
        if len(name) > limits.max_name_length:
            raise unprocessable(
                f"{where}: label name {name[:40]!r}... longer than {limits.max_name_length}"
            )
        if len(value) > limits.max_label_value_length:
            raise unprocessable(
                f"{where}.{name}: label value longer than {limits.max_label_value_length}"
            )
        check_text(name, f"{where}: label name")
        check_text(value, f"{where}.{name}")


def gunzip_limited(data: bytes, max_bytes: int) -> bytes:
    """Inflate gzip without ever holding more than `max_bytes` of output (gzip bombs → 413)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise bad_request(f"body: corrupt gzip ({exc})") from exc
    if len(out) > max_bytes:
        raise too_large(f"body: more than {max_bytes} bytes after gzip decompression")
    if not inflater.eof:
        raise bad_request("body: truncated gzip stream")
    return out


def snappy_unblock_limited(data: bytes, max_bytes: int) -> bytes:
    """Snappy block format; its header states the output size, checked BEFORE decompressing."""
    try:
        size = int(cramjam.snappy.decompress_raw_len(data))
    except Exception as exc:  # cramjam raises its own DecompressionError or ValueError
        raise bad_request(f"body: corrupt snappy block ({exc})") from exc
    if size > max_bytes:
        raise too_large(f"body: snappy block declares {size} bytes, more than {max_bytes}")
    try:
        return bytes(cramjam.snappy.decompress_raw(data))
    except Exception as exc:
        raise bad_request(f"body: corrupt snappy block ({exc})") from exc


def decode_content_encoding(data: bytes, encoding: str | None, max_bytes: int) -> bytes:
    value = (encoding or "identity").strip().lower()
    if value in ("", "identity"):
        return data
    if value in ("gzip", "x-gzip"):
        return gunzip_limited(data, max_bytes)
    raise unsupported(f"Content-Encoding: {value!r} is not supported (gzip or identity)")

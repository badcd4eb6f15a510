"""Scraping Prometheus-format targets: a pure exposition parser plus the `Scraper` loop around it.

Each target records `up` (1/0) and `scrape_duration_seconds` like Prometheus does; every sample gets
the target's `instance` label (host:port) so two exporters on one host stay distinct series.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from backend.model import IngestBatch, Overloaded, Sample, SampleSink

log = logging.getLogger(__name__)

MAX_SCRAPE_BYTES = 10 * 1024 * 1024
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # the classic text format the parser reads


class ScrapeTargetLike(Protocol):
    """What the Scraper reads of `backend.settings.ScrapeTarget`."""

    @property
    def url(self) -> str: ...
    @property
    def interval(self) -> float: ...
    @property
    def timeout(self) -> float: ...
    @property
    def host(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    url: str
    host: str
    up: bool
    duration_seconds: float
    samples: int
    error: str | None = None


def instance_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


class ExpositionError(ValueError):
    """A target's answer is not the Prometheus text format; the message says where."""


def parse_exposition(text: str, *, host: str, instance: str, time_ms: int) -> list[Sample]:
    """Samples of a text exposition; NaN/Inf values are skipped (the sample model is finite).
    ExpositionError on anything prometheus-client's parser cannot read (whatever it raised)."""
    samples = []
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if not math.isfinite(sample.value):
                    continue
                labels = {**sample.labels, "instance": instance}
                at = (
                    int(float(sample.timestamp) * 1000) if sample.timestamp is not None else time_ms
                )
                samples.append(Sample(host, sample.name, labels, at, float(sample.value)))
    except Exception as exc:  # the parser raises ValueError, but also IndexError, KeyError...
        raise ExpositionError(
            f"not valid Prometheus text format: {type(exc).__name__}: {exc}"
        ) from exc
    return samples


def health_samples(
    *, host: str, instance: str, time_ms: int, up: bool, duration: float
) -> list[Sample]:
    labels = {"instance": instance}
    return [
        Sample(host, "up", labels, time_ms, 1.0 if up else 0.0),
        Sample(host, "scrape_duration_seconds", labels, time_ms, duration),
    ]


async def _fetch(client: httpx.AsyncClient, url: str) -> str:
    async with client.stream("GET", url, headers={"Accept": ACCEPT}) as response:
        response.raise_for_status()
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_SCRAPE_BYTES:
                raise ValueError(f"scrape body larger than {MAX_SCRAPE_BYTES} bytes")
        return body.decode(response.encoding or "utf-8", errors="replace")


class Scraper:
    """Scrapes each target every `interval` (with `timeout`) and hands samples to `sink`."""

    def __init__(
        self,
        targets: list[ScrapeTargetLike],
        sink: SampleSink,
        *,
        on_result: Callable[[ScrapeResult], Awaitable[None] | None] | None = None,
    ) -> None:
        self._targets = list(targets)
        self._sink = sink
        self._on_result = on_result
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=True)
        self._tasks = [
            asyncio.create_task(self._loop(target), name=f"scrape {target.url}")
            for target in self._targets
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _loop(self, target: ScrapeTargetLike) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.scrape_once(target)
            next_at += target.interval
            # After a long stall, skip missed slots instead of scraping in a burst.
            next_at = max(next_at, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def scrape_once(self, target: ScrapeTargetLike) -> ScrapeResult:
        assert self._client is not None, "start() the Scraper first"
        instance = instance_of(target.url)
        host = target.host or instance
        time_ms = int(time.time() * 1000)
        started = time.perf_counter()
        samples: list[Sample] = []
        error = None
        try:
            async with asyncio.timeout(target.timeout):  # the whole scrape, not each read
                text = await _fetch(self._client, target.url)
            samples = parse_exposition(text, host=host, instance=instance, time_ms=time_ms)
        except TimeoutError:
            error = f"timed out after {target.timeout}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # any parser failure on a target's text means `up` 0, not a crash
            error = f"unparseable exposition: {exc}"[:500]
        duration = time.perf_counter() - started
        samples += health_samples(
            host=host, instance=instance, time_ms=time_ms, up=error is None, duration=duration
        )
        try:
            await self._sink.accept(IngestBatch(protocol="scrape", samples=samples))
        except Overloaded:
            log.warning("scrape of %s dropped: writer queue full", target.url)
        except Exception:  # one failing write must not end the target's loop
            log.exception("scrape of %s could not be stored", target.url)
        result = ScrapeResult(target.url, host, error is None, duration, len(samples), error)
        if self._on_result is not None:
            outcome = self._on_result(result)
            if outcome is not None:
                await outcome
        return result

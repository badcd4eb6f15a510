"""Concurrent requests sharing one Redis round trip.

While one round trip is in flight, newer requests queue; when it returns, everything queued goes
together in the next one. With few requests each goes at once (no added delay); under load a
round trip serves many, which is where most of the per-request Redis cost went.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class SharedRoundTrip(Generic[Item, Result]):
    """`await shared(items)` → one result per item, from `send(all queued items)`.

    `send` returns one result per item and should not raise (turn a Redis failure into
    fallback results); if it does, every caller of that round trip gets the exception.
    `on_abandoned(items, results)` runs for a caller that was cancelled meanwhile (e.g. to
    undo a claim nobody will use)."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[list[Result]]],
        *,
        name: str,
        on_abandoned: Callable[[Sequence[Item], list[Result]], Awaitable[None]] | None = None,
    ) -> None:
        self._send = send
        self._name = name
        self._on_abandoned = on_abandoned
        self._waiting: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Callers queued for the next round trip."""
        return len(self._waiting)

    async def __call__(self, items: Sequence[Item]) -> list[Result]:
        done: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, done))
        if self._flusher is None or self._flusher.done():
            # Its own task: a cancelled request must not strand the ones waiting behind it.
            self._flusher = asyncio.create_task(self._flush_waiting(), name=self._name)
        return await done

    async def _flush_waiting(self) -> None:
        while self._waiting:
            callers, self._waiting = self._waiting, []
            try:
                results = await self._send([item for items, _ in callers for item in items])
            except Exception as exc:
                for _, done in callers:
                    if not done.done():
                        done.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutdown): nobody will answer the callers
                for _, done in callers:
                    done.cancel()
                raise
            start = 0
            for items, done in callers:
                mine = results[start : start + len(items)]
                start += len(items)
                if not done.done():
                    done.set_result(mine)
                elif self._on_abandoned is not None:
                    await self._on_abandoned(items, mine)

"""services: background jobs stop with the stack, and one that will not stop does not hang it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from backend import services


async def test_a_background_job_is_cancelled_when_the_stack_closes() -> None:
    stopped = asyncio.Event()

    async def job() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    async with contextlib.AsyncExitStack() as stack:
        services._in_background(stack, "waiting-job", job())
        await asyncio.sleep(0)
    assert stopped.is_set()


async def test_a_job_that_ignores_its_cancellation_does_not_hang_shutdown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Such a job is a bug (the sealing job once swallowed its CancelledError and ran on, so the
    # server never exited on SIGTERM); shutdown must still finish and name the job.
    monkeypatch.setattr(services, "_JOB_STOP_SECONDS", 0.2)

    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await released.wait()

    async with asyncio.timeout(5):
        async with contextlib.AsyncExitStack() as stack:
            services._in_background(stack, "stubborn-job", stubborn())
            await asyncio.sleep(0)
    assert "stubborn-job did not stop" in caplog.text
    released.set()  # let it end, so that no task outlives the test
    await asyncio.sleep(0)

"""Once-only jobs on a real PostgreSQL: one runner at a time, a takeover when the holder stops or
loses its connection, and the job cancelled in a holder that lost it."""

from __future__ import annotations

import asyncio

import asyncpg

from backend.leadership import Leadership, run_as_the_only_one
from tests.backend.running import wait_for


class CountingJob:
    def __init__(self) -> None:
        self.running = 0
        self.started = 0
        self.cancelled = 0

    async def __call__(self) -> None:
        self.running += 1
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1


async def test_one_runner_and_a_takeover_when_the_holder_stops(database_url: str) -> None:
    jobs = [CountingJob(), CountingJob()]
    leads = [Leadership("test-job"), Leadership("test-job")]
    tasks = [
        asyncio.create_task(run_as_the_only_one(database_url, lead, job, retry_interval=0.1))
        for lead, job in zip(leads, jobs, strict=True)
    ]
    try:

        async def one_runs() -> bool:
            return sum(job.running for job in jobs) == 1

        await wait_for(one_runs, what="one job to run")
        await asyncio.sleep(0.5)  # several retries of the other runner
        assert sum(job.running for job in jobs) == 1
        assert [lead.held for lead in leads] == [job.running == 1 for job in jobs]
        holder = 0 if jobs[0].running else 1
        tasks[holder].cancel()
        await asyncio.gather(tasks[holder], return_exceptions=True)
        other = 1 - holder

        async def taken_over() -> bool:
            return jobs[other].running == 1

        await wait_for(taken_over, within=5, what="the other runner to take over")
        assert jobs[holder].running == 0
        assert jobs[holder].cancelled == 1
        assert not leads[holder].held
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_holder_that_loses_its_connection_stops_the_job(database_url: str) -> None:
    job = CountingJob()
    lead = Leadership("test-job")
    task = asyncio.create_task(run_as_the_only_one(database_url, lead, job, retry_interval=0.1))
    admin = await asyncpg.connect(database_url)
    try:

        async def running() -> bool:
            return job.running == 1

        await wait_for(running, what="the job to run")
        terminated = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
            " WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())"
        )
        assert terminated == 1

        async def restarted() -> bool:
            return job.cancelled == 1 and job.started == 2 and job.running == 1

        await wait_for(restarted, within=5, what="the job to stop, reconnect and start again")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await admin.close()
    assert job.running == 0

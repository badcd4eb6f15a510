"""An accepted batch into Redis in one EVALSHA: each host's window entry stored (and the window
trimmed) and its report summary stored, the live bundle, the summary bundle and the alert feed
message published. Each Redis round trip costs the
worker ~0.1-0.3 ms of CPU, more than the rest of this step, so it is one script for all of it."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from backend.alerts.feed import AlertFeed, encode_feed_message
from backend.fanout.host_split import split_by_host
from backend.live.messages import encode_live_bundle
from backend.live.redis_bridge import LiveChannel
from backend.live.summary import encode_summaries, join_summary_bundle
from backend.model import IngestBatch
from backend.storage.redis_window import RecentWindow, encode_window_entry

# KEYS: the window key of each of the batch's n hosts, then the hosts index, then the summaries
#   hash (host -> its latest report summary).
# ARGV[1..5]: `RecentWindow.trim_args()`: window cutoff ("(ms"), window key TTL (ms), now (ms),
#   hosts index cutoff ("(ms"), hosts index TTL (ms).
# ARGV[6..5+4n]: per host, in KEYS order: its newest time (ms), its window entry, its name, its
#   report summary.
# ARGV[6+4n..]: (channel, message) pairs to publish.
# Returns, per pair, how many subscribers received the message.
_STORE_AND_PUBLISH = """
local n = #KEYS - 2
local hosts = KEYS[n + 1]
local summaries = KEYS[n + 2]
for i = 1, n do
  local at = 2 + 4 * i
  redis.call('ZADD', KEYS[i], ARGV[at], ARGV[at + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
  redis.call('ZADD', hosts, 'GT', ARGV[3], ARGV[at + 2])
  redis.call('HSET', summaries, ARGV[at + 2], ARGV[at + 3])
end
local gone = redis.call('ZRANGEBYSCORE', hosts, '-inf', ARGV[4], 'LIMIT', 0, 1000)
for k = 1, #gone do
  redis.call('HDEL', summaries, gone[k])
end
redis.call('ZREMRANGEBYSCORE', hosts, '-inf', ARGV[4])
redis.call('PEXPIRE', hosts, ARGV[5])
redis.call('PEXPIRE', summaries, ARGV[5])
local received = {}
for j = 6 + 4 * n, #ARGV, 2 do
  received[#received + 1] = redis.call('PUBLISH', ARGV[j], ARGV[j + 1])
end
return received
"""


class RecentAndLive:
    """The recent window and the fleet's latest summaries, the live and summary channels (when
    given: only while someone listens) and the alert feed (when given) for each accepted batch;
    raises RedisError (or OSError) when Redis is away."""

    def __init__(
        self,
        redis: aioredis.Redis,
        window: RecentWindow,
        *,
        live: LiveChannel | None = None,
        summary: LiveChannel | None = None,
        alert_feed: AlertFeed | None = None,
    ) -> None:
        self._window = window
        self._live = live
        self._summary = summary
        self._alert_feed = alert_feed
        self._script = redis.register_script(_STORE_AND_PUBLISH)

    async def add(self, batch: IngestBatch) -> None:
        feed = self._alert_feed
        split = split_by_host(batch, feed.wanted.watches if feed is not None else {})
        if not split.hosts:
            return
        window = self._window
        keys = [window.host_key(host) for host in split.hosts]
        keys += (window.hosts_key, window.summaries_key)
        args: list[str | int | bytes] = [*window.trim_args()]
        accepted_ms = int(time.time() * 1000)
        summaries = encode_summaries(split, accepted_ms)
        for host, part in split.hosts.items():
            args += (part.newest_ms, encode_window_entry(part), host, summaries[host])
        live = self._live if self._live is not None and self._live.wanted() else None
        if live is not None:
            args += (live.channel, encode_live_bundle(split, accepted_ms))
        summary = self._summary if self._summary is not None and self._summary.wanted() else None
        if summary is not None:
            args += (summary.channel, join_summary_bundle(summaries.values()))
        message = encode_feed_message(split) if feed is not None else None
        if feed is not None and message is not None:
            args += (feed.channel, message)
        received = await self._script(keys=keys, args=args)
        if live is not None:
            live.delivered(int(received[0]))
        if summary is not None:
            summary.delivered(int(received[1 if live is not None else 0]))

"""JSON push to the HostPulse backend: a bounded buffer, a sender thread, retries with backoff.

The collection thread only encodes and buffers (`submit`); the sender thread POSTs the oldest
reports, up to `max_batch` per request, and acks them on 2xx. Network errors, 408, 429 and 5xx keep
the reports and retry in order with exponential backoff and full jitter, or after `Retry-After`.
Any other 4xx will never succeed: that batch is dropped, counted and logged once.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal

from exporter.agent_health import AgentHealth
from exporter.host_identity import new_instance_id
from exporter.json_report import AgentInfo, encode_batch, encode_report
from exporter.model import Snapshot
from exporter.options import JsonPushOptions
from exporter.report_buffer import ReportBuffer
from exporter.spool import BufferedReport, Spool, SpoolState

if TYPE_CHECKING:
    import ssl

log = logging.getLogger(__name__)

RETRY_AFTER_CAP_SECONDS = 3600.0  # never park the sender for longer than this on a server's word
_RETRYABLE_STATUS = {408, 429}


@dataclass(frozen=True, slots=True)
class SendOutcome:
    kind: Literal["sent", "retry", "refused"]
    detail: str
    retry_after: float | None = None
    status: int | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), RETRY_AFTER_CAP_SECONDS)
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, when - now), RETRY_AFTER_CAP_SECONDS)


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(maximum, initial * 2**attempt)] (AWS's recommended form)."""
    ceiling = min(maximum, initial * 2 ** min(attempt, 62))
    return rng.uniform(0.0, ceiling)


_CLIENT_CERT_HINT = (
    "; over TLS this is how a backend refuses a missing or untrusted client certificate "
    "(json_push.client_cert, json_push.client_key)"
)


def _failure_detail(exc: BaseException, tls: bool) -> str:
    """What went wrong, in words that say what to do for TLS failures."""
    import ssl

    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (
            f"TLS: the backend's certificate is not trusted ({reason.verify_message}); "
            "set json_push.ca_file to the CA that signed it"
        )
    if isinstance(reason, ssl.SSLError):
        return f"TLS: {reason.reason or reason}{_CLIENT_CERT_HINT}"
    detail = str(reason) or type(exc).__name__
    if tls and isinstance(reason, http.client.RemoteDisconnected | ConnectionResetError):
        # TLS 1.3 checks the client's certificate after the handshake: the client only sees
        # the connection end.
        detail += _CLIENT_CERT_HINT
    return detail


def post_batch(
    url: str, token: str, body: bytes, timeout: float, context: ssl.SSLContext | None = None
) -> SendOutcome:
    """One POST; classifies the answer. Never raises for network or HTTP errors.

    `context`: the TLS context for https:// URLs (None: the system's trusted CAs)."""
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is validated in config
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "User-Agent": "hostpulse-exporter",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            response.read()
            return SendOutcome("sent", f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        with exc:
            retry_after = parse_retry_after(exc.headers.get("Retry-After"), time.time())
            if exc.code in _RETRYABLE_STATUS or exc.code >= 500:
                return SendOutcome("retry", f"HTTP {exc.code}", retry_after, exc.code)
            return SendOutcome("refused", f"HTTP {exc.code}", status=exc.code)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, reset, timeout
        return SendOutcome("retry", _failure_detail(exc, url.startswith("https://")))


class JsonPushSink:
    """The `json_push` output (see the module docstring)."""

    name = "json_push"

    def __init__(
        self,
        config: JsonPushOptions,
        *,
        health: AgentHealth,
        agent_version: str,
        rng: random.Random | None = None,
    ) -> None:
        if config.token is None:
            raise ValueError("json_push.token is required")
        self._config = config
        self._token = config.token.get_secret_value()
        self._health = health
        self._agent_version = agent_version
        self._rng = rng or random.Random()
        self._spool = Spool(config.spool_dir) if config.spool_dir is not None else None
        self._buffer = ReportBuffer(config.buffer_capacity, self._spool)
        self._instance_id = new_instance_id()
        self._last_seq = 0
        self._stop = threading.Event()  # the sender must end now
        self._closing = threading.Event()  # no more submits: flush, then end
        self._wake = threading.Event()  # cuts a backoff short (shutdown tries once more at once)
        self._flush_deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._in_outage = False
        self._overflow_logged = False
        self._refusal_logged: str | None = None
        self._batch_limit = config.max_batch  # halved when the backend says 413 (too large)
        self._tls: ssl.SSLContext | None = None
        if config.url.startswith("https://"):
            from exporter.tls_files import client_context

            self._tls = client_context(
                "json_push", config.ca_file, config.client_cert, config.client_key
            )

    @property
    def agent(self) -> AgentInfo:
        return AgentInfo(version=self._agent_version, instance_id=self._instance_id)

    def start(self) -> None:
        if self._spool is not None:
            self._recover_spool(self._spool)
        self._thread = threading.Thread(target=self._send_loop, name="json-push", daemon=True)
        self._thread.start()

    def submit(self, snapshot: Snapshot) -> None:
        if self._closing.is_set():
            return
        self._last_seq += 1
        report = BufferedReport(self._last_seq, encode_report(snapshot, self._last_seq))
        # No file I/O here: with a spool, the sender's thread writes the report (`_persist`).
        self._note_drops(self._buffer.put(report))
        self._health.set_buffered(len(self._buffer))

    def shutdown(self, deadline_seconds: float) -> None:
        """Stop taking reports, send what is buffered until the deadline, then stop the sender."""
        self._flush_deadline = time.monotonic() + max(0.0, deadline_seconds)
        self._closing.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline_seconds))
            self._stop.set()
            self._interrupt()
            self._thread.join(timeout=self._config.timeout + 1.0)
        self._persist()  # whatever the sender had not written yet
        left = len(self._buffer)
        if left:
            where = "kept in the spool" if self._spool is not None else "lost"
            log.warning(
                f"shutdown deadline reached with reports unsent ({where})",
                extra={"fields": {"reports": left}},
            )
        if self._spool is not None:
            self._spool.close()

    def _recover_spool(self, spool: Spool) -> None:
        spool.open()
        state = spool.read_state()
        pending = spool.load()
        if state is not None:
            self._instance_id = state.instance_id
            self._last_seq = state.last_seq
        if pending:
            self._last_seq = max(self._last_seq, pending[-1].seq)
        dropped = self._buffer.restore(pending)
        self._note_drops(dropped)
        if spool.corrupt_skipped:  # a torn or damaged file: counted with the dropped reports
            self._health.add_dropped(spool.corrupt_skipped)
            log.warning(
                "dropped unreadable spool files (set aside as *.corrupt)",
                extra={
                    "fields": {"reports": spool.corrupt_skipped, "spool_dir": str(spool.directory)}
                },
            )
        self._health.set_buffered(len(self._buffer))
        spool.write_state(SpoolState(self._instance_id, self._last_seq))
        if pending:
            log.info(
                "resending reports from the spool",
                extra={"fields": {"reports": len(pending) - dropped, "last_seq": self._last_seq}},
            )

    def _note_drops(self, dropped: int) -> None:
        if not dropped:
            return
        self._health.add_dropped(dropped)
        if not self._overflow_logged:
            log.warning(
                "push buffer full: dropping the oldest reports until the backend catches up",
                extra={"fields": {"capacity": self._buffer.capacity, "url": self._config.url}},
            )
            self._overflow_logged = True

    def _interrupt(self) -> None:
        self._wake.set()
        self._buffer.wake()

    def _persist(self) -> None:
        """With a spool: write the reports that are only in memory (the sender's thread)."""
        if self._spool is not None:
            self._buffer.persist(lambda: SpoolState(self._instance_id, self._last_seq))

    def _pause(self, seconds: float) -> None:
        """Wait `seconds` or until woken; with a spool, new reports are written meanwhile."""
        ends_at = time.monotonic() + seconds
        while not self._wake.is_set():
            remaining = ends_at - time.monotonic()
            if remaining <= 0:
                break
            if self._spool is None:
                self._wake.wait(remaining)
            elif self._buffer.wait_for_unpersisted(remaining, self._wake):
                self._persist()
        self._wake.clear()

    def _send_loop(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            if not self._buffer.wait_for_reports(timeout=0.2):
                if self._closing.is_set():
                    return  # flushed
                continue
            if self._flush_deadline - time.monotonic() <= 0:
                return
            try:
                self._persist()  # before sending: a seq the backend may see is on disk
                delay = self._send_oldest(attempt)
            except Exception:  # a bug here must not silently end all sending
                log.exception("unexpected error in the JSON push sender")
                delay = self._config.backoff_max
            if delay is None:
                attempt = 0
                continue
            attempt += 1
            self._pause(min(delay, max(0.0, self._flush_deadline - time.monotonic())))

    def _send_oldest(self, attempt: int) -> float | None:
        """POST the oldest batch; None once it is settled, else the seconds to wait to retry."""
        remaining = self._flush_deadline - time.monotonic()
        batch = self._buffer.peek(self._batch_limit)
        if not batch:
            return None  # nothing persisted to send yet (a shutdown is writing the spool)
        body = encode_batch(self.agent, [report.body for report in batch])
        outcome = post_batch(
            self._config.url, self._token, body, min(self._config.timeout, remaining), self._tls
        )
        if outcome.kind == "retry":
            self._health.add_send_failure()
            self._note_outage(outcome, len(self._buffer))
            if outcome.retry_after is not None:
                return outcome.retry_after
            return backoff_delay(
                attempt, self._config.backoff_initial, self._config.backoff_max, self._rng
            )
        if outcome.status == 413 and len(batch) > 1:
            self._batch_limit = max(1, len(batch) // 2)
            log.info(
                "backend found the batch too large; sending smaller batches",
                extra={"fields": {"max_batch": self._batch_limit}},
            )
            return None  # resend the same reports at once, in smaller batches
        self._buffer.ack(batch[-1].seq)
        self._health.set_buffered(len(self._buffer))
        if outcome.kind == "sent":
            self._health.add_sent(len(batch))
            self._note_recovery()
        else:
            self._health.add_send_failure()
            self._health.add_dropped(len(batch))
            self._note_refusal(outcome, len(batch))
        return None

    def _note_outage(self, outcome: SendOutcome, buffered: int) -> None:
        if not self._in_outage:
            log.warning(
                "backend unavailable; buffering reports and retrying",
                extra={
                    "fields": {
                        "url": self._config.url,
                        "reason": outcome.detail,
                        "buffered": buffered,
                    }
                },
            )
            self._in_outage = True

    def _note_recovery(self) -> None:
        if self._in_outage:
            log.info(
                "backend reachable again; sending buffered reports",
                extra={"fields": {"url": self._config.url, "buffered": len(self._buffer)}},
            )
        self._in_outage = False
        self._overflow_logged = False
        self._refusal_logged = None

    def _note_refusal(self, outcome: SendOutcome, count: int) -> None:
        if self._refusal_logged != outcome.detail:
            log.error(
                "backend refused reports; dropping them (check the token and the URL)",
                extra={
                    "fields": {"url": self._config.url, "reason": outcome.detail, "reports": count}
                },
            )
            self._refusal_logged = outcome.detail

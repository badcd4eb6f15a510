"""Per-target forwarding figures, read by the self-metrics at scrape time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ForwardStats:
    target: str
    sent_samples: int = 0  # accepted by the target (2xx)
    failed_samples: int = 0  # refused by the target with a 4xx other than 429: never retried
    dropped_samples: int = 0  # never queued or pushed out of the queue: it was full
    retried_samples: int = 0  # samples of requests sent again after a 5xx, 429 or no answer
    # The two below are the queue's, kept by the process that sends for the target (0 elsewhere).
    queue_samples: int = 0
    lag_seconds: float = 0.0  # age of the oldest body still queued
    sending: bool = False  # this process sends for the target

    def is_sending(self) -> bool:
        return self.sending

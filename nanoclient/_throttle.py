"""An adaptive limit on requests in flight, shared by every call of one Client (AIMD).

Uploads and predictions run many requests at once. When the server says it is overloaded
(429 or 503) they must all slow down together, not each on its own fixed backoff:

* a 429 or 503 halves the limit (from the number of requests in flight then, floor 1);
* ``limit`` successes in a row add one back, up to the maximum (additive increase);
* a ``Retry-After`` pauses every new request until that moment, not just the one refused
  (``pause_remaining``: the transport sleeps it before each attempt).

This is TCP's congestion control applied to requests; like it, it needs no knowledge of the
server's real capacity.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class AdaptiveLimit:
    """At most ``limit`` requests in flight; ``acquire`` before a request, ``release`` after it."""

    def __init__(self, maximum: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.maximum = int(maximum)
        self._limit = self.maximum
        self._in_flight = 0
        self._streak = 0  # successes since the limit last changed
        self._pause_until = 0.0
        self._clock = clock
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        with self._cond:
            return self._limit

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        with self._cond:
            return self._in_flight

    def pause_remaining(self) -> float:
        """Seconds left of the pause the last Retry-After asked for (0 when none)."""
        with self._cond:
            return max(0.0, self._pause_until - self._clock())

    def acquire(self) -> None:
        """Wait for a free slot, then take it."""
        with self._cond:
            while self._in_flight >= self._limit:
                self._cond.wait(1.0)
            self._in_flight += 1

    def release(self, *, throttled: bool = False, retry_after: float = 0.0) -> None:
        """Give the slot back: ``throttled`` when the answer was 429 or 503, else a success or other outcome."""
        with self._cond:
            if throttled:
                self._limit = max(1, min(self._limit, self._in_flight) // 2)
                self._streak = 0
                if retry_after > 0:
                    self._pause_until = max(self._pause_until, self._clock() + retry_after)
            else:
                self._streak += 1
                if self._streak >= self._limit and self._limit < self.maximum:
                    self._limit += 1
                    self._streak = 0
            self._in_flight -= 1
            self._cond.notify_all()


__all__ = ["AdaptiveLimit"]

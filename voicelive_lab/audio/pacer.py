"""Pacer: a thread's clock that ticks every ``period`` seconds, as a sound device's does.

A microphone or speaker stand-in that keeps real time wakes once per block. Ticks are due at fixed times
(``start + n * period``) so small delays do not add up; a thread that falls more than ``MAX_CATCH_UP_S``
behind (a suspended laptop, a loaded machine) starts afresh instead of rushing through the missed ticks.
"""

from __future__ import annotations

import threading
import time

MAX_CATCH_UP_S = 1.0


class Pacer:
    """``while (due := pacer.wait()) is not None: ...`` runs once per ``period`` until ``stop`` is set."""

    def __init__(self, period: float, stop: threading.Event, *, first_after: float = 0.0) -> None:
        self.period = period
        self._stop = stop
        self._due = time.monotonic() + first_after

    def wait(self) -> float | None:
        """Sleep until the next tick; return when it was due (time.monotonic()), or None once ``stop`` is set."""
        delay = self._due - time.monotonic()
        if self._stop.wait(delay) if delay > 0 else self._stop.is_set():
            return None
        due = self._due
        self._due += self.period
        if time.monotonic() - self._due > MAX_CATCH_UP_S:
            self._due = time.monotonic()
        return due

"""SilenceWatch: notice a service that stops reacting, so a session ends with a clear message instead of hanging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .audio.pcm import rms
from .states import SessionState

LOUD_BLOCK_RMS = 0.01  # about -40 dBFS: a block this loud is speech the service should notice
CHECK_EVERY_S = 0.25


class SilenceWatch:
    """Two deadlines: a session within ``connect_timeout`` of connecting, and some event from the service
    within ``answer_timeout`` of the learner having spoken (or of the end of their turn)."""

    def __init__(self, endpoint: str, connect_timeout: float, answer_timeout: float, state: Callable[[], str]) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.answer_timeout = answer_timeout
        self._state = state
        self._waiting_since: float | None = None  # when we began waiting for the service to react

    def audio_sent(self, block: bytes) -> None:
        """Speech went out while the session was ready: the server's turn detection should answer soon."""
        if self._waiting_since is None and self._state() == SessionState.READY and rms(block) > LOUD_BLOCK_RMS:
            self._waiting_since = time.monotonic()

    def turn_ended(self) -> None:
        """The state became "processing": a reply is due."""
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()

    def service_reacted(self) -> None:
        self._waiting_since = None

    async def expired(self) -> str:
        """Return, with the message to show, once a deadline has passed."""
        started = time.monotonic()
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            now, waiting_since = time.monotonic(), self._waiting_since
            if self._state() == SessionState.STARTING and now - started > self.connect_timeout:
                return (
                    f"No session after {self.connect_timeout:.0f} s: {self.endpoint} accepted the connection but "
                    "never answered. Check the endpoint (is it a Voice Live resource?) and your network, then "
                    "Start again."
                )
            if waiting_since is not None and now - waiting_since > self.answer_timeout:
                return (
                    f"The service has not reacted for {self.answer_timeout:.0f} s while you were waiting for it, "
                    "so the connection looks stalled. Press Start to open a new session; if it happens again, "
                    "check your network or the service's status."
                )

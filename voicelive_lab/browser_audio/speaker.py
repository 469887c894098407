"""BrowserSpeaker: the page's speaker as an ``AudioOutput`` (reply audio sent to the page as binary buffers)."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..audio.protocols import LostCallback
from .states import WAITING, describe, is_failure
from .widget import BrowserAudio

#: Audio sent this recently that the page has not acknowledged yet still counts as playing.
IN_FLIGHT_S = 2.0
#: The page reports its output level every 100 ms while sound is playing; older reports no longer count.
LEVEL_STALE_S = 0.5
#: A "playing" report this old no longer counts (the page went quiet without saying so).
PLAYING_STALE_S = 1.0


class BrowserSpeaker:
    """Sends 24 kHz mono PCM16 to the page, which plays it through an AudioWorklet queue.

    ``write`` never blocks (it hands a message to the kernel's output thread). ``clear`` makes the page empty
    its queue before its next render block. The page reports playing/idle and its output level, so ``playing``
    and ``level`` follow what is actually heard.
    """

    def __init__(self, widget: BrowserAudio) -> None:
        self.widget = widget
        self.on_lost: LostCallback | None = None
        self._lock = threading.Lock()
        self._started = False
        self._lost_reported = False
        self._state, self._message = "off", ""
        self._last_sent_seq = 0
        self._last_sent_at = 0.0
        self._page_seq = 0
        self._page_playing = False
        self._page_level = 0.0
        self._reported_at = 0.0
        self.chunks_sent = 0
        self.samples_sent = 0
        self.clears = 0
        #: What the page said it received and played (24 kHz samples, since its player started) and flushed.
        self.page_received = 0
        self.page_played = 0
        self.page_flushes = 0

    def __repr__(self) -> str:
        return f"BrowserSpeaker({self.status!r})"

    # ----------------------------------------------------------------- AudioOutput

    def start(self) -> None:
        """Ask the page to get its player ready; returns at once (a missing page ends the session later)."""
        if self._started:
            return
        self.widget._bind(self)
        with self._lock:
            self._started = True
            self._lost_reported = False
            self._state, self._message = "starting", ""
            self._page_playing = False
        self.widget.playback = False
        self.widget.playback = True

    def write(self, pcm: bytes) -> None:
        """Send PCM16 to the page; never blocks."""
        usable = len(pcm) - len(pcm) % 2
        if not self._started or usable == 0:
            return
        seq = self.widget._next_seq()
        with self._lock:
            self._last_sent_seq, self._last_sent_at = seq, time.monotonic()
            self.chunks_sent += 1
            self.samples_sent += usable // 2
        self.widget._send_out({"kind": "audio", "seq": seq}, bytes(pcm[:usable]))

    def clear(self) -> None:
        """Barge-in: the page drops what is queued and stops sounding within one render block."""
        if not self._started:
            return
        with self._lock:
            self.clears += 1
        self.widget._send_out({"kind": "clear", "seq": self.widget._next_seq()})

    def close(self) -> None:
        """Stop the page's player (what is still queued is dropped); safe to call twice; start() may follow."""
        if not self._started:
            return
        self.clear()
        with self._lock:
            self._started = False
            self._page_playing = False
            self._page_level = 0.0
            if not is_failure(self._state):
                self._state, self._message = "off", ""
        self.widget.playback = False
        self.widget._unbind(self)

    @property
    def level(self) -> float:
        """The page's output RMS (0..1), reported every 100 ms while it plays."""
        with self._lock:
            fresh = time.monotonic() - self._reported_at < LEVEL_STALE_S
            return self._page_level if self._page_playing and fresh else 0.0

    @property
    def playing(self) -> bool:
        """True while the page plays, or audio sent in the last ``IN_FLIGHT_S`` has not reached it yet."""
        with self._lock:
            now = time.monotonic()
            in_flight = self._last_sent_seq > self._page_seq and now - self._last_sent_at < IN_FLIGHT_S
            heard = self._page_playing and now - self._reported_at < PLAYING_STALE_S
            return self._started and (heard or in_flight)

    # ----------------------------------------------------------------- what the learner sees

    @property
    def status(self) -> str:
        if is_failure(self._state):
            return describe(self._state, self._message)
        if self.widget.page is None:
            return WAITING
        if not self._started:
            return "ready"
        return describe("playing" if self.playing else self._state)

    @property
    def problem(self) -> str | None:
        return (self._message or describe(self._state)) if is_failure(self._state) else None

    # ----------------------------------------------------------------- from the widget (kernel main thread)

    def _page_output(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "flushed":
            self.page_flushes += 1
            return
        with self._lock:
            self._page_playing = bool(content.get("playing"))
            level = content.get("level")
            self._page_level = float(level) if isinstance(level, (int, float)) else 0.0
            self._reported_at = time.monotonic()
            seq = content.get("seq")
            if isinstance(seq, int):
                self._page_seq = max(self._page_seq, seq)
            for name in ("received", "played"):
                value = content.get(name)
                if isinstance(value, int):
                    setattr(self, f"page_{name}", value)

    def _page_status(self, state: str, message: str) -> None:
        with self._lock:
            self._state, self._message = state, message
        if is_failure(state):
            self._report_lost(message or describe(state))

    def _page_lost(self, message: str) -> None:
        with self._lock:
            if not self._started:
                return
            self._state, self._message = "lost", message
        self._report_lost(message)

    def _report_lost(self, message: str) -> None:
        with self._lock:
            if not self._started or self._lost_reported:
                return
            self._lost_reported = True
        callback = self.on_lost
        if callback is not None:
            callback(message)

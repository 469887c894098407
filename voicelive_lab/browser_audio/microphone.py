"""BrowserMicrophone: the page's microphone as an ``AudioInput`` (24 kHz mono PCM16 frames from the browser)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from ..audio.errors import AudioUnavailable
from ..audio.protocols import LostCallback
from .states import WAITING, describe, is_failure
from .widget import BrowserAudio

log = logging.getLogger(__name__)

MAX_QUEUE_MS = 5000


class BrowserMicrophone:
    """Frames the page captured, handed to the consumer on this microphone's own thread.

    Frames arrive on the kernel's main thread; a bounded queue (``max_queue_ms``, oldest dropped first, counted
    in ``frames_dropped``) sits between it and the consumer, so a slow consumer never holds up the kernel.
    ``status`` says what the page is doing ("waiting for the page", "listening", "denied: …"); ``problem`` holds
    the reason when it cannot work. A failure in the page, or the page going away, calls ``on_lost``.
    """

    def __init__(self, widget: BrowserAudio, *, max_queue_ms: int = MAX_QUEUE_MS) -> None:
        self.widget = widget
        self.on_lost: LostCallback | None = None
        self._max_frames = max(1, max_queue_ms // widget.frame_ms)
        self._frames: deque[bytes] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._state, self._message = "off", ""
        self._lost_reported = False
        self._level = 0.0
        self.frames_received = 0
        self.frames_delivered = 0
        self.frames_dropped = 0

    def __repr__(self) -> str:
        return f"BrowserMicrophone({self.status!r})"

    # ----------------------------------------------------------------- AudioInput

    def start(self, consumer: Callable[[bytes], None]) -> None:
        """Ask the page to capture; returns at once. AudioUnavailable if the page can never capture."""
        if self._thread is not None:
            raise RuntimeError("the browser microphone is already started; close() it first")
        page = self.widget.page
        if page is not None and page.problem is not None:
            self._state, self._message = page.problem
            raise AudioUnavailable(self._message)
        self.widget._bind(self)
        self._state, self._message = "starting", ""
        self._lost_reported = False
        with self._ready:
            self._frames.clear()
            self._stopping = False
        self._thread = threading.Thread(target=self._deliver, args=(consumer,), name="BrowserMicrophone", daemon=True)
        self._thread.start()
        self.widget.capture = False  # a change the page sees even if a stale True is still set
        self.widget.capture = True

    def close(self) -> None:
        """Stop capturing in the page; safe to call twice; start() may follow."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.widget.capture = False
        with self._ready:
            self._stopping = True
            self._frames.clear()
            self._ready.notify_all()
        if thread is not threading.current_thread():
            thread.join()
        self.widget._unbind(self)
        self._level = 0.0
        if not is_failure(self._state):
            self._state, self._message = "off", ""

    @property
    def level(self) -> float:
        """RMS (0..1) of the latest frame, as measured in the page."""
        return self._level

    # ----------------------------------------------------------------- what the learner sees

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def status(self) -> str:
        if is_failure(self._state):
            return describe(self._state, self._message)
        page = self.widget.page
        if page is None:
            return WAITING
        if page.problem is not None:
            return describe(*page.problem)
        return describe(self._state if self.started else "off")

    @property
    def problem(self) -> str | None:
        """Why this microphone cannot work (the page's own words), or None."""
        if is_failure(self._state):
            return self._message or describe(self._state)
        page = self.widget.page
        return page.problem[1] if page is not None and page.problem is not None else None

    # ----------------------------------------------------------------- from the widget

    def _page_frame(self, pcm: bytes, content: dict[str, object]) -> None:
        """A frame from the page (kernel main thread): queue it and return at once."""
        if self._thread is None or len(pcm) % 2:
            return
        rms = content.get("rms")
        self._level = float(rms) if isinstance(rms, (int, float)) else 0.0
        with self._ready:
            if self._stopping:
                return
            if len(self._frames) >= self._max_frames:
                self._frames.popleft()
                self.frames_dropped += 1
            self._frames.append(pcm)
            self.frames_received += 1
            self._ready.notify()
        if self._state != "listening":
            self._state, self._message = "listening", ""

    def _page_status(self, state: str, message: str) -> None:
        self._state, self._message = state, message
        if is_failure(state):
            self._report_lost(message or describe(state))

    def _page_lost(self, message: str) -> None:
        if self._thread is None:
            return
        self._state, self._message = "lost", message
        self._report_lost(message)

    def _report_lost(self, message: str) -> None:
        if self._thread is None or self._lost_reported:
            return
        self._lost_reported = True
        callback = self.on_lost
        if callback is not None:
            callback(message)

    def _deliver(self, consumer: Callable[[bytes], None]) -> None:
        failed = False
        while True:
            with self._ready:
                while not self._frames and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                frame = self._frames.popleft()
            try:
                consumer(frame)
            except Exception:
                if not failed:  # log once: this runs 50 times a second
                    failed = True
                    log.exception("the browser microphone's consumer failed")
            self.frames_delivered += 1

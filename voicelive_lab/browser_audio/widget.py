"""BrowserAudio: the notebook page's microphone and speaker, reached over the widget's comm (anywidget).

The page side (``page_checks.js``, ``page_audio.js``, ``widget.js``, ``worklet.js``) captures and plays; this
side routes what the page sends to the bound :class:`BrowserMicrophone` and :class:`BrowserSpeaker`, decides
which page owns the audio when the notebook is open in more than one tab, and notices when that page goes away.

Threads: page messages arrive on the kernel's main thread or, when the front end uses a kernel subshell
(ipykernel 7 with JupyterLab 4.6 does for widget messages), on that subshell's thread; devices are started,
written to and closed from the session thread; the page watch runs on its own thread while a device is started.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from .kernel_activity import kernel_activity, watch_current_shell
from .page_watch import PageWatch

if TYPE_CHECKING:
    from .microphone import BrowserMicrophone
    from .speaker import BrowserSpeaker

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
#: The front end, one ES module joined from three files (anywidget loads a single module): what the page allows,
#: the page's audio engine, the view. The AudioWorklet code travels separately and is loaded from a Blob URL.
ESM_PARTS = ("page_checks.js", "page_audio.js", "widget.js")
ESM_SOURCE = "\n".join((_HERE / name).read_text(encoding="utf-8") for name in ESM_PARTS)
WORKLET_SOURCE = (_HERE / "worklet.js").read_text(encoding="utf-8")
LOST_AFTER_S = 5.0
PAGE_WAIT_S = 15.0
FORGET_PAGES_AFTER_S = 60.0

#: Called with ("in" | "out", message content, binary payload or None) for every message; for measurements.
Tap = Callable[[str, dict[str, Any], bytes | None], None]


@dataclass
class PageInfo:
    """One browser page showing this widget, as it introduced itself."""

    heard_at: float
    problem: tuple[str, str] | None = None  # (state, message) when the page can never use the microphone
    origin: str = ""
    user_agent: str = ""


class BrowserAudio(anywidget.AnyWidget):
    """A status line and level meters in the page; the page's microphone and speaker for the kernel.

    Display it, then build ``BrowserMicrophone(widget)`` and ``BrowserSpeaker(widget)`` for a session.
    """

    _esm = ESM_SOURCE
    _css = _HERE / "widget.css"
    _worklet = traitlets.Unicode(WORKLET_SOURCE).tag(sync=True)
    _key = traitlets.Unicode("").tag(sync=True)
    #: The page (tab) that captures and plays; other tabs showing the widget stay quiet.
    owner = traitlets.Unicode("").tag(sync=True)
    capture = traitlets.Bool(False).tag(sync=True)
    playback = traitlets.Bool(False).tag(sync=True)
    #: The page also reports when each reply chunk starts playing (for benchmarks).
    trace = traitlets.Bool(False).tag(sync=True)
    frame_ms = traitlets.Int(20).tag(sync=True)

    def __init__(
        self, *, frame_ms: int = 20, lost_after: float = LOST_AFTER_S, page_wait: float = PAGE_WAIT_S, **kwargs: Any
    ) -> None:
        if not 10 <= frame_ms <= 100:
            raise ValueError("frame_ms must be between 10 and 100 milliseconds.")
        super().__init__(_key=uuid.uuid4().hex, frame_ms=frame_ms, **kwargs)
        self.tap: Tap | None = None
        self._lock = threading.RLock()
        self._pages: dict[str, PageInfo] = {}
        self._microphone: BrowserMicrophone | None = None
        self._speaker: BrowserSpeaker | None = None
        self._seq = 0  # numbers the messages to the page, across all the speakers bound in turn
        self._introduced = threading.Event()  # some page owns the audio
        self._page_observers: list[Callable[[], None]] = []
        self._watch = PageWatch(self._owner_heard_at, self._page_gone, lost_after=lost_after, page_wait=page_wait)
        self.on_msg(self._on_page_message)
        watch_current_shell()

    def __repr__(self) -> str:
        return f"BrowserAudio({self.page_status!r})"

    # ----------------------------------------------------------------- what the kernel knows of the page

    @property
    def page(self) -> PageInfo | None:
        """The page that owns the audio, if one has introduced itself."""
        with self._lock:
            return self._pages.get(self.owner)

    @property
    def page_status(self) -> str:
        page = self.page
        if page is None:
            return "waiting for the page"
        return f"page problem: {page.problem[1]}" if page.problem else "page connected"

    def observe_page(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever a page introduces itself or the owning page goes away (on the thread that
        read the page's message)."""
        self._page_observers.append(callback)

    def _tell_page_observers(self) -> None:
        for callback in list(self._page_observers):
            try:
                callback()
            except Exception:  # an observer's bug must not break the audio
                log.exception("BrowserAudio page observer failed")

    def wait_for_page(self, timeout: float) -> bool:
        """Wait until a page owns the audio. Page messages are read only between cells, so waiting inside the
        cell that displayed the widget cannot succeed; this returns at once on the kernel's main thread."""
        if threading.current_thread() is threading.main_thread():
            timeout = 0.0
        return self._introduced.wait(timeout) if timeout > 0 else self._introduced.is_set()

    # ----------------------------------------------------------------- devices (session thread)

    def _bind(self, device: BrowserMicrophone | BrowserSpeaker) -> None:
        from .microphone import BrowserMicrophone

        role = "microphone" if isinstance(device, BrowserMicrophone) else "speaker"
        with self._lock:
            current = self._microphone if role == "microphone" else self._speaker
            if current is not None and current is not device:
                raise RuntimeError(f"This BrowserAudio already has a started {role}; close that one first.")
            if isinstance(device, BrowserMicrophone):
                self._microphone = device
            else:
                self._speaker = device
        self._watch.start()

    def _unbind(self, device: BrowserMicrophone | BrowserSpeaker) -> None:
        with self._lock:
            if self._microphone is device:
                self._microphone = None
            if self._speaker is device:
                self._speaker = None
            idle = self._microphone is None and self._speaker is None
        if idle:
            self._watch.stop()

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _send_out(self, content: dict[str, Any], payload: bytes | None = None) -> None:
        tap = self.tap
        if tap is not None:
            self._call_tap(tap, "out", content, payload)
        self.send(content, buffers=[payload] if payload is not None else None)

    # ----------------------------------------------------------------- page messages (kernel main thread)

    def _on_page_message(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        payload = bytes(buffers[0]) if buffers else None
        tap = self.tap
        if tap is not None:
            self._call_tap(tap, "in", content, payload)
        kind, page, now = content.get("kind"), str(content.get("page", "")), time.monotonic()
        if kind == "hello":
            problem = content.get("problem")
            info = PageInfo(
                heard_at=now,
                problem=(str(problem[0]), str(problem[1])) if isinstance(problem, list) and len(problem) == 2 else None,
                origin=str(content.get("origin", "")),
                user_agent=str(content.get("user_agent", "")),
            )
            with self._lock:
                self._pages[page] = info
            self._claim_if_free(page, now)
            self._tell_page_observers()
            return
        if kind == "bye":
            with self._lock:
                self._pages.pop(page, None)
            if page == self.owner:
                self._page_gone("The browser tab with this notebook was closed or reloaded. Press Start again.")
            return
        with self._lock:
            known = self._pages.get(page)
            if known is None:
                return  # a page this kernel never met (it loaded before a kernel restart): it says hello on reload
            known.heard_at = now
        if self._claim_if_free(page, now):
            self._tell_page_observers()
        if page != self.owner:
            return
        mic, speaker = self._microphone, self._speaker
        if kind == "frame" and payload is not None and mic is not None:
            mic._page_frame(payload, content)
        elif kind == "status":
            device = mic if content.get("device") == "mic" else speaker
            if device is not None:
                device._page_status(str(content.get("state", "")), str(content.get("message", "")))
        elif kind in ("output", "flushed") and speaker is not None:
            speaker._page_output(kind, content)

    def _claim_if_free(self, page: str, now: float) -> bool:
        """Give the audio to ``page`` when no live page holds it (the first tab, or the one that came back).
        True when ``page`` has just become the owner."""
        with self._lock:
            if page == self.owner:
                return False
            holder = self._pages.get(self.owner)
            if (
                holder is not None
                and min(now - holder.heard_at, kernel_activity.free_for(now)) <= self._watch.lost_after
            ):
                return False
            for stale in [key for key, info in self._pages.items() if now - info.heard_at > FORGET_PAGES_AFTER_S]:
                del self._pages[stale]
            previous, self.owner = self.owner, page
        self._introduced.set()
        if previous:
            self._page_gone("The browser page that held the audio went away. Press Start again.", release=False)
        return True

    def _owner_heard_at(self) -> float | None:
        with self._lock:
            holder = self._pages.get(self.owner)
            return holder.heard_at if holder is not None else None

    def _page_gone(self, message: str, *, release: bool = True) -> None:
        """The owning page is gone: tell the started devices (once each) and free the audio for another page."""
        with self._lock:
            if release and self.owner:
                self._pages.pop(self.owner, None)
                self.owner = ""
                self._introduced.clear()
            devices = [d for d in (self._microphone, self._speaker) if d is not None]
        for device in devices:
            device._page_lost(message)
        self._tell_page_observers()

    def close(self) -> None:
        """Close the widget; started devices end their session with a message."""
        self._page_gone("The BrowserAudio widget was closed.")
        self._watch.stop()
        super().close()

    @staticmethod
    def _call_tap(tap: Tap, direction: str, content: dict[str, Any], payload: bytes | None) -> None:
        try:
            tap(direction, content, payload)
        except Exception:  # a broken measurement must not break the audio
            log.exception("BrowserAudio tap failed")

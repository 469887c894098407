"""Noticing that the browser page is gone: no page ever answered, or the page that held the audio went silent.

A closed tab may send nothing to the kernel (a crash, a sleeping laptop), so the page sends a heartbeat every
second and this watch, running while a browser device is started, declares the page lost after a few silent
seconds. Only time in which the kernel was ready to read counts: while a cell or a callback runs, the page's
messages wait unread, and silence then says nothing about the page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .kernel_activity import KernelActivity, kernel_activity

CHECK_EVERY_S = 0.2

#: Returns when the owning page was last heard from (monotonic seconds), or None if no page owns the audio.
HeardAt = Callable[[], float | None]


def page_lost_message(heard: bool, quiet_s: float, lost_after: float, page_wait: float) -> str | None:
    """Why the page counts as lost after ``quiet_s`` seconds in which the kernel could have heard it, or None."""
    if not heard:
        if quiet_s > page_wait:
            return (
                f"No browser page answered within {page_wait:g} s. Display the BrowserAudio widget in this "
                "notebook and keep its tab open (a run without a browser, such as nbconvert or nbval, has no page)."
            )
        return None
    if quiet_s > lost_after:
        return (
            f"The browser page stopped answering for {lost_after:g} s: the tab was closed, reloaded or put to "
            "sleep. Open the notebook again and press Start."
        )
    return None


class PageWatch:
    """A thread that counts the quiet time since the page was last heard and calls ``on_lost`` once when lost."""

    def __init__(
        self,
        heard_at: HeardAt,
        on_lost: Callable[[str], None],
        *,
        lost_after: float,
        page_wait: float,
        activity: KernelActivity = kernel_activity,
    ) -> None:
        self._heard_at = heard_at
        self._on_lost = on_lost
        self.lost_after = lost_after
        self.page_wait = page_wait
        self._activity = activity
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="BrowserAudio-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            if thread is not threading.current_thread():
                thread.join()

    def _run(self) -> None:
        last_heard, quiet, tick = self._heard_at(), 0.0, time.monotonic()
        while not self._stop.wait(CHECK_EVERY_S):
            now, heard = time.monotonic(), self._heard_at()
            if heard != last_heard:
                last_heard, quiet = heard, 0.0
            elif self._activity.ready_to_read():
                quiet += now - tick
            tick = now
            message = page_lost_message(heard is not None, quiet, self.lost_after, self.page_wait)
            if message is not None:
                with self._lock:
                    self._thread = None  # this thread ends here; start() may begin a new one
                self._on_lost(message)
                return

"""Whether the kernel can read widget messages now: while it is busy, messages from the page wait unread.

Widget messages are read on the kernel's main thread, one at a time, between cells and callbacks (or on a
subshell's thread, which a front end may choose). A page that seems silent while a long cell (or a slow button
callback) runs may be fine, so the heartbeat check counts only the time the kernel was surely ready to read: no
cell running, and the main thread waiting in its event loop. That errs towards noticing a closed tab late, never
towards ending a session whose page is still there.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

#: Where the kernel's main thread waits for the next message (asyncio's selector), as (file suffix, function).
_WAITING_FRAMES = (("selectors.py", ""), ("base_events.py", "_run_once"), ("base_events.py", "run_forever"))


class KernelActivity:
    """Follows IPython's ``pre_execute`` / ``post_execute`` events and where the main thread is.

    Outside a kernel (no IPython shell) the kernel never looks busy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running_cells = 0
        self._free_since = time.monotonic()
        self._shell: Any = None
        self._main_thread = threading.main_thread().ident

    def watch(self, shell: Any) -> None:
        """Follow ``shell``'s cell executions; does nothing if already following it."""
        if shell is None or shell is self._shell:
            return
        self._shell = shell
        shell.events.register("pre_execute", self._cell_started)
        shell.events.register("post_execute", self._cell_finished)

    def free_for(self, now: float | None = None) -> float:
        """Seconds since the kernel last became able to read widget messages (0 while a cell runs)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return 0.0 if self._running_cells else now - self._free_since

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running_cells > 0

    def ready_to_read(self) -> bool:
        """True when a page message sent now would be read at once: no cell runs and, in a kernel, the main
        thread is waiting in its event loop (not inside a callback)."""
        if self.busy:
            return False
        if self._shell is None or self._main_thread is None:
            return True
        frame = sys._current_frames().get(self._main_thread)
        if frame is None:
            return True
        code = frame.f_code
        return any(code.co_filename.endswith(file) and name in ("", code.co_name) for file, name in _WAITING_FRAMES)

    def _cell_started(self) -> None:
        with self._lock:
            self._running_cells += 1

    def _cell_finished(self) -> None:
        with self._lock:
            self._running_cells = max(0, self._running_cells - 1)
            self._free_since = time.monotonic()


#: One per kernel process.
kernel_activity = KernelActivity()


def watch_current_shell() -> None:
    """Follow the running IPython kernel's cells, if there is one."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    kernel_activity.watch(get_ipython())

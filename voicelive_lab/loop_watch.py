"""LoopWatch: notice when the learner's code blocks a session's event loop, say where, and set the loop free.

An async handler that calls ``time.sleep`` or spins in a loop stops everything else on its event loop:
audio, events, even Stop. A watchdog thread asks the loop to answer every few milliseconds; when it has
not answered for ``limit_s`` and the loop's thread is inside the learner's code, it reports that line and
raises :class:`LoopBlocked` in that thread. ``time.sleep`` is made interruptible while a watch runs, so a
long sleep ends at once too, rather than when its time is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import sys
import threading
import time
from collections.abc import Callable
from typing import SupportsIndex

from .learner_code import CodeLine, frames_of, learner_line_in_stack

PING_S = 0.05  # how often the watched loop is asked to answer (and how long one nap of a watched sleep is)
_real_sleep = time.sleep
_watching: set[int] = set()  # thread ids of the loops being watched
_patch_lock = threading.Lock()


class LoopBlocked(Exception):
    """Raised inside code that kept the event loop busy too long; its message says where and what to do."""

    message = "Your code blocked the event loop."

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.message


def blocked_message(line: CodeLine, seconds: float) -> str:
    call = "time.sleep" if "sleep(" in line.text and "asyncio.sleep" not in line.text else "this line"
    return (
        f"Your code blocked the event loop for {seconds:.1f} s at {line}. While {call} runs, nothing else can: "
        "no audio, no events, no Stop. In async code wait with `await asyncio.sleep(...)`, and never loop "
        "waiting for something without an `await` inside the loop."
    )


def _interruptible_sleep(seconds: float | SupportsIndex) -> None:
    """time.sleep, except that a watched loop's thread can be woken from it (see LoopWatch)."""
    ident = threading.get_ident()
    if ident not in _watching:
        _real_sleep(seconds)
        return
    deadline = time.monotonic() + max(0.0, float(seconds))
    while True:  # short naps, so that LoopBlocked, raised into this thread, lands between two of them
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        _real_sleep(min(remaining, PING_S))


def _raise_in_thread(ident: int, message: str) -> None:
    """Ask the interpreter to raise LoopBlocked (saying ``message``) in another thread at its next instruction."""
    # Only a class can be raised this way, so the message travels on a subclass made for it.
    blocked = type("LoopBlocked", (LoopBlocked,), {"message": message})
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(blocked))


class LoopWatch:
    """Watches one event loop running on one thread; ``on_blocked`` is called (on the watch thread) once."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        thread_ident: int,
        on_blocked: Callable[[str, CodeLine], None],
        limit_s: float = 2.0,
    ) -> None:
        self._loop = loop
        self._ident = thread_ident
        self._on_blocked = on_blocked
        self.limit_s = limit_s
        self._answered = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="voicelive-loop-watch", daemon=True)
        self.blocked: CodeLine | None = None

    def __enter__(self) -> LoopWatch:
        with _patch_lock:
            _watching.add(self._ident)
            time.sleep = _interruptible_sleep
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)
        with _patch_lock:
            _watching.discard(self._ident)
            if not _watching:
                time.sleep = _real_sleep

    def _pong(self) -> None:
        self._answered = time.monotonic()

    def _watch(self) -> None:
        while not self._stop.wait(PING_S):
            with contextlib.suppress(RuntimeError):  # the loop closed
                self._loop.call_soon_threadsafe(self._pong)
            silent = time.monotonic() - self._answered
            if silent < self.limit_s or self.blocked is not None:
                continue
            frame = sys._current_frames().get(self._ident)
            line = learner_line_in_stack(frames_of(frame))
            if line is None:
                continue  # busy in the kit or the SDK, not in the learner's code: nothing to blame
            self.blocked = line
            message = blocked_message(line, silent)
            self._on_blocked(message, line)
            _raise_in_thread(self._ident, message)

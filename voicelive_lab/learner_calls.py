"""Call a function the learner wrote (plain or ``async``) inside a check, with a deadline and an honest verdict.

The lessons' exercises hand the learner's function to the kit: a tool handler, a builder of session settings,
a test. :func:`call_learner` runs it on a thread of its own, so a function that sleeps, spins or waits forever
cannot hold the check past its budget: when time is up the check says so, names the line the function is
waiting at, and interrupts it. An exception becomes a :class:`CheckFailed` that quotes the learner's own line.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .learner_code import frames_of, hint_for, learner_line_in_stack, learner_line_of
from .loop_watch import _raise_in_thread
from .verdicts import CheckFailed, Task


class _Outcome:
    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def call_learner(
    task: Task, function: Callable[..., Any], *args: Any, expected: str, timeout_s: float = 5.0, **kwargs: Any
) -> Any:
    """``function(*args, **kwargs)`` (awaited when it is a coroutine function), or a CheckFailed saying why not."""
    outcome = _Outcome()

    def run() -> None:
        try:
            result = function(*args, **kwargs)
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
            outcome.value = result
        except BaseException as error:  # every failure of the learner's code is reported, never raised here
            outcome.error = error
        finally:
            outcome.done.set()

    name = getattr(function, "__name__", "your function")
    worker = threading.Thread(target=run, name=f"voicelive-learner-{name}", daemon=True)
    started = time.monotonic()
    worker.start()
    if not outcome.done.wait(timeout_s):
        frame = sys._current_frames().get(worker.ident or 0)
        line = learner_line_in_stack(frames_of(frame))
        if worker.ident is not None:
            _raise_in_thread(worker.ident, f"The check stopped `{name}` after {timeout_s:.0f} s.")
        raise CheckFailed(
            task,
            expected,
            f"`{name}` had not returned after {time.monotonic() - started:.1f} s, so the check stopped it",
            "make it return promptly: no `time.sleep`, no loop that waits for something that never comes, and "
            "`await` only what finishes.",
            where=str(line) if line is not None else None,
        )
    if outcome.error is not None:
        raise failure_from(task, expected, outcome.error) from None
    return outcome.value


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def failure_from(task: Task, expected: str, error: BaseException) -> CheckFailed:
    """The learner's code raised ``error``: say so, with their line and the usual cause."""
    line = learner_line_of(error)
    where = str(line) if line is not None else None
    if isinstance(error, NotImplementedError):
        return CheckFailed(
            task, expected, f"a stub is still there: {error}", "replace the stub with your code.", where=where
        )
    return CheckFailed(task, expected, f"your code raised {type(error).__name__}: {error}", hint_for(error), where)

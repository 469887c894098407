"""Run a check's practice session on an event loop of its own thread, within the check's deadline.

A notebook's own event loop is busy running the cell that called the check, so the session cannot run there.
The work runs on a worker thread; what it returns comes back, a :class:`CheckFailed` it raised is raised again,
and anything else (the deadline passed, the check's own session broke) becomes :class:`SessionTrouble`, which
each check turns into an honest "could not see it work", never a pass.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..recordings import NoEventInTime
from ..verdicts import CheckFailed

T = TypeVar("T")


class SessionTrouble(Exception):
    """The check's session did not finish: ``late`` when its time ran out, else ``error`` says what broke."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.late = error is None or isinstance(error, (asyncio.TimeoutError, NoEventInTime))
        super().__init__("out of time" if self.late else f"{type(error).__name__}: {error}")

    def happened(self, what: str) -> str:
        """For a CheckFailed's "Happened": why the check could not see ``what``."""
        if self.late:
            return f"the check ran out of time before it could see {what}, so it cannot say it works"
        return f"the check's own session failed ({self}), so it cannot say it works"


def run_on_own_loop(work: Coroutine[Any, Any, T], deadline: float, name: str) -> T:
    """``work``'s result, run on a new thread's event loop and bounded by ``deadline`` (time.monotonic())."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(asyncio.wait_for(work, max(0.1, deadline - time.monotonic())))
        except BaseException as error:  # handed back below: a failure of the check, never a pass
            outcome["error"] = error

    worker = threading.Thread(target=run, name=f"voicelive-check-{name}", daemon=True)
    worker.start()
    worker.join(max(0.1, deadline - time.monotonic()) + 1.0)
    if "result" in outcome:
        return outcome["result"]
    error = outcome.get("error")
    if isinstance(error, CheckFailed):
        raise error
    raise SessionTrouble(error)

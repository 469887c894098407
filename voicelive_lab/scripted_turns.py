"""A scripted conversation: one WAV file per turn, each reply waited for and heard out, then a summary.

It drives a runner only through its public controls, from the caller's (the notebook's) thread, and blocks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .audio.protocols import ScriptedInput
from .session_log import SessionSnapshot
from .session_summary import SessionSummary
from .states import SessionState

if TYPE_CHECKING:
    from .runner import SessionRunner

ENDED = (SessionState.ERROR, SessionState.STOPPED)


def run_scripted_turns(
    runner: SessionRunner, wav_paths: Sequence[str | os.PathLike[str]], timeout: float
) -> SessionSummary:
    """Speak each WAV file as one turn, wait for its reply to be done and heard, stop, and summarize."""
    microphone = runner.microphone
    if not isinstance(microphone, ScriptedInput):
        raise TypeError(f"run_turns needs a WavMicrophone as the microphone, not {type(microphone).__name__}.")
    deadline = time.monotonic() + timeout
    runner.start()
    if runner.wait_for_state(SessionState.READY, *ENDED, timeout=timeout) and runner.state == SessionState.READY:
        for path in wav_paths:
            replies = responses_done(runner.log.snapshot())
            microphone.say(Path(path))
            finished = runner.wait_for(_reply_done_after(replies), _left(deadline))
            if not finished or runner.state in ENDED:
                break
            runner.wait_for(lambda snap: runner.reply_heard or snap.state in ENDED, _left(deadline))
    runner.stop()
    return runner.summary()


def _reply_done_after(replies: int) -> Callable[[SessionSnapshot], bool]:
    """A wait condition: one more reply done than ``replies``, or the session over."""
    return lambda snap: responses_done(snap) > replies or snap.state in ENDED


def responses_done(snapshot: SessionSnapshot) -> int:
    return snapshot.event_counts.get("response.done", 0)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())

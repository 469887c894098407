"""PracticeRun: one learner class in a real session against a private practice server, watched from both ends.

The checks never rely on the learner's code to report what happened: the practice server's observer records
every event it sent (so the check knows which session the service saw, which replies were cancelled and by
whom), a spying speaker records what reached it, and the SessionRunner reports the states the class set.
Every wait has a deadline taken from the check's budget, and ``close()`` leaves no thread running.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from typing import Any

from azure.core.credentials import AzureKeyCredential

from .audio import RecordingSpeaker, WavMicrophone
from .audio.samples import sample
from .config import Settings
from .learner_code import CodeLine
from .mock import MockServer
from .runner import SessionRunner

BLOCK_LIMIT_S = 1.0  # in a check, code that holds the event loop this long is reported as blocking
INSTRUCTIONS = "You are a friendly history tutor. Keep answers short."


class OutOfTime(Exception):
    """The check's time budget ran out while waiting for ``what``."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class HeardSpeaker(RecordingSpeaker):
    """A recording speaker (everything written counts as played) that also counts flushes (``stop_playback``)."""

    def __init__(self) -> None:
        super().__init__(realtime=False)
        self.flushes = 0

    def clear(self) -> None:
        self.flushes += 1
        super().clear()


class PracticeRun:
    """A session of ``assistant_class`` against its own practice server; use as a context manager."""

    def __init__(self, assistant_class: type, deadline: float, voice: str = "en-US-JennyNeural", **server: Any) -> None:
        self.deadline = deadline
        self.sent: list[dict[str, Any]] = []  # every event the practice server sent, in order
        self._lock = threading.Lock()
        server.setdefault("first_audio_delay_ms", 0)
        self.server = MockServer(observer=self._observe, **server)
        self.microphone = WavMicrophone(realtime=False)
        self.speaker = HeardSpeaker()
        self.assistant_class = assistant_class
        self.voice = voice
        self._runner: SessionRunner | None = None
        self.own_cancels = 0  # response.cancel events the check itself sent
        self.talked_over = False  # set when the check starts talking over a reply
        self.settings: Settings | None = None

    def __enter__(self) -> PracticeRun:
        self.server.start()
        self.settings = Settings(
            backend="practice",
            endpoint="",
            credential=AzureKeyCredential("replaced by the practice server's key"),
            model="gpt-4o",
            voice=self.voice,
            instructions=INSTRUCTIONS,
        ).with_practice_server(self.server)
        self._runner = SessionRunner(
            self.settings,
            microphone=self.microphone,
            speaker=self.speaker,
            assistant_class=self.assistant_class,
            block_limit=BLOCK_LIMIT_S,
            connect_timeout=60,  # the check's own deadline comes first
        )
        self._runner.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the session and the server; wait (briefly) until the session thread has ended."""
        if self._runner is not None:
            self._runner.stop(timeout=2.0)  # joins the session thread
        self.server.stop()

    @property
    def runner(self) -> SessionRunner:
        """The session's runner (once the run has been entered)."""
        if self._runner is None:
            raise RuntimeError("PracticeRun is used as a context manager: `with PracticeRun(...) as run:`.")
        return self._runner

    # ----------------------------------------------------------------- what happened

    def _observe(self, event: dict[str, Any], _due: float) -> None:
        with self._lock:
            self.sent.append(event)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self.sent if kind is None or event["type"] == kind]

    def responses_done(self) -> list[dict[str, Any]]:
        return [e["response"] for e in self.events("response.done")]

    def reply_audio(self, response_id: str) -> bytes:
        """The PCM the service sent for one reply, all of it."""
        return b"".join(
            base64.b64decode(e["delta"]) for e in self.events("response.audio.delta") if e["response_id"] == response_id
        )

    @property
    def states(self) -> list[str]:
        names: list[str] = []
        for change in self.runner.log.snapshot().states:
            if not names or names[-1] != change.state:
                names.append(change.state)
        return names

    @property
    def assistant(self) -> Any:
        return self.runner.assistant

    # ----------------------------------------------------------------- driving it

    def say(self, name: str) -> None:
        self.microphone.say(sample(name))

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def wait(self, condition: Any, what: str, limit: float) -> bool:
        """Wait until ``condition()`` holds (True), the session fails (False), or time is up (OutOfTime when
        the check's whole budget is gone; False when only ``limit`` passed)."""
        stop_at = min(self.deadline, time.monotonic() + limit)
        while time.monotonic() < stop_at:
            if condition():
                return True
            if self.ended():
                return bool(condition())
            time.sleep(0.02)
        if condition():
            return True
        if time.monotonic() >= self.deadline:
            raise OutOfTime(what)
        return False

    def ended(self) -> bool:
        """The session cannot go on: the class's code failed or blocked, or the session thread is gone."""
        runner = self.runner
        assert runner is not None
        failed = runner.failure is not None or runner.channel.failure is not None
        return failed or runner.blocked is not None or not runner.running

    def waiting_at(self) -> CodeLine | None:
        return self.runner.waiting_at()

    def cancel_from_outside(self) -> None:
        """Send ``response.cancel`` on the learner's connection as another part of an app would."""
        runner, assistant = self.runner, self.assistant
        assert runner is not None and runner._loop is not None
        connection = getattr(assistant, "connection", None)
        if connection is not None:
            self.own_cancels += 1
            asyncio.run_coroutine_threadsafe(connection.response.cancel(), runner._loop).result(2.0)

"""SessionRunner: one voice session on its own thread and asyncio loop, driven from notebook cells.

The kernel's own loop is never used (ipykernel 7 stalls tasks created there once a cell finishes), so
Start, Stop and Interrupt return at once and other cells keep running while the session talks.

The assistant is any class in the lab's shape (the kit's ``BasicVoiceAssistant`` or a learner's own): it is
built as the lab's app built it, ``cls(endpoint, credential, model, voice, instructions, state_callback=…)``,
and reports through ``state_callback`` and the lab's ``_broadcast``, which this runner routes to its speaker
and log (a :class:`SessionChannel` bound to the session thread). Stop, Interrupt and typed messages use the
class's public ``connection``, so they work whatever the class's handlers do. Devices are anything that
implements ``audio.protocols`` (kernel, file and browser devices alike).

Who runs on which thread (the jobs: lifecycle here and in session_thread.py, audio paths in audio_pumps.py,
scripted turns in scripted_turns.py):

- notebook thread (a cell, a panel's buttons): the controls ``start``, ``stop``, ``interrupt``, ``send_text``,
  ``wait_for``, ``summary``, ``run_turns``. They only start, join or hand work to the session thread.
- session thread (``voicelive-session``, one per Start, with its own asyncio loop): the SDK connection and the
  assistant's code, its ``state_callback`` and ``_broadcast`` (so the reply's ``write`` and ``clear`` on the
  output); the task that sends microphone blocks, the one that shows "ready" once the reply has been heard,
  the silence watch; opening and closing the devices; ``on_update`` observers, for almost every change.
- device threads: PortAudio callbacks, the WAV microphone's and the recording speaker's pacing threads, the
  browser devices' comm handlers. They reach the session only with ``loop.call_soon_threadsafe`` (microphone
  blocks, ``on_lost``); an output's own thread reads the buffer that ``write`` fills.
- the LoopWatch thread: notices assistant code that blocks the session's loop and reports "error" from there.
- the panel's refresher thread (``voicelive-panel``, widgets.py): copies the log and levels into widgets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .assistant import BasicVoiceAssistant
from .audio.protocols import AudioInput, AudioOutput, RecordedOutput
from .audio_pumps import MAX_SENT_AUDIO_BYTES, MIC_QUEUE_BLOCKS, SentAudio
from .config import Settings, load_settings
from .lab_app import SessionChannel
from .learner_code import CodeLine
from .scripted_turns import run_scripted_turns
from .sdk_quirks import quiet_own_close
from .session_log import SessionLog, SessionSnapshot
from .session_summary import SessionSummary, states_visited
from .session_thread import GRACEFUL_STOP_S, SessionThread
from .silence_watch import LOUD_BLOCK_RMS
from .states import SessionState

__all__ = [
    "GRACEFUL_STOP_S",
    "LOUD_BLOCK_RMS",
    "MAX_SENT_AUDIO_BYTES",
    "MIC_QUEUE_BLOCKS",
    "SessionRunner",
    "SessionSummary",
    "default_devices",
]

log = logging.getLogger("voicelive_lab.runner")


quiet_own_close()

ANSWER_TIMEOUT_S = 15.0  # the service must react this soon to speech (or to the end of a turn)
CONNECT_TIMEOUT_S = 20.0
BLOCK_LIMIT_S = 2.0  # the assistant's code may keep the session's loop busy this long before it is stopped


class SessionRunner:
    """Runs an assistant class in the lab's shape with a microphone and a speaker on a dedicated thread.

    Each Start makes a new :class:`SessionThread`; the runner keeps the last one, so what it did stays
    readable after it ended (``summary()``, ``failure``, ``last_error``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        microphone: AudioInput | None = None,
        speaker: AudioOutput | None = None,
        assistant_class: Callable[..., Any] = BasicVoiceAssistant,
        on_update: Callable[[str], None] | None = None,
        answer_timeout: float = ANSWER_TIMEOUT_S,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        block_limit: float = BLOCK_LIMIT_S,
    ) -> None:
        self.settings = settings or load_settings()
        self.microphone, self.speaker, _ = default_devices(microphone, speaker)
        self.assistant_class = assistant_class
        self.log = SessionLog()
        self.block_limit = block_limit
        self.answer_timeout = answer_timeout
        self.connect_timeout = connect_timeout
        self._on_update = on_update
        self._lifecycle = threading.Lock()
        self._changed = threading.Condition()
        self._session: SessionThread | None = None  # the current or last session
        self.sessions_started = 0  # tells observers that a new session began since they last looked
        self._idle_channel = SessionChannel()
        self._blocks_dropped_before = 0  # by the microphones of sessions before the last one

    def __repr__(self) -> str:
        return f"<SessionRunner {self.state} backend={self.settings.backend}>"

    # ----------------------------------------------------------------- what the session does (any thread)

    @property
    def state(self) -> str:
        return self._session.state if self._session is not None else SessionState.IDLE

    @property
    def running(self) -> bool:
        return self._session is not None and self._session.alive

    @property
    def assistant(self) -> Any:
        """The assistant of the current or last session (None until one is built)."""
        return self._session.assistant if self._session is not None else None

    @property
    def failure(self) -> BaseException | None:
        """The exception from the assistant's own code that ended the last session, if one did."""
        return self._session.failure if self._session is not None else None

    @property
    def blocked(self) -> str | None:
        """Set when the assistant's code blocked the session's event loop: what to do about it."""
        return self._session.blocked if self._session is not None else None

    @property
    def blocked_at(self) -> CodeLine | None:
        """The line of the assistant's code that blocked the session's event loop."""
        return self._session.blocked_at if self._session is not None else None

    @property
    def channel(self) -> SessionChannel:
        """Where the session's ``_broadcast`` and ``assistant_state`` go."""
        return self._session.channel if self._session is not None else self._idle_channel

    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        """The running session's event loop (for tests and checks that must act on the session's thread)."""
        return self._session.loop if self._session is not None else None

    @property
    def levels(self) -> tuple[float, float]:
        """(microphone, speaker) RMS level of the latest 20 ms block, 0..1; safe from any thread."""
        return float(self.microphone.level), float(self.speaker.level)

    @property
    def reply_heard(self) -> bool:
        """True once the output has played everything queued (and a "ready" that waited for it is shown)."""
        session = self._session
        return (session is None or not session.reply.holding) and not self.speaker.playing

    @property
    def mic_blocks_dropped(self) -> int:
        """Microphone blocks lost because the service could not take them fast enough (all sessions)."""
        mic = self._session.mic if self._session is not None else None
        return self._blocks_dropped_before + (mic.dropped if mic is not None else 0)

    @property
    def last_error(self) -> str | None:
        errors = [s.message for s in self.log.snapshot().states if s.state == SessionState.ERROR]
        return errors[-1] if errors else None

    def waiting_at(self) -> CodeLine | None:
        """The line of the assistant's code where the session is waiting now (an ``await`` that has not
        returned), if it is waiting in the assistant's code at all. For diagnosing a handler that hangs."""
        return self._session.waiting_at() if self._session is not None else None

    # ----------------------------------------------------------------- controls (any thread)

    def start(self) -> None:
        """Begin a session in the background; returns at once. Does nothing if one is running."""
        with self._lifecycle:
            if self.running:
                return
            self._blocks_dropped_before = self.mic_blocks_dropped
            self.log.reset()
            self.sessions_started += 1
            self._session = SessionThread(
                settings=self.settings,
                assistant_class=self.assistant_class,
                microphone=self.microphone,
                speaker=self.speaker,
                log=self.log,
                notify=self._notify,
                block_limit=self.block_limit,
                connect_timeout=self.connect_timeout,
                answer_timeout=self.answer_timeout,
            )
            self._session.start()

    def use_devices(self, microphone: AudioInput, speaker: AudioOutput) -> None:
        """Talk through other devices from the next Start on (the panel's input and output choice)."""
        with self._lifecycle:
            if self.running:
                raise RuntimeError("Devices can be changed only between sessions: press Stop first.")
            self.microphone, self.speaker = microphone, speaker

    def stop(self, timeout: float = 0.5) -> bool:
        """End the session: close the socket and the audio streams. True if done within ``timeout``."""
        with self._lifecycle:
            return self._session is None or self._session.stop(timeout)

    def interrupt(self) -> bool:
        """Stop the assistant talking now: flush playback and cancel the reply, as the lab's /interrupt did.
        False, with a note in the event log, when no session is running (or it is stopping)."""
        return self._hand_over("Interrupt", lambda session: session.call(session.interrupt))

    def send_text(self, text: str) -> bool:
        """Type a message into the session instead of speaking it. False, with a note in the event log, when no
        session can take it (not started, or stopping): racing Stop is never an error in the caller's cell."""
        return self._hand_over("Typed message", lambda session: session.call(lambda: session.send_text(text), wait=2.0))

    def _hand_over(self, what: str, deliver: Callable[[SessionThread], None]) -> bool:
        session = self._session
        if session is None or session.stopping:
            self._note(f"{what} not sent: no session is running. Press Start first.")
            return False
        try:
            deliver(session)
        except Exception:
            if not session.stopping:
                raise  # a real failure of a running session: the caller should see it
            self._note(f"{what} not sent: the session was stopping.")
            return False
        return True

    def _note(self, text: str) -> None:
        self.log.event("log.info", text)
        self._notify("event")

    def wait_for(self, predicate: Callable[[SessionSnapshot], bool], timeout: float) -> bool:
        """Block until ``predicate(snapshot)`` holds (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.log.snapshot()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
        return True

    def wait_for_state(self, *states: str, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda snap: snap.state in states, timeout)

    def summary(self) -> SessionSummary:
        snapshot = self.log.snapshot()
        recording = self.speaker if isinstance(self.speaker, RecordedOutput) else None
        origin = snapshot.started_at or 0.0
        sent_audio = self._session.sent if self._session is not None else SentAudio()
        sent = sent_audio.samples()
        return SessionSummary(
            states=states_visited(snapshot),
            event_types=tuple(e.type for e in snapshot.events),
            transcripts=snapshot.transcripts,
            turns=snapshot.turns,
            snapshot=snapshot,
            reply_audio=np.asarray(recording.samples) if recording is not None else None,
            error=self.last_error,
            sent_audio=sent if len(sent) else None,
            sent_started_at=(sent_audio.started_at or origin) - origin,
            reply_segments=tuple((at - origin, offset) for at, offset in recording.segments) if recording else (),
        )

    def run_turns(self, wav_paths: Sequence[str | os.PathLike[str]], timeout: float = 60.0) -> SessionSummary:
        """Speak each WAV file as one turn, wait for each reply, stop, and summarize. Blocks."""
        return run_scripted_turns(self, wav_paths, timeout)

    # ----------------------------------------------------------------- helpers

    def _notify(self, kind: str) -> None:
        """Wake ``wait_for`` and tell the observer; called on whichever thread changed something."""
        with self._changed:
            self._changed.notify_all()
        if self._on_update is not None:
            try:
                self._on_update(kind)
            except Exception:  # a broken observer must not break the session
                log.exception("session observer failed")


def default_devices(
    microphone: AudioInput | None = None, speaker: AudioOutput | None = None
) -> tuple[AudioInput, AudioOutput, list[str]]:
    """Fill in what is missing: the device microphone and speaker where they work, else a WAV-file microphone
    and a recording speaker. Also returns, in plain words, why a fallback was chosen."""
    notes: list[str] = []
    if microphone is not None and speaker is not None:
        return microphone, speaker, notes
    from .audio import Microphone, RecordingSpeaker, Speaker, WavMicrophone, audio_status

    status = audio_status()
    if microphone is None:
        microphone = Microphone() if status.can_record else WavMicrophone()
        if not status.can_record:
            notes.append(next((p for p in status.problems if "microphone" in p.lower()), "No microphone."))
    if speaker is None:
        speaker = Speaker() if status.can_play else RecordingSpeaker()
        if not status.can_play:
            notes.append(next((p for p in status.problems if "speaker" in p.lower()), "No speaker."))
    return microphone, speaker, notes

"""SessionRunner: one voice session on its own thread and asyncio loop, driven from notebook cells.

The kernel's own loop is never used (ipykernel 7 stalls tasks created there once a cell finishes), so
Start, Stop and Interrupt return at once and other cells keep running while the session talks.

The assistant is any class in the lab's shape (the kit's ``BasicVoiceAssistant`` or a learner's own): it is
built as the lab's app built it, ``cls(endpoint, credential, model, voice, instructions, state_callback=…)``,
and reports through ``state_callback`` and the lab's ``_broadcast``, which this runner routes to its speaker
and log (a :class:`SessionChannel` bound to the session thread). Stop, Interrupt and typed messages use the
class's public ``connection``, so they work whatever the class's handlers do.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from aiohttp import WSMsgType
from azure.ai.voicelive.models import InputTextContentPart, UserMessageItem

from .assistant import BasicVoiceAssistant
from .config import Settings, load_settings
from .lab_app import SessionChannel, bound_channel
from .learner_code import CodeLine, describe_code_error, learner_line_in_stack
from .loop_watch import LoopWatch
from .session_log import SessionLog, SessionSnapshot, TranscriptLine, TurnTiming, describe_event, response_id_of
from .transcripts import TranscriptTracker

log = logging.getLogger("voicelive_lab.runner")


class _OwnCloseFilter(logging.Filter):
    """Drops the SDK's warning about a CLOSING frame: it only means that stop() closed the socket."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "Unexpected WebSocket message type: %s" and record.args == (WSMsgType.CLOSING,))


logging.getLogger("azure.ai.voicelive.aio._patch").addFilter(_OwnCloseFilter())

MIC_QUEUE_BLOCKS = 500  # 10 s of 20 ms blocks: if the network stalls longer, the oldest audio is dropped
MAX_SENT_AUDIO_BYTES = 10 * 60 * 48_000  # the last 10 minutes of what the microphone sent are kept for plots
GRACEFUL_STOP_S = 0.25
ANSWER_TIMEOUT_S = 15.0  # the service must react this soon to speech (or to the end of a turn)
CONNECT_TIMEOUT_S = 20.0
LOUD_BLOCK_RMS = 0.01  # about -40 dBFS: a block this loud is speech the service should notice
BLOCK_LIMIT_S = 2.0  # the assistant's code may keep the session's loop busy this long before it is stopped


class MicrophoneLike(Protocol):
    def start(self, consumer: Callable[[bytes], None]) -> None: ...
    def close(self) -> None: ...


class SpeakerLike(Protocol):
    def start(self) -> None: ...
    def write(self, pcm: bytes) -> None: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class SessionSummary:
    """What a finished session did, for printing in a cell, plotting and tests."""

    states: tuple[str, ...]
    event_types: tuple[str, ...]
    transcripts: tuple[TranscriptLine, ...]
    turns: tuple[TurnTiming, ...]
    snapshot: SessionSnapshot
    reply_audio: np.ndarray | None
    error: str | None
    #: What the microphone sent (24 kHz int16) and when its first kept sample was sent (session seconds).
    sent_audio: np.ndarray | None = None
    sent_started_at: float = 0.0
    #: Where each stretch of reply audio started: (session seconds, sample offset into reply_audio).
    reply_segments: tuple[tuple[float, int], ...] = ()

    def report(self) -> str:
        """Deterministic text (no timings, no ids) that a notebook can print and nbval can compare."""
        lines = ["States: " + " → ".join(self.states)]
        for line in self.transcripts:
            mark = " (interrupted)" if line.interrupted else ""
            lines.append(f"{line.role:>9}: {line.text}{mark}")
        responses = [t.status for t in self.turns]
        lines.append(f"Turns: {len(self.turns)} ({', '.join(str(s) for s in responses) or 'none'})")
        if self.reply_audio is not None:
            lines.append(f"Reply audio recorded: {'yes' if len(self.reply_audio) else 'no'}")
        if self.error:
            lines.append(f"Error: {self.error}")
        return "\n".join(lines)


class SessionRunner:
    """Runs an assistant class in the lab's shape with a microphone and a speaker on a dedicated thread."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        microphone: MicrophoneLike | None = None,
        speaker: SpeakerLike | None = None,
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
        self._on_update = on_update
        self.block_limit = block_limit
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        #: The assistant of the current or last session (None until one is built).
        self.assistant: Any = None
        #: The exception from the assistant's own code that ended the last session, if one did.
        self.failure: BaseException | None = None
        self.channel = SessionChannel()
        self._transcripts = TranscriptTracker(self.log)
        self._connection: Any = None
        self._stop_requested = False
        #: Set when the assistant's code blocked the session's event loop: what to do, and the line.
        self.blocked: str | None = None
        self.blocked_at: CodeLine | None = None
        self._lifecycle = threading.Lock()
        self._changed = threading.Condition()
        self._mic_started = False
        self._mic_queue: asyncio.Queue[bytes] | None = None
        self.mic_blocks_dropped = 0
        self._sent: deque[bytes] = deque()  # what the microphone sent, block by block (bounded)
        self._sent_bytes = 0
        self._sent_started: float | None = None
        self.answer_timeout = answer_timeout
        self.connect_timeout = connect_timeout
        self._waiting_since: float | None = None  # when we began waiting for the service to react
        self._state = "idle"  # the latest state, readable without copying the log

    def __repr__(self) -> str:
        return f"<SessionRunner {self.state} backend={self.settings.backend}>"

    # ----------------------------------------------------------------- controls (any thread)

    @property
    def state(self) -> str:
        return self._state

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def levels(self) -> tuple[float, float]:
        """(microphone, speaker) RMS level of the latest 20 ms block, 0..1; safe from any thread."""
        return float(getattr(self.microphone, "level", 0.0)), float(getattr(self.speaker, "level", 0.0))

    @property
    def last_error(self) -> str | None:
        errors = [s.message for s in self.log.snapshot().states if s.state == "error"]
        return errors[-1] if errors else None

    def start(self) -> None:
        """Begin a session in the background; returns at once. Does nothing if one is running."""
        with self._lifecycle:
            if self.running:
                return
            self.log.reset()
            self._state = "idle"
            self._mic_started = False
            self._sent = deque()
            self._sent_bytes = 0
            self._sent_started = None
            self._waiting_since = None
            self.assistant = self.failure = None
            self.blocked = self.blocked_at = None
            self._stop_requested = False
            self._connection = None
            self.channel = SessionChannel(
                on_audio=self.speaker.write,
                on_stop_playback=self.speaker.clear,
                on_log=self._on_log,
                on_event=self._on_event,
            )
            self._transcripts = TranscriptTracker(self.log)
            ready = threading.Event()
            self._thread = threading.Thread(target=self._thread_main, args=(ready,), name="voicelive-session")
            self._thread.daemon = True
            self._thread.start()
            ready.wait(2.0)

    def stop(self, timeout: float = 0.5) -> bool:
        """End the session: close the socket and the audio streams. True if done within ``timeout``."""
        with self._lifecycle:
            thread, loop = self._thread, self._loop
            if thread is None or not thread.is_alive() or loop is None:
                return True
            self._stop_requested = True
            with contextlib.suppress(RuntimeError):  # the loop may have closed in the meantime
                loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._request_stop()))
            thread.join(timeout)
            return not thread.is_alive()

    def interrupt(self) -> None:
        """Stop the assistant talking now: flush playback and cancel the reply, as the lab's /interrupt did."""
        self._call_in_session(self._interrupt)

    def send_text(self, text: str) -> None:
        """Type a message into the session instead of speaking it."""
        self._call_in_session(lambda: self._send_text(text), wait=2.0)

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
        states: list[str] = []
        for change in snapshot.states:
            if not states or states[-1] != change.state:
                states.append(change.state)
        samples = getattr(self.speaker, "samples", None)
        origin = snapshot.started_at or 0.0
        sent = np.frombuffer(b"".join(list(self._sent)), dtype="<i2")
        return SessionSummary(
            states=tuple(states),
            event_types=tuple(e.type for e in snapshot.events),
            transcripts=snapshot.transcripts,
            turns=snapshot.turns,
            snapshot=snapshot,
            reply_audio=None if samples is None else np.asarray(samples),
            error=self.last_error,
            sent_audio=sent if len(sent) else None,
            sent_started_at=(self._sent_started or origin) - origin,
            reply_segments=tuple((at - origin, offset) for at, offset in getattr(self.speaker, "segments", [])),
        )

    def run_turns(self, wav_paths: Sequence[str | os.PathLike[str]], timeout: float = 60.0) -> SessionSummary:
        """Speak each WAV file as one turn, wait for each reply, stop, and summarize. Blocks."""
        microphone = self.microphone
        if not hasattr(microphone, "say"):
            raise TypeError(f"run_turns needs a WavMicrophone as the microphone, not {type(microphone).__name__}.")
        deadline = time.monotonic() + timeout
        self.start()
        if self.wait_for_state("ready", "error", "stopped", timeout=timeout) and self.state == "ready":
            for path in wav_paths:
                replies = self._responses_done()
                microphone.say(path)  # type: ignore[attr-defined]
                finished = self.wait_for(
                    lambda snap, before=replies: _responses_done(snap) > before or snap.state in ("error", "stopped"),
                    max(0.0, deadline - time.monotonic()),
                )
                if not finished or self.state in ("error", "stopped"):
                    break
                self._wait_for_playback(deadline)
        self.stop()
        return self.summary()

    # ----------------------------------------------------------------- the session thread

    def _thread_main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._task = loop.create_task(self._session())
        ready.set()
        watch = LoopWatch(loop, threading.get_ident(), self._loop_blocked, self.block_limit)
        try:
            with bound_channel(self.channel), watch:
                loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = self._task = None
            self._notify("state")

    async def _session(self) -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=MIC_QUEUE_BLOCKS)
        sender = asyncio.create_task(self._send_microphone(queue))
        watchdog = asyncio.create_task(self._watch_for_silence())
        self._mic_queue = queue
        loop = asyncio.get_running_loop()

        def device_lost(message: str) -> None:  # called on an audio thread
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._device_lost, message)

        for device in (self.microphone, self.speaker):
            if hasattr(device, "on_lost"):
                device.on_lost = device_lost
        try:
            self._on_state("starting", "Connecting to Voice Live…")
            try:
                self.speaker.start()
            except Exception as error:  # e.g. AudioUnavailable: no output device in this kernel
                self._on_state("error", str(error))
                return
            await self._run_assistant()
        except asyncio.CancelledError:
            pass
        finally:
            # Nothing here may be skipped by a late stop(): close first, then wait for the helpers.
            sender.cancel()
            watchdog.cancel()
            self._close_devices()
            if self.state != "error":
                self._on_state("stopped", "Session ended.")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(sender, watchdog, return_exceptions=True)

    async def _run_assistant(self) -> None:
        """Build the assistant as the lab's app did, run it, and say why it ended if nobody asked it to."""
        settings = self.settings
        try:
            self.assistant = self.assistant_class(
                settings.endpoint,
                settings.credential,
                settings.model,
                settings.voice,
                settings.instructions,
                state_callback=self._on_state,
            )
            await self.assistant.start()
        except Exception as error:  # the assistant's own code failed: show its line, never a silent thread
            self.failure = self.channel.failure = error
            self._on_state("error", describe_code_error(error))
            return
        self.failure = self.channel.failure
        if self.state == "error" or self._stop_requested:
            return
        if self._connection is None:
            self._on_state(
                "error",
                "start() returned before any event arrived: it must connect, configure the session and then "
                "handle events in `async for event in conn:` until it is stopped.",
            )
            return
        code = _close_code(self._connection)
        self._on_state("error", f"The service closed the session (WebSocket close code {code}).")

    def _loop_blocked(self, message: str, line: CodeLine) -> None:
        """Called on the LoopWatch thread: the assistant's code kept the loop busy; say where."""
        self.blocked, self.blocked_at = message, line
        self._on_state("error", message)

    def waiting_at(self) -> CodeLine | None:
        """The line of the assistant's code where the session is waiting now (an ``await`` that has not
        returned), if it is waiting in the assistant's code at all. For diagnosing a handler that hangs."""
        task = self._task
        awaited: Any = task.get_coro() if task is not None else None
        frames = []
        while awaited is not None and getattr(awaited, "cr_frame", None) is not None:
            frames.append(awaited.cr_frame)
            awaited = awaited.cr_await
        return learner_line_in_stack(frames)

    def _device_lost(self, message: str) -> None:
        """A microphone or speaker stopped on its own: say so and end the session (Start tries again)."""
        if self._state not in ("error", "stopped"):
            self._on_state("error", message)
        if self._task is not None:
            self._task.cancel()

    async def _request_stop(self) -> None:
        """Ask the assistant to stop (the lab's request_stop), and close its connection so it stops now."""
        assistant, task = self.assistant, self._task
        with contextlib.suppress(Exception):  # a learner's request_stop may be missing or broken
            assistant.request_stop()
        connection = getattr(assistant, "connection", None)
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), GRACEFUL_STOP_S)
        if task is not None:
            await asyncio.wait({task}, timeout=GRACEFUL_STOP_S)
            task.cancel()  # the assistant's code did not return on its own: end it

    async def _send_microphone(self, queue: asyncio.Queue[bytes]) -> None:
        while True:
            block = await queue.get()
            assistant = self.assistant
            if assistant is not None:
                await assistant.append_audio(base64.b64encode(block).decode("ascii"))
            self._keep_sent(block)

    async def _watch_for_silence(self) -> None:
        """End the session with a clear message if the service stops reacting while the learner waits."""
        started = time.monotonic()
        host = self.settings.endpoint
        while True:
            await asyncio.sleep(0.25)
            now, state = time.monotonic(), self.state
            if state == "starting" and now - started > self.connect_timeout:
                message = (
                    f"No session after {self.connect_timeout:.0f} s: {host} accepted the connection but never "
                    "answered. Check the endpoint (is it a Voice Live resource?) and your network, then Start again."
                )
            elif self._waiting_since is not None and now - self._waiting_since > self.answer_timeout:
                message = (
                    f"The service has not reacted for {self.answer_timeout:.0f} s while you were waiting for it, "
                    "so the connection looks stalled. Press Start to open a new session; if it happens again, "
                    "check your network or the service's status."
                )
            else:
                continue
            self._on_state("error", message)
            if self._task is not None:
                self._task.cancel()
            return

    def _keep_sent(self, block: bytes) -> None:
        if self._waiting_since is None and self._state == "ready" and _rms(block) > LOUD_BLOCK_RMS:
            self._waiting_since = time.monotonic()  # speech went out: server VAD should answer soon
        if self._sent_started is None:
            self._sent_started = time.monotonic()
        self._sent.append(block)
        self._sent_bytes += len(block)
        while self._sent_bytes > MAX_SENT_AUDIO_BYTES:
            dropped = self._sent.popleft()
            self._sent_bytes -= len(dropped)
            self._sent_started += len(dropped) / 48_000

    def _on_microphone_block(self, block: bytes) -> None:
        """Called on the audio thread: hand the block to the session loop, never touch asyncio here."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                loop.call_soon_threadsafe(self._queue_block, block)

    def _queue_block(self, block: bytes) -> None:
        queue = self._mic_queue
        if queue is None:
            return
        if queue.full():
            queue.get_nowait()
            self.mic_blocks_dropped += 1
        queue.put_nowait(block)

    def _on_state(self, state: str, message: str = "") -> None:
        self._state = state
        self.channel.set_state(state, message)
        self.log.state(state, message)
        if state == "processing" and self._waiting_since is None:
            self._waiting_since = time.monotonic()
        if state == "ready" and not self._mic_started:
            self._mic_started = True
            try:
                self.microphone.start(self._on_microphone_block)
            except Exception as error:  # e.g. AudioUnavailable: no microphone in this kernel
                self._state = "error"
                self.log.state("error", str(error))
                if self._task is not None:
                    self._task.cancel()
        self._notify("state")

    def _on_event(self, event: Any) -> None:
        if self._connection is None and self.assistant is not None:
            self._connection = self.assistant.connection  # kept for its close code if the service ends it
        self._waiting_since = None
        self.log.event(str(event.type), describe_event(event), response_id_of(event))
        self._transcripts.on_event(event)
        self._notify("event")

    def _on_log(self, level: str, text: str) -> None:
        """A log or status line the assistant broadcast: a row of the event log (``log.<level>``)."""
        if text:
            self.log.event(f"log.{level}", text)
            self._notify("event")

    def _notify(self, kind: str) -> None:
        with self._changed:
            self._changed.notify_all()
        if self._on_update is not None:
            try:
                self._on_update(kind)
            except Exception:  # a broken observer must not break the session
                log.exception("session observer failed")

    def _close_devices(self) -> None:
        for device in (self.microphone, self.speaker):
            try:
                device.close()
            except Exception:
                log.exception("closing %s failed", type(device).__name__)

    def _call_in_session(self, action: Callable[[], Any], wait: float | None = None) -> None:
        loop, assistant = self._loop, self.assistant if self.running else None
        if loop is None or assistant is None or assistant.connection is None:
            raise RuntimeError("No session is running: call start() first.")
        future = asyncio.run_coroutine_threadsafe(action(), loop)
        if wait is not None:
            try:
                future.result(wait)
            except FutureTimeout:
                raise TimeoutError("The session did not take the request in time.") from None

    async def _interrupt(self) -> None:
        self.speaker.clear()
        assistant, response_id = self.assistant, self._transcripts.active_response_id
        if assistant is None or assistant.connection is None or response_id is None:
            return
        assistant._response_cancelled = True  # the lab's flag: its audio handler drops the rest of this reply
        self._transcripts.cut_off(response_id)
        with contextlib.suppress(Exception):  # the reply may have ended meanwhile: nothing to cancel
            await assistant.connection.response.cancel(response_id=response_id)

    async def _send_text(self, text: str) -> None:
        connection = self.assistant.connection
        await connection.conversation.item.create(item=UserMessageItem(content=[InputTextContentPart(text=text)]))
        await connection.response.create()

    def _responses_done(self) -> int:
        return _responses_done(self.log.snapshot())

    def _wait_for_playback(self, deadline: float) -> None:
        buffer = getattr(self.speaker, "buffer", None)
        while buffer is not None and buffer.buffered_ms > 0 and time.monotonic() < deadline:
            time.sleep(0.02)


def _rms(block: bytes) -> float:
    samples = np.frombuffer(block[: len(block) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0


def _responses_done(snapshot: SessionSnapshot) -> int:
    return snapshot.event_counts.get("response.done", 0)


def default_devices(
    microphone: MicrophoneLike | None = None, speaker: SpeakerLike | None = None
) -> tuple[MicrophoneLike, SpeakerLike, list[str]]:
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


def _close_code(connection: Any) -> int | None:
    """The WebSocket close code; the SDK keeps it on a private attribute (see the protocol notes)."""
    return getattr(getattr(connection, "_connection", None), "close_code", None)

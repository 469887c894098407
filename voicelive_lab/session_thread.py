"""SessionThread: one session's thread and asyncio loop, running the assistant with its audio pumps and watches.

Everything here runs on that thread unless it says otherwise; the runner (runner.py) only starts it, asks it to
stop and hands it requests with ``call``. States go to the runner's log through ``report`` and ``notify``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from azure.ai.voicelive.models import InputTextContentPart, UserMessageItem

from .audio.protocols import AudioInput, AudioOutput
from .audio_pumps import MicrophonePump, ReplyPump, SentAudio
from .config import Settings
from .lab_app import SessionChannel, bound_channel
from .learner_code import CodeLine, describe_code_error, learner_line_in_stack
from .loop_watch import LoopWatch
from .sdk_quirks import close_code, forgive_cancelled_connect
from .session_log import SessionLog, describe_event, response_id_of
from .silence_watch import SilenceWatch
from .states import SessionState, as_state, unknown_state_note
from .transcripts import TranscriptTracker

log = logging.getLogger("voicelive_lab.runner")

GRACEFUL_STOP_S = 0.25


class SessionThread:
    """One session from "starting" to "stopped" (or "error"); a new one for every Start."""

    def __init__(
        self,
        *,
        settings: Settings,
        assistant_class: Callable[..., Any],
        microphone: AudioInput,
        speaker: AudioOutput,
        log: SessionLog,
        notify: Callable[[str], None],
        block_limit: float,
        connect_timeout: float,
        answer_timeout: float,
    ) -> None:
        self.settings = settings
        self.assistant_class = assistant_class
        self.microphone = microphone
        self.log = log
        self.block_limit = block_limit
        self._notify = notify
        #: The latest state reported (what the log and the panel show).
        self.state: SessionState | str = SessionState.IDLE  # a learner's class may report a state of its own
        self.assistant: Any = None
        self.failure: BaseException | None = None
        self.blocked: str | None = None
        self.blocked_at: CodeLine | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.sent = SentAudio()
        self.mic: MicrophonePump | None = None  # made on the session's loop, which it needs
        self.reply = ReplyPump(speaker, self._report_ready)
        self.silence = SilenceWatch(settings.endpoint, connect_timeout, answer_timeout, lambda: self.state)
        self.transcripts = TranscriptTracker(log)
        self.channel = SessionChannel(
            on_audio=self.reply.play, on_stop_playback=self._flush_reply, on_log=self._on_log, on_event=self._on_event
        )
        self._connection: Any = None  # kept for its close code if the service ends the session
        self._stop_requested = False
        self._unknown_states: set[str] = set()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- from other threads

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; returns once its loop exists (or after 2 s)."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), name="voicelive-session", daemon=True)
        self._thread.start()
        ready.wait(2.0)

    def stop(self, timeout: float) -> bool:
        """Ask the assistant to stop, close its connection, and wait ``timeout`` for the thread to end."""
        thread, loop = self._thread, self.loop
        if thread is None or not thread.is_alive() or loop is None:
            return True
        self._stop_requested = True
        with contextlib.suppress(RuntimeError):  # the loop may have closed in the meantime
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._request_stop()))
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def stopping(self) -> bool:
        """True once Stop was asked for, or the thread has ended."""
        return self._stop_requested or not self.alive

    def call(self, action: Callable[[], Coroutine[Any, Any, Any]], wait: float | None = None) -> None:
        """Run ``action()`` on the session's loop; with ``wait``, block until it is done (TimeoutError if not)."""
        loop, assistant = self.loop, self.assistant if self.alive else None
        if loop is None or assistant is None or assistant.connection is None:
            raise RuntimeError("No session is running: call start() first.")
        future = asyncio.run_coroutine_threadsafe(action(), loop)
        if wait is not None:
            try:
                future.result(wait)
            except FutureTimeout:
                raise TimeoutError("The session did not take the request in time.") from None

    def waiting_at(self) -> CodeLine | None:
        """The line of the assistant's code where the session awaits now, if it waits in that code at all."""
        task = self.task
        awaited: Any = task.get_coro() if task is not None else None
        frames = []
        while awaited is not None and getattr(awaited, "cr_frame", None) is not None:
            frames.append(awaited.cr_frame)
            awaited = awaited.cr_await
        return learner_line_in_stack(frames)

    # ----------------------------------------------------------------- on the session's thread

    def _main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        forgive_cancelled_connect(loop, lambda: self._stop_requested)
        self.task = loop.create_task(self._session())
        ready.set()
        watch = LoopWatch(loop, threading.get_ident(), self._loop_blocked, self.block_limit)
        try:
            with bound_channel(self.channel), watch:
                loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self.loop = self.task = None
            self._notify("state")

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        microphone, speaker = self.microphone, self.reply.output
        self.mic = MicrophonePump(microphone, loop, self._send_audio, self.sent, self.silence.audio_sent)
        helpers = [asyncio.create_task(job) for job in (self.mic.run(), self.reply.run(), self._end_if_silent())]

        def device_lost(message: str) -> None:  # called on a device's thread
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._device_lost, message)

        microphone.on_lost = speaker.on_lost = device_lost
        try:
            self.on_state(SessionState.STARTING, "Connecting to Voice Live…")
            try:
                speaker.start()
            except Exception as error:  # e.g. AudioUnavailable: no output device in this kernel
                self.on_state(SessionState.ERROR, str(error))
                return
            await self._run_assistant()
        except asyncio.CancelledError:
            pass
        finally:
            # Nothing here may be skipped by a late stop(): close first, then wait for the helpers.
            for helper in helpers:
                helper.cancel()
            _close(microphone, speaker)
            self.reply.flush()  # what the output had not played yet belongs to this session, not the next
            if self.state != SessionState.ERROR:
                self.on_state(SessionState.STOPPED, "Session ended.")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*helpers, return_exceptions=True)

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
                state_callback=self.on_state,
            )
            await self.assistant.start()
        except Exception as error:  # the assistant's own code failed: show its line, never a silent thread
            self.failure = self.channel.failure = error
            self.on_state(SessionState.ERROR, describe_code_error(error))
            return
        self.failure = self.channel.failure
        if self.state == SessionState.ERROR or self._stop_requested:
            return
        if self._connection is None:
            self.on_state(
                SessionState.ERROR,
                "start() returned before any event arrived: it must connect, configure the session and then "
                "handle events in `async for event in conn:` until it is stopped.",
            )
            return
        code = close_code(self._connection)
        self.on_state(SessionState.ERROR, f"The service closed the session (WebSocket close code {code}).")

    async def _send_audio(self, block: bytes) -> None:
        assistant = self.assistant
        if assistant is not None:
            await assistant.append_audio(base64.b64encode(block).decode("ascii"))

    async def _end_if_silent(self) -> None:
        """End the session with a clear message if the service stops reacting while the learner waits."""
        message = await self.silence.expired()
        self.on_state(SessionState.ERROR, message)
        if self.task is not None:
            self.task.cancel()

    def _loop_blocked(self, message: str, line: CodeLine) -> None:
        """Called on the LoopWatch thread: the assistant's code kept the loop busy; say where."""
        self.blocked, self.blocked_at = message, line
        self.on_state(SessionState.ERROR, message)

    def _device_lost(self, message: str) -> None:
        """A microphone or speaker stopped on its own: say so and end the session (Start tries again)."""
        if self.state not in (SessionState.ERROR, SessionState.STOPPED):
            self.on_state(SessionState.ERROR, message)
        if self.task is not None:
            self.task.cancel()

    async def _request_stop(self) -> None:
        """Ask the assistant to stop (the lab's request_stop), and close its connection so it stops now."""
        assistant, task = self.assistant, self.task
        with contextlib.suppress(Exception):  # a learner's request_stop may be missing or broken
            assistant.request_stop()
        connection = getattr(assistant, "connection", None)
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), GRACEFUL_STOP_S)
        if task is not None:
            await asyncio.wait({task}, timeout=GRACEFUL_STOP_S)
            task.cancel()  # the assistant's code did not return on its own: end it

    def _flush_reply(self) -> None:
        """Barge-in or Interrupt: playback stops now; a reply still sounding is marked as heard only in part."""
        was_playing = self.reply.output.playing
        self.reply.flush()
        if was_playing:
            self.transcripts.playback_cut()
            self._notify("transcript")

    async def interrupt(self) -> None:
        """Flush playback and cancel the reply that is being produced, as the lab's /interrupt did."""
        self._flush_reply()
        assistant, response_id = self.assistant, self.transcripts.active_response_id
        if assistant is None or assistant.connection is None or response_id is None:
            return
        assistant._response_cancelled = True  # the lab's flag: its audio handler drops the rest of this reply
        self.transcripts.cut_off(response_id)
        with contextlib.suppress(Exception):  # the reply may have ended meanwhile: nothing to cancel
            await assistant.connection.response.cancel(response_id=response_id)

    async def send_text(self, text: str) -> None:
        connection = self.assistant.connection
        await connection.conversation.item.create(item=UserMessageItem(content=[InputTextContentPart(text=text)]))
        await connection.response.create()

    # ----------------------------------------------------------------- states and events

    def on_state(self, state: str, message: str = "") -> None:
        """A state set by the assistant (its ``state_callback``) or by the session itself; any thread. A state
        that is not one of the lab's is kept as it is, with a note in the event log the first time."""
        state = as_state(state)
        if not isinstance(state, SessionState) and state not in self._unknown_states:
            self._unknown_states.add(state)
            self.log.event("log.warning", unknown_state_note(state))
        self.channel.set_state(state, message)  # what the assistant's own code reads back, at once
        if state == SessionState.READY and self.reply.hold_ready(message):
            return  # the reply is still playing: the reply pump reports "ready" once it has been heard
        self.reply.report_held()  # a "ready" held back comes first, so the states keep their order
        self._report(state, message)

    def _report_ready(self, message: str) -> None:
        self._report(SessionState.READY, message)

    def _report(self, state: str, message: str) -> None:
        """Make ``state`` the one the log, the runner's ``state`` and the panel show."""
        self.state = state
        self.log.state(state, message)
        if state == SessionState.PROCESSING:
            self.silence.turn_ended()
        mic = self.mic
        if state == SessionState.READY and mic is not None and not mic.started:
            try:
                mic.start_device()
            except Exception as error:  # e.g. AudioUnavailable: no microphone in this kernel
                self.state = SessionState.ERROR
                self.log.state(SessionState.ERROR, str(error))
                if self.task is not None:
                    self.task.cancel()
        self._notify("state")

    def _on_event(self, event: Any) -> None:
        if self._connection is None and self.assistant is not None:
            self._connection = self.assistant.connection
        self.silence.service_reacted()
        self.log.event(str(event.type), describe_event(event), response_id_of(event))
        self.transcripts.on_event(event)
        self._notify("event")

    def _on_log(self, level: str, text: str) -> None:
        """A log or status line the assistant broadcast: a row of the event log (``log.<level>``)."""
        if text:
            self.log.event(f"log.{level}", text)
            self._notify("event")


def _close(*devices: AudioInput | AudioOutput) -> None:
    for device in devices:
        try:
            device.close()
        except Exception:
            log.exception("closing %s failed", type(device).__name__)

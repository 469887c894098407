"""VoiceAssistant: the lab's assistant class, its three sections done right.

1. ``__init__`` and ``start()``: connect to Voice Live with the SDK.
2. ``build_session()`` / ``_configure_session()``: what the assistant asks of the session.
3. ``_handle_event()`` and the handlers: react to what the service sends.

It speaks the protocol and reports through callbacks. It opens no audio device and draws no widget;
the SessionRunner wires it to a microphone and a speaker.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType
from azure.ai.voicelive.aio import VoiceLiveConnection, connect
from azure.ai.voicelive.models import (
    AzureStandardVoice,
    InputAudioFormat,
    InputTextContentPart,
    Modality,
    OutputAudioFormat,
    RequestSession,
    ServerEvent,
    ServerEventType,
    ServerVad,
    UserMessageItem,
)

from .errors import explain_connection_error, explain_server_error, is_harmless_error

log = logging.getLogger("voicelive_lab.assistant")


class _OwnCloseFilter(logging.Filter):
    """Drops the SDK's warning about a CLOSING frame: it only means our own stop() closed the socket."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "Unexpected WebSocket message type: %s" and record.args == (WSMsgType.CLOSING,))


logging.getLogger("azure.ai.voicelive.aio._patch").addFilter(_OwnCloseFilter())

#: The lab's state names, each with what the learner is told.
STATE_MESSAGES = {
    "idle": "Press Start to begin a voice session.",
    "starting": "Connecting to Voice Live…",
    "ready": "Session ready: start speaking.",
    "listening": "Listening…",
    "processing": "Working on an answer…",
    "assistant_speaking": "The assistant is speaking; talk to interrupt.",
    "error": "Something went wrong.",
    "stopped": "Session ended.",
}
CONNECTION_OPTIONS = {"max_msg_size": 16 * 1024 * 1024, "heartbeat": 20, "close_timeout": 1.0}


@dataclass(frozen=True)
class TranscriptUpdate:
    """One change to a transcript line: the whole text so far, and whether the line is finished."""

    role: str  # "user" or "assistant"
    item_id: str
    text: str
    final: bool = False
    interrupted: bool = False


StateCallback = Callable[[str, str], None]
AudioCallback = Callable[[bytes], None]
TranscriptCallback = Callable[[TranscriptUpdate], None]
EventCallback = Callable[[ServerEvent], None]


def _ignore(*_: Any) -> None:
    return None


def voice_config(voice: str) -> AzureStandardVoice | str:
    """The lab's rule: a name with a dash (``en-US-AvaNeural``) is an Azure voice, else an OpenAI one."""
    return AzureStandardVoice(name=voice) if "-" in voice else voice


class VoiceAssistant:
    """One Voice Live session: connect, configure, then handle events until stopped."""

    # BEGIN VOICE LIVE ASSISTANT IMPLEMENTATION
    def __init__(self, endpoint: str, credential: Any, model: str, voice: str, instructions: str, **options: Any):
        """Keep the five settings the lab's assistant needs; ``options`` go to :meth:`set_options`."""
        self.endpoint = endpoint
        self.credential = credential
        self.model = model
        self.voice = voice
        self.instructions = instructions
        self.connection: VoiceLiveConnection | None = None
        self._stopping = False
        self.set_options(**options)

    async def start(self) -> None:
        """Connect, configure the session, and handle events until the session ends or ``stop()``."""
        self._stopping = False
        self._set_state("starting")
        try:
            async with connect(
                endpoint=self.endpoint,
                credential=self.credential,
                model=self.model,
                connection_options=CONNECTION_OPTIONS,
            ) as conn:
                self.connection = conn
                await self._configure_session(conn)
                async for event in conn:
                    await self._handle_event(event, conn)
                    if self._stopping or self.state == "error":
                        break
                close_code = _close_code(conn)
        except Exception as error:  # a failure to connect or a broken stream: say why, in plain words
            if not self._stopping:
                self._fail(explain_connection_error(error, self.endpoint))
            return
        finally:
            self.connection = None
        if self.state == "error":
            return
        if self._stopping:
            self._set_state("stopped")
        else:
            self._fail(f"The service closed the session (WebSocket close code {close_code}).")

    async def stop(self) -> None:
        """End the session now: close the socket instead of waiting for the next event."""
        self._stopping = True
        connection = self.connection
        if connection is not None:
            await connection.close()

    # END VOICE LIVE ASSISTANT IMPLEMENTATION

    def set_options(
        self,
        *,
        turn_detection: Any | None = None,
        on_state: StateCallback | None = None,
        on_audio: AudioCallback | None = None,
        on_interrupt: Callable[[], None] | None = None,
        on_transcript: TranscriptCallback | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        """How the assistant reports (callbacks) and detects turns; the kit's addition to the lab's class."""
        self.turn_detection = turn_detection or ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)
        self.on_state = on_state or _ignore
        self.on_audio = on_audio or _ignore
        self.on_interrupt = on_interrupt or _ignore
        self.on_transcript = on_transcript or _ignore
        self.on_event = on_event or _ignore
        self.state = "idle"
        self.last_error: str | None = None
        self._active_response_id: str | None = None
        self._interrupted_response_id: str | None = None
        self._assistant_text: dict[str, str] = {}

    async def append_audio(self, pcm: bytes) -> None:
        """Send microphone audio (24 kHz mono PCM16). The SDK wants it base64-encoded."""
        connection = self.connection
        if connection is not None and not self._stopping:
            await connection.input_audio_buffer.append(audio=base64.b64encode(pcm).decode("ascii"))

    async def send_text(self, text: str) -> None:
        """Type instead of speaking: add a user message and ask for a response."""
        connection = self.connection
        if connection is None:
            raise RuntimeError("The session is not connected yet.")
        await connection.conversation.item.create(item=UserMessageItem(content=[InputTextContentPart(text=text)]))
        await connection.response.create()

    async def interrupt(self) -> None:
        """Stop the assistant talking: flush playback, then cancel the response if one is running."""
        self.on_interrupt()
        connection, response_id = self.connection, self._active_response_id
        if connection is not None and response_id is not None:
            self._interrupted_response_id = response_id
            await connection.response.cancel(response_id=response_id)

    # BEGIN CONFIGURE VOICE LIVE SESSION
    def build_session(self) -> RequestSession:
        """What the assistant asks for: text and audio, its instructions and voice, PCM16, server VAD."""
        return RequestSession(
            modalities=[Modality.TEXT, Modality.AUDIO],
            instructions=self.instructions,
            voice=voice_config(self.voice),
            input_audio_format=InputAudioFormat.PCM16,
            output_audio_format=OutputAudioFormat.PCM16,
            turn_detection=self.turn_detection,
        )

    async def _configure_session(self, conn: VoiceLiveConnection) -> None:
        await conn.session.update(session=self.build_session())

    # END CONFIGURE VOICE LIVE SESSION

    # BEGIN HANDLE SESSION EVENTS
    async def _handle_event(self, event: ServerEvent, conn: VoiceLiveConnection) -> None:
        """Route each server event to its handler; every event is also reported as it is."""
        self.on_event(event)
        handlers: dict[str, Callable[[Any], Any]] = {
            ServerEventType.SESSION_UPDATED: lambda e: self._handle_session_updated(),
            ServerEventType.INPUT_AUDIO_BUFFER_SPEECH_STARTED: lambda e: self._handle_speech_started(conn),
            ServerEventType.INPUT_AUDIO_BUFFER_SPEECH_STOPPED: lambda e: self._handle_speech_stopped(),
            ServerEventType.RESPONSE_CREATED: self._handle_response_created,
            ServerEventType.RESPONSE_AUDIO_DELTA: self._handle_audio_delta,
            ServerEventType.RESPONSE_AUDIO_DONE: lambda e: self._handle_audio_done(),
            ServerEventType.RESPONSE_DONE: self._handle_response_done,
            ServerEventType.RESPONSE_AUDIO_TRANSCRIPT_DELTA: self._handle_assistant_text,
            ServerEventType.RESPONSE_TEXT_DELTA: self._handle_assistant_text,
            ServerEventType.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_COMPLETED: self._handle_user_transcript,
            ServerEventType.ERROR: self._handle_error,
        }
        handler = handlers.get(event.type)
        if handler is not None:
            result = handler(event)
            if result is not None:
                await result

    def _handle_session_updated(self) -> None:
        if self.state in ("starting", "idle"):
            self._set_state("ready")

    async def _handle_speech_started(self, conn: VoiceLiveConnection) -> None:
        # Decide from the state *before* changing it: the lab set "listening" first and so never cancelled.
        response_id = self._active_response_id
        self.on_interrupt()
        self._set_state("listening")
        if response_id is not None:
            self._interrupted_response_id = response_id
            await conn.response.cancel(response_id=response_id)  # only that one, never a newer reply

    def _handle_speech_stopped(self) -> None:
        self._set_state("processing")

    def _handle_response_created(self, event: Any) -> None:
        self._active_response_id = event.response.id

    def _handle_audio_delta(self, event: Any) -> None:
        if event.response_id is not None and event.response_id == self._interrupted_response_id:
            return  # audio that was already in flight when the user interrupted
        if self.state != "assistant_speaking":
            self._set_state("assistant_speaking")
        if isinstance(event.delta, bytes) and event.delta:
            self.on_audio(event.delta)

    def _handle_audio_done(self) -> None:
        if self.state == "assistant_speaking":
            self._set_state("ready")

    def _handle_response_done(self, event: Any) -> None:
        response = event.response
        if response.id == self._active_response_id:
            self._active_response_id = None
        cancelled = response.status == "cancelled"
        for item in response.output or []:
            text = self._assistant_text.pop(item.id, None)
            if text is not None:
                self.on_transcript(TranscriptUpdate("assistant", item.id, text, final=True, interrupted=cancelled))
        if self.state in ("processing", "assistant_speaking"):
            self._set_state("ready")

    def _handle_assistant_text(self, event: Any) -> None:
        if event.response_id is not None and event.response_id == self._interrupted_response_id:
            return
        text = self._assistant_text.get(event.item_id, "") + event.delta
        self._assistant_text[event.item_id] = text
        self.on_transcript(TranscriptUpdate("assistant", event.item_id, text))

    def _handle_user_transcript(self, event: Any) -> None:
        self.on_transcript(TranscriptUpdate("user", event.item_id, event.transcript or "", final=True))

    def _handle_error(self, event: Any) -> None:
        error = event.error
        if is_harmless_error(error):
            log.debug("ignored a harmless error: %s", error.code)
            return
        message, fatal = explain_server_error(error)
        if fatal:
            self._fail(message)
        else:
            self.last_error = message
            self.on_state(self.state, message)

    # END HANDLE SESSION EVENTS

    def _set_state(self, state: str, message: str | None = None) -> None:
        self.state = state
        self.on_state(state, message or STATE_MESSAGES[state])

    def _fail(self, message: str) -> None:
        self.last_error = message
        self._set_state("error", message)


def _close_code(conn: VoiceLiveConnection) -> int | None:
    """The WebSocket close code; the SDK keeps it on a private attribute (see the protocol notes)."""
    return getattr(getattr(conn, "_connection", None), "close_code", None)

"""Taking turns on the input side: VAD speech events, end-of-utterance judgment, filler words, barge-in, commits,
and turns the client marks itself (``input_audio.turn.*``).

Every decision is made on input-audio time (milliseconds of audio appended), never on the wall clock, so a client
that streams faster than real time gets the same events as one that streams in real time. When a decision needs
the words of the speech, the recognizer's answer is awaited inside the ``append`` handler: the session reads its
next client event only afterwards, so audio that arrives meanwhile waits in the socket (bounded by the socket's
own flow control) and is judged in order.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .client_events import ClientEventError
from .conversation import Conversation, user_message
from .hearing import Hearing, UserTurn
from .ids import IdFactory
from .input_audio import MAX_BUFFER_MS, InputAudio
from .pcm import decode_input, resample
from .recognizer import PlaceholderRecognizer, Recognizer, loaded_recognizer
from .responses import Sender
from .utterance_end import TURN_HINT_SENTENCES, end_of_utterance, is_finished, is_lone_filler
from .vad import FRAME_MS

log = logging.getLogger("voicelive_lab.mock")

MIN_COMMIT_MS = 100
#: Speech over a reply longer than this is no lone filler: it barges in without waiting for its words.
FILLER_MAX_MS = 700

Handler = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ResponseControl:
    """What turn taking may do to the session's responses."""

    active: Callable[[], bool]
    start: Callable[[dict[str, Any]], Awaitable[None]]
    #: ``cancel(reason, truncate)``
    cancel: Callable[[str, bool], Awaitable[None]]


@dataclass
class SpeechTurn:
    """The user's turn the VAD is hearing, from its first ``speech_started`` to its commit."""

    item_id: str
    start_ms: int
    #: ``speech_started`` was sent (it waits while speech over a reply may still be a lone filler).
    announced: bool = False
    #: Voice heard in the turn's finished stretches of speech.
    speech_ms: int = 0
    #: An unfinished phrase keeps the turn open until this input-audio time, unless speech resumes.
    held_until: float | None = None
    #: The VAD's speech span when the current stretch of speech began (to measure the stretch while it lasts).
    span_at_start: int = 0


@dataclass
class ClientTurn:
    """A turn the client opened with ``input_audio.turn.start``: its audio, at the rate it arrived."""

    turn_id: str
    chunks: list[tuple[np.ndarray, int]] = field(default_factory=list)
    ms: float = 0.0

    def add(self, samples: np.ndarray, rate: int) -> None:
        self.chunks.append((samples, rate))
        self.ms += len(samples) * 1000 / rate
        while self.ms > MAX_BUFFER_MS and len(self.chunks) > 1:
            dropped, dropped_rate = self.chunks.pop(0)
            self.ms -= len(dropped) * 1000 / dropped_rate

    def audio(self, rate: int) -> np.ndarray:
        parts = [samples if source == rate else resample(samples, source, rate) for samples, source in self.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class TurnTaker:
    """Turns the client's input audio into user items, as the session's turn detection says."""

    def __init__(
        self,
        session: Callable[[], dict[str, Any]],
        input_audio: InputAudio,
        conversation: Conversation,
        hearing: Hearing,
        send: Sender,
        ids: IdFactory,
        responses: ResponseControl,
        server_barge_in: bool = True,
        recognizer: Recognizer | None = None,
    ) -> None:
        self._session = session
        self._input = input_audio
        self._conversation = conversation
        self._hearing = hearing
        self._send = send
        self._ids = ids
        self._responses = responses
        self._server_barge_in = server_barge_in
        self._recognizer = recognizer
        self._turn: SpeechTurn | None = None
        self._client_turn: ClientTurn | None = None

    def handlers(self) -> dict[str, Handler]:
        return {
            "input_audio_buffer.append": self.on_append,
            "input_audio_buffer.commit": self.on_commit,
            "input_audio_buffer.clear": self.on_clear,
            "input_audio.turn.start": self.on_turn_start,
            "input_audio.turn.append": self.on_turn_append,
            "input_audio.turn.end": self.on_turn_end,
            "input_audio.turn.cancel": self.on_turn_cancel,
            "input_audio.clear": self.on_input_clear,
        }

    def reset(self) -> None:
        """The audio format or turn detection changed: start listening afresh."""
        self._input.reset()
        self._turn = None

    # ----------------------------------------------------------------- server turn detection

    async def on_append(self, event: dict[str, Any]) -> None:
        events = self._input.append(_audio_bytes(event))
        detection = self._session().get("turn_detection")
        if detection is None:
            return
        padding_ms = self._input.vad.settings.prefix_padding_ms
        for vad_event in events:
            onset_ms = vad_event.audio_ms + (padding_ms if vad_event.kind == "started" else 0)
            await self._end_held_turn(onset_ms, detection)
            if vad_event.kind == "started":
                await self._on_speech_started(vad_event.audio_ms, detection)
            else:
                await self._on_speech_stopped(vad_event.audio_ms, vad_event.speech_ms, detection)
        await self._end_held_turn(self._input.total_ms, detection)
        await self._barge_in_once_long_enough(detection)

    async def _on_speech_started(self, audio_start_ms: int, detection: dict[str, Any]) -> None:
        turn = self._turn
        if turn is not None and turn.held_until is not None:  # the unfinished phrase goes on: same turn
            turn.held_until = None
            turn.span_at_start = self._input.vad.speech_span_ms
            return
        turn = SpeechTurn(self._ids.new("item"), audio_start_ms, span_at_start=self._input.vad.speech_span_ms)
        self._turn = turn
        self._input.speech_item_id = turn.item_id
        self._input.speech_start_ms = audio_start_ms
        if detection.get("remove_filler_words") and self._responses.active():
            return  # over a reply, a lone "um" is ignored: wait for its words or its length
        await self._announce(turn, detection)

    async def _announce(self, turn: SpeechTurn, detection: dict[str, Any]) -> None:
        turn.announced = True
        await self._send("input_audio_buffer.speech_started", None, audio_start_ms=turn.start_ms, item_id=turn.item_id)
        barge_in = detection.get("interrupt_response", True) and self._server_barge_in
        if self._responses.active() and barge_in:
            await self._responses.cancel("turn_detected", bool(detection.get("auto_truncate")))

    async def _barge_in_once_long_enough(self, detection: dict[str, Any]) -> None:
        turn = self._turn
        if turn is None or turn.announced or not self._input.vad.in_speech:
            return
        stretch_ms = self._input.vad.speech_span_ms - turn.span_at_start + FRAME_MS
        if stretch_ms >= FILLER_MAX_MS:
            await self._announce(turn, detection)

    async def _on_speech_stopped(self, audio_end_ms: int, speech_ms: int, detection: dict[str, Any]) -> None:
        turn = self._turn
        if turn is None:  # the VAD's speech began before a reset: a turn of its own
            turn = SpeechTurn(self._ids.new("item"), self._input.speech_start_ms, announced=True)
            self._turn = turn
        quiet_frames = max(1, math.ceil(self._input.vad.settings.silence_duration_ms / FRAME_MS))
        speech_end_ms = audio_end_ms - FRAME_MS * quiet_frames  # the end of the last loud frame
        turn.speech_ms += speech_ms
        words: str | None = None
        judged = False
        if not turn.announced:
            words, judged = await self._words(turn.start_ms, speech_end_ms), True
            if self._responses.active() and is_lone_filler(words, speech_ms):
                self._turn = None
                self._input.speech_item_id = None
                return
            await self._announce(turn, detection)
        settings = end_of_utterance(detection)
        if settings is not None:
            if not judged:
                words = await self._words(turn.start_ms, speech_end_ms)
            if not is_finished(words, turn.speech_ms, settings) and speech_end_ms + settings.wait_ms > audio_end_ms:
                turn.held_until = speech_end_ms + settings.wait_ms
                return
        await self._end_turn(turn, audio_end_ms, detection)

    async def _end_held_turn(self, now_ms: float, detection: dict[str, Any]) -> None:
        """An unfinished phrase whose wait ran out (on input-audio time) ends its turn where the wait ended."""
        turn = self._turn
        if turn is not None and turn.held_until is not None and now_ms >= turn.held_until:
            await self._end_turn(turn, round(turn.held_until), detection)

    async def _end_turn(self, turn: SpeechTurn, audio_end_ms: int, detection: dict[str, Any]) -> None:
        await self._send("input_audio_buffer.speech_stopped", None, audio_end_ms=audio_end_ms, item_id=turn.item_id)
        audio = self._input.audio(turn.start_ms, audio_end_ms)
        await self._commit_audio(turn.item_id, turn.speech_ms, audio, self._input.rate)
        if detection.get("create_response", True):
            await self._responses.start({})

    async def _words(self, start_ms: float, end_ms: float) -> str | None:
        """What the recognizer hears in the buffered speech; None when it hears no words (the placeholder)."""
        recognizer = self._recognizer if self._recognizer is not None else await asyncio.to_thread(loaded_recognizer)
        if isinstance(recognizer, PlaceholderRecognizer):
            return None
        hints = self._hearing.hints()
        missing = tuple(sentence for sentence in TURN_HINT_SENTENCES if sentence not in hints.sentences)
        hints = dataclasses.replace(hints, sentences=hints.sentences + missing)
        audio = self._input.audio(start_ms, end_ms)
        try:
            return await asyncio.to_thread(recognizer.transcribe, audio, self._input.rate, hints)
        except Exception:
            log.exception("Practice recognizer failed while judging the end of a phrase")
            return None

    # ----------------------------------------------------------------- the input audio buffer

    async def on_commit(self, event: dict[str, Any]) -> None:
        if self._input.buffer_ms < MIN_COMMIT_MS:
            raise ClientEventError(
                f"Cannot commit the input audio buffer: it holds {self._input.buffer_ms:.0f} ms of audio, "
                f"at least {MIN_COMMIT_MS} ms are needed.",
                "input_audio_buffer_commit_empty",
            )
        item_id = self._input.speech_item_id or self._ids.new("item")
        await self._commit_audio(item_id, self._input.vad.speech_span_ms, self._input.audio(), self._input.rate)

    async def _commit_audio(self, item_id: str, speech_ms: int, audio: np.ndarray, rate: int) -> None:
        self.reset()
        await self._add_user_audio(item_id, speech_ms, audio, rate)

    async def _add_user_audio(self, item_id: str, speech_ms: int, audio: np.ndarray, rate: int) -> None:
        """A user message item of speech, as committed audio: ``committed``, ``item.created``, then hearing it."""
        number = self._conversation.next_turn_number()
        item = user_message(item_id, {"type": "input_audio", "transcript": None})
        turn = UserTurn(number, speech_ms=speech_ms, spoken=True)
        previous = self._conversation.add(item, turn)
        await self._send("input_audio_buffer.committed", None, previous_item_id=previous, item_id=item_id)
        await self._send("conversation.item.created", None, previous_item_id=previous, item=item)
        turn.heard = self._hearing.start(item, audio, rate, turn)

    async def on_clear(self, event: dict[str, Any]) -> None:
        self.reset()
        await self._send("input_audio_buffer.cleared")

    # ----------------------------------------------------------------- turns the client marks

    async def on_turn_start(self, event: dict[str, Any]) -> None:
        turn_id = _turn_id(event)
        if self._client_turn is not None:
            same = self._client_turn.turn_id == turn_id
            raise ClientEventError(
                f"The input audio turn '{turn_id}' is already open."
                if same
                else f"The input audio turn '{self._client_turn.turn_id}' is still open; end or cancel it first.",
                "input_audio_turn_already_started",
                "turn_id",
            )
        self._client_turn = ClientTurn(turn_id)

    async def on_turn_append(self, event: dict[str, Any]) -> None:
        turn = self._open_turn(event)
        samples = decode_input(_audio_bytes(event), str(self._session()["input_audio_format"]))
        turn.add(samples, self._input.rate)

    async def on_turn_end(self, event: dict[str, Any]) -> None:
        turn = self._open_turn(event)
        if turn.ms < MIN_COMMIT_MS:
            raise ClientEventError(
                f"Cannot end the input audio turn '{turn.turn_id}': it holds {turn.ms:.0f} ms of audio, "
                f"at least {MIN_COMMIT_MS} ms are needed.",
                "input_audio_turn_empty",
                "turn_id",
            )
        self._client_turn = None
        rate = self._input.rate
        await self._add_user_audio(self._ids.new("item"), round(turn.ms), turn.audio(rate), rate)
        if (self._session().get("turn_detection") or {}).get("create_response", True):
            await self._responses.start({})

    async def on_turn_cancel(self, event: dict[str, Any]) -> None:
        self._open_turn(event)
        self._client_turn = None

    async def on_input_clear(self, event: dict[str, Any]) -> None:
        """``input_audio.clear``: drop all input audio, the open client turn's as well as the buffer's."""
        self._client_turn = None
        self.reset()
        await self._send("input_audio_buffer.cleared")

    def _open_turn(self, event: dict[str, Any]) -> ClientTurn:
        turn_id = _turn_id(event)
        if self._client_turn is None or self._client_turn.turn_id != turn_id:
            raise ClientEventError(
                f"No input audio turn '{turn_id}' is open; send input_audio.turn.start first.",
                "input_audio_turn_not_found",
                "turn_id",
            )
        return self._client_turn


def _turn_id(event: dict[str, Any]) -> str:
    turn_id = event.get("turn_id")
    if turn_id is None:
        raise ClientEventError("Missing required field 'turn_id'.", "missing_required_parameter", "turn_id")
    if not isinstance(turn_id, str) or not turn_id.strip():
        raise ClientEventError("'turn_id' must be a non-empty string.", "invalid_type", "turn_id")
    return turn_id


def _audio_bytes(event: dict[str, Any], param: str = "audio") -> bytes:
    audio = event.get(param)
    if audio is None:
        raise ClientEventError(f"Missing required field '{param}'.", "missing_required_parameter", param)
    if not isinstance(audio, str):
        raise ClientEventError(f"'{param}' must be of type str.", "invalid_type", param)
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise ClientEventError(f"'{param}' must be base64-encoded audio bytes.", "invalid_value", param) from None

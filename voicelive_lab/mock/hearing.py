"""Hearing a user's committed speech: recognition off the event loop, then the transcription events.

The words are always recognized (the practice brain needs them); the transcription events go out when the
session asks for them, or when the model is a cascaded one that always transcribes, as the service does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .brain import known_sentences
from .mcp_demo import spoken_requests
from .recognizer import (
    DECODER_RATE,
    PlaceholderRecognizer,
    RecognitionHints,
    Recognizer,
    loaded_recognizer,
    placeholder_transcript,
)
from .replies import ReplyScript
from .responses import Sender
from .speech import describe_voice_engine, split_pieces, synthesize
from .tools import sentences_for_tools
from .utterance_end import TURN_HINT_SENTENCES, end_of_utterance, spoken_words

log = logging.getLogger("voicelive_lab.mock")


@dataclass
class UserTurn:
    number: int
    text: str = ""
    speech_ms: int = 0
    spoken: bool = False
    #: For speech: the recognition under way; ``text`` holds the words once it is done.
    heard: asyncio.Task[str] | None = None


_process_models_warm = threading.Event()


def models_warm(recognizer: Recognizer | None) -> bool:
    """True once the process's own recognizer and voice are loaded (a recognizer passed in is never assumed so)."""
    return recognizer is None and _process_models_warm.is_set()


def warm_up(recognizer: Recognizer | None) -> None:
    """Load the recognizer and the voice, and build the practice language model, before anyone speaks.

    For the process's own models this is done once; later calls return at once.
    """
    if models_warm(recognizer):
        return
    heard_by = recognizer or loaded_recognizer()
    heard_by.transcribe(
        np.zeros(DECODER_RATE // 2, dtype=np.float32), DECODER_RATE, RecognitionHints(known_sentences())
    )
    synthesize("Hello.")
    if recognizer is None:
        _process_models_warm.set()


def describe_speech_parts() -> str:
    """Which recognizer and voice the practice server uses on this machine (loads them if need be)."""
    return f"Practice recognizer: {loaded_recognizer().name}\nPractice voice: {describe_voice_engine()}"


class Hearing:
    """One session's ears. ``start`` returns a task whose result is the words heard."""

    def __init__(
        self,
        send: Sender,
        recognizer: Recognizer | None,
        script: ReplyScript,
        session: Callable[[], dict[str, Any]],
    ) -> None:
        self._send = send
        self._recognizer = recognizer
        self._script = script
        self._session = session
        self._tasks: set[asyncio.Task[str]] = set()
        self._warned_language: str | None = None
        #: False once the recognizer turned out to be the placeholder: the words of speech are unknown.
        self.hears_words = True

    def start(self, item: dict[str, Any], audio: np.ndarray, sample_rate: int, turn: UserTurn) -> asyncio.Task[str]:
        task = asyncio.create_task(self._hear(item, audio, sample_rate, turn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def hints(self) -> RecognitionHints:
        session = self._session()
        options = session.get("input_audio_transcription") or {}
        detection = session.get("turn_detection") or {}
        judges_words = end_of_utterance(detection) is not None or bool(detection.get("remove_filler_words"))
        return RecognitionHints(
            sentences=known_sentences()
            + sentences_for_tools(session.get("tools") or [])
            + spoken_requests(session.get("tools") or [])
            # a session that judges words ("and…", "um") writes the words it judged in its transcripts too
            + (TURN_HINT_SENTENCES if judges_words else ()),
            phrases=tuple(options.get("phrase_list") or ()),
            language=str(options.get("language") or "en-US"),
        )

    async def _hear(self, item: dict[str, Any], audio: np.ndarray, sample_rate: int, turn: UserTurn) -> str:
        hints = self.hints()
        recognizer = self._recognizer if self._recognizer is not None else await asyncio.to_thread(loaded_recognizer)
        if isinstance(recognizer, PlaceholderRecognizer) and self.hears_words:
            self.hears_words = False
            await self._warn(
                "practice_recognizer_unavailable",
                "The practice server has no speech recognizer here (pocketsphinx did not load), so transcripts "
                "give the length of the speech, not its words.",
                None,
            )
        scripted = self._script.scripted(turn.number)
        try:
            if isinstance(recognizer, PlaceholderRecognizer):  # what VAD measured, not the padded audio
                words = (
                    scripted.user if scripted is not None and scripted.user else placeholder_transcript(turn.speech_ms)
                )
            else:
                words = await asyncio.to_thread(recognizer.transcribe, audio, sample_rate, hints)
        except Exception as error:
            log.exception("Practice recognizer failed on item %s", item["id"])
            if self._transcribes():
                await self._send(
                    "conversation.item.input_audio_transcription.failed",
                    None,
                    item_id=item["id"],
                    content_index=0,
                    error={"type": "server_error", "code": "transcription_failed", "message": str(error)},
                )
            return ""
        words = spoken_words(words, self._session())  # turn_detection.remove_filler_words (utterance_end.py)
        if self._transcribes():
            await self._announce(item, words, hints.language)
        return words

    async def _announce(self, item: dict[str, Any], words: str, language: str) -> None:
        if not language.lower().startswith("en") and self._warned_language != language:
            self._warned_language = language
            await self._warn(
                "practice_language_not_supported",
                f"The practice recognizer knows US English only; '{language}' speech is written as the English "
                "words it sounds closest to.",
                "session.input_audio_transcription.language",
            )
        ids = {"item_id": item["id"], "content_index": 0}
        for piece in split_pieces(words):
            await self._send("conversation.item.input_audio_transcription.delta", None, **ids, delta=piece)
        item["content"][0]["transcript"] = words
        await self._send("conversation.item.input_audio_transcription.completed", None, **ids, transcript=words)

    async def _warn(self, code: str, message: str, param: str | None) -> None:
        await self._send("warning", None, warning={"code": code, "message": message, "param": param})

    def _transcribes(self) -> bool:
        """Cascaded models always transcribe; realtime models only when transcription is configured."""
        session = self._session()
        return session.get("input_audio_transcription") is not None or "realtime" not in str(session.get("model"))

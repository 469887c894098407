"""The input audio buffer of one session: what was appended, on input-audio time, and the VAD that hears it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from .pcm import bytes_per_ms, decode_input, input_rate
from .vad import EnergyVad, VadEvent, VadSettings

#: The buffer keeps at most this much audio for the recognizer (older audio is dropped).
MAX_BUFFER_MS = 60_000


class InputAudio:
    """Appended audio since the last commit or clear, and the session's input-audio clock."""

    def __init__(self, session: Callable[[], dict[str, Any]]) -> None:
        self._session = session
        #: Milliseconds of audio received in the whole session (the clock of ``audio_start_ms``).
        self.total_ms = 0.0
        self.buffer_ms = 0.0
        self._chunks: deque[np.ndarray] = deque()
        self._start_ms = 0.0
        #: The user item the current speech will become (set at ``speech_started``).
        self.speech_item_id: str | None = None
        self.speech_start_ms = 0
        self.vad = self._new_vad()

    @property
    def rate(self) -> int:
        session = self._session()
        return input_rate(str(session["input_audio_format"]), int(session["input_audio_sampling_rate"]))

    def reset(self) -> None:
        """Empty the buffer (commit, clear, or a change of format or turn detection)."""
        self.buffer_ms = 0.0
        self._chunks = deque()
        self._start_ms = self.total_ms
        self.speech_item_id = None
        self.vad = self._new_vad()

    def append(self, raw: bytes) -> list[VadEvent]:
        """Add wire bytes; returns what the VAD heard in them."""
        audio_format = str(self._session()["input_audio_format"])
        rate = self.rate
        ms = len(raw) / bytes_per_ms(audio_format, rate)
        samples = decode_input(raw, audio_format)
        self.total_ms += ms
        self.buffer_ms += ms
        self._chunks.append(samples)
        while self.buffer_ms > MAX_BUFFER_MS and len(self._chunks) > 1:
            dropped_ms = len(self._chunks.popleft()) * 1000 / rate
            self._start_ms += dropped_ms
            self.buffer_ms -= dropped_ms
        return self.vad.feed(samples)

    def audio(self, start_ms: float | None = None, end_ms: float | None = None) -> np.ndarray:
        """The buffered audio (float, at the input rate) between two input-audio times."""
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        rate = self.rate
        first = 0 if start_ms is None else max(0, round((start_ms - self._start_ms) * rate / 1000))
        last = len(audio) if end_ms is None else max(first, round((end_ms - self._start_ms) * rate / 1000))
        return audio[first:last]

    def _new_vad(self) -> EnergyVad:
        detection = self._session().get("turn_detection") or {}
        settings = VadSettings(
            threshold=float(detection.get("threshold", 0.5)),
            prefix_padding_ms=int(detection.get("prefix_padding_ms", 300)),
            silence_duration_ms=int(detection.get("silence_duration_ms", 500)),
            min_speech_ms=int(detection.get("speech_duration_ms") or VadSettings.min_speech_ms),
        )
        return EnergyVad(settings, self.rate, start_ms=self.total_ms)

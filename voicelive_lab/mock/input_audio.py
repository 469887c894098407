"""The input audio buffer of one session: what was appended, on input-audio time, and the VAD that hears it.

Appended audio goes through the session's input processing a 20 ms frame at a time before it is buffered or
heard: the DC blocker always, then echo cancellation and noise reduction when the session turns them on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .echo import EchoCanceller
from .noise_reduction import NoiseSuppressor
from .pcm import DEFAULT_INPUT_RATE, G711_RATE, bytes_per_ms, decode_input, input_rate, is_g711
from .vad import DcBlocker, EnergyVad, VadEvent, VadSettings, frame_length

#: The buffer keeps at most this much audio for the recognizer (older audio is dropped).
MAX_BUFFER_MS = 60_000


@dataclass(frozen=True)
class Processing:
    """The session settings input processing depends on; a change starts it afresh."""

    audio_format: str
    rate: int
    noise_reduction: bool
    echo_cancellation: bool
    #: The client sends its own echo reference as the second channel of stereo input.
    client_reference: bool

    @classmethod
    def of(cls, session: dict[str, Any]) -> Processing:
        audio_format = str(session["input_audio_format"])
        echo = session.get("input_audio_echo_cancellation")
        echo = echo if isinstance(echo, dict) else None
        return cls(
            audio_format=audio_format,
            rate=input_rate(audio_format, int(session["input_audio_sampling_rate"])),
            noise_reduction=bool(session.get("input_audio_noise_reduction")),
            echo_cancellation=echo is not None,
            client_reference=echo is not None and echo.get("reference_source") == "client",
        )

    @property
    def channels(self) -> int:
        return 2 if self.client_reference else 1


class InputChain:
    """DC blocker, echo canceller and noise suppressor for one input stream; whole frames in, whole frames out."""

    def __init__(self, processing: Processing, start_ms: float) -> None:
        self.processing = processing
        self.frame_len = frame_length(processing.rate)
        frame_ms = self.frame_len * 1000 / processing.rate
        self._dc = DcBlocker(processing.rate)
        self.echo = EchoCanceller(processing.rate, start_ms) if processing.echo_cancellation else None
        self._noise = NoiseSuppressor(self.frame_len, frame_ms) if processing.noise_reduction else None
        #: Received samples not yet a whole frame.
        self.pending = np.zeros(0, dtype=np.float32)
        #: Bytes of a sample (or of a stereo pair) split across two appends.
        self.carry = b""
        self._sample_bytes = (1 if is_g711(processing.audio_format) else 2) * processing.channels

    @property
    def pending_ms(self) -> float:
        return len(self.pending) * 1000 / self.processing.rate

    def whole_samples(self, raw: bytes) -> bytes:
        """``raw`` after the bytes left over from the last append, cut to whole samples (the rest waits)."""
        data = self.carry + raw
        usable = len(data) - len(data) % self._sample_bytes
        self.carry = data[usable:]
        return data[:usable]

    def process(self, samples: np.ndarray) -> np.ndarray:
        data = np.concatenate([self.pending, samples]) if len(self.pending) else samples
        whole = len(data) - len(data) % self.frame_len
        self.pending = data[whole:].copy()
        frames = self._dc.filter(data[:whole])
        if self.echo is not None:
            frames = self.echo.clean(frames)
        if self._noise is not None:
            frames = self._noise.process(frames)
        return frames


class InputAudio:
    """Appended audio since the last commit or clear, and the session's input-audio clock."""

    def __init__(self, session: Callable[[], dict[str, Any]]) -> None:
        self._session = session
        #: Milliseconds of audio received in the whole session (the clock of ``audio_start_ms``).
        self.total_ms = 0.0
        self.buffer_ms = 0.0
        self._chunks: deque[np.ndarray] = deque()
        self._chain = InputChain(Processing.of(session()), 0.0)
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
        """Empty the buffer (commit, clear, or a change of format or turn detection).

        Input processing keeps its state (a reply may still be echoing); a part frame received but not yet
        processed starts the new buffer.
        """
        self._refresh_chain()
        self.buffer_ms = 0.0
        self._chunks = deque()
        self._start_ms = self.total_ms - self._chain.pending_ms
        self.speech_item_id = None
        self.vad = self._new_vad()

    def append(self, raw: bytes) -> list[VadEvent]:
        """Add wire bytes; returns what the VAD heard in them."""
        if self._refresh_chain():
            self.reset()
        processing = self._chain.processing
        ms = len(raw) / bytes_per_ms(processing.audio_format, processing.rate, processing.channels)
        samples = decode_input(self._chain.whole_samples(raw), processing.audio_format)
        if processing.channels == 2:
            stereo = samples.reshape(-1, 2)
            samples = stereo[:, 0]
            if self._chain.echo is not None:
                self._chain.echo.remember_reference(stereo[:, 1], self.total_ms)
        self.total_ms += ms
        self.buffer_ms += ms
        cleaned = self._chain.process(samples)
        self._chunks.append(cleaned)
        while self.buffer_ms > MAX_BUFFER_MS and len(self._chunks) > 1:
            dropped_ms = len(self._chunks.popleft()) * 1000 / processing.rate
            self._start_ms += dropped_ms
            self.buffer_ms -= dropped_ms
        return self.vad.feed(cleaned)

    def remember_output(self, samples: np.ndarray, rate: int) -> None:
        """Reply audio just sent to the client: what its microphone may pick up again."""
        echo = self._chain.echo
        if echo is not None and not self._chain.processing.client_reference:
            echo.remember_output(samples, rate, self.total_ms)

    def output_stopped(self) -> None:
        """The reply was cancelled: the client stops playing it, so its unplayed audio will not echo."""
        if self._chain.echo is not None:
            self._chain.echo.forget_unplayed(self.total_ms)

    def audio(self, start_ms: float | None = None, end_ms: float | None = None) -> np.ndarray:
        """The buffered audio (float, at the input rate, processed) between two input-audio times."""
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        rate = self._chain.processing.rate
        first = 0 if start_ms is None else max(0, round((start_ms - self._start_ms) * rate / 1000))
        last = len(audio) if end_ms is None else max(first, round((end_ms - self._start_ms) * rate / 1000))
        return audio[first:last]

    def _refresh_chain(self) -> bool:
        """Start input processing afresh if its settings changed; True if the audio itself changed too.

        Turning noise reduction or echo cancellation on or off keeps the buffer and the part frame; a new
        format, rate or channel count makes what came before unusable.
        """
        old, new = self._chain.processing, Processing.of(self._session())
        if new == old:
            return False
        same_audio = (new.audio_format, new.rate, new.channels) == (old.audio_format, old.rate, old.channels)
        chain = InputChain(new, self.total_ms - (self._chain.pending_ms if same_audio else 0.0))
        if same_audio:
            chain.pending, chain.carry = self._chain.pending, self._chain.carry
        self._chain = chain
        return not same_audio

    def _new_vad(self) -> EnergyVad:
        detection = self._session().get("turn_detection") or {}
        settings = VadSettings(
            threshold=float(detection.get("threshold", 0.5)),
            prefix_padding_ms=int(detection.get("prefix_padding_ms", 300)),
            silence_duration_ms=int(detection.get("silence_duration_ms", 500)),
            min_speech_ms=int(detection.get("speech_duration_ms") or VadSettings.min_speech_ms),
        )
        return EnergyVad(settings, self._chain.processing.rate, start_ms=self._start_ms)


def effective_sampling_rate(session: dict[str, Any], previous: dict[str, Any], rate_given: bool) -> int:
    """The input rate ``session.updated`` shows: 8000 for G.711, whatever the field says.

    Leaving G.711 for PCM16 without naming a rate goes back to the default 24 kHz rather than keep 8000, which
    only stood for G.711.
    """
    if is_g711(str(session["input_audio_format"])):
        return G711_RATE
    if not rate_given and is_g711(str(previous["input_audio_format"])):
        return DEFAULT_INPUT_RATE
    return int(session["input_audio_sampling_rate"])

"""Energy-based voice activity detection on input-audio time, the way the practice server hears a turn.

Time is measured in milliseconds of audio received (bytes appended), never wall clock, so a client that
streams faster than real time gets the same events as one that streams in real time.

Loudness is measured after a DC blocker: a constant offset is not sound. That matters for G.711, where a
client that fills silence with zero bytes sends a full-scale constant in µ-law (0x00 decodes to -32124), and
for microphones and converters whose PCM sits a little off zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

FRAME_MS = 20
#: The DC blocker's corner: low enough to keep a deep voice's fundamental (85 Hz and up) nearly whole, high
#: enough that a jump in the offset (silence bytes to speech and back) dies away within one 20 ms frame.
DC_CUTOFF_HZ = 50.0
#: ``threshold`` 0.0 .. 1.0 maps linearly onto this loudness range (dBFS, RMS of a 20 ms frame).
QUIETEST_THRESHOLD_DB = -70.0
LOUDEST_THRESHOLD_DB = -10.0
#: Once speech has started, a frame must fall this far below the start level to count as quiet.
HYSTERESIS_DB = 6.0
DEFAULT_MIN_SPEECH_MS = 60


def frame_length(sample_rate: int) -> int:
    """Samples in one 20 ms frame. Whole at every rate the service takes: 160 at 8 kHz, 441 at 22.05 kHz,
    882 at 44.1 kHz, 960 at 48 kHz."""
    return max(1, round(sample_rate * FRAME_MS / 1000))


def threshold_to_db(threshold: float) -> float:
    return QUIETEST_THRESHOLD_DB + (LOUDEST_THRESHOLD_DB - QUIETEST_THRESHOLD_DB) * threshold


def frame_levels_db(samples: np.ndarray, frame_len: int) -> np.ndarray:
    """RMS level in dBFS of each whole frame of ``samples``."""
    frames = samples[: len(samples) - len(samples) % frame_len].reshape(-1, frame_len).astype(np.float64)
    rms = np.sqrt(np.mean(frames * frames, axis=1)) if len(frames) else np.zeros(0)
    return 20.0 * np.log10(np.maximum(rms, 1e-9))


class DcBlocker:
    """A one-pole high-pass filter, ``y[n] = a·(y[n-1] + x[n] - x[n-1])``, that keeps its state across calls.

    It starts settled on the first sample it sees, so a stream that opens on a constant offset (µ-law zero
    bytes) starts silent instead of with a click.
    """

    def __init__(self, sample_rate: int, cutoff_hz: float = DC_CUTOFF_HZ) -> None:
        self._pole = math.exp(-2.0 * math.pi * cutoff_hz / sample_rate)
        #: Samples per step of the closed form below: a^-block stays under e^8, so float64 keeps 12 digits.
        self._block = max(1, int(8.0 / (2.0 * math.pi * cutoff_hz / sample_rate)))
        self._last_input: float | None = None
        self._last_output = 0.0

    def filter(self, samples: np.ndarray) -> np.ndarray:
        if not len(samples):
            return samples.astype(np.float32)
        x = samples.astype(np.float64)
        if self._last_input is None:
            self._last_input = float(x[0])
        steps = np.diff(x, prepend=self._last_input)
        # The recursion in closed form, y[n] = a^(n+1)·(y[-1] + sum_k a^-k·steps[k]), a block at a time.
        out = np.empty_like(x)
        block = self._block
        for first in range(0, len(x), block):
            part = steps[first : first + block]
            powers = self._pole ** np.arange(1, len(part) + 1)
            out[first : first + len(part)] = powers * (self._last_output + np.cumsum(part / powers * self._pole))
            self._last_output = float(out[first + len(part) - 1])
        self._last_input = float(x[-1])
        return out.astype(np.float32)


@dataclass(frozen=True)
class VadEvent:
    kind: Literal["started", "stopped"]
    audio_ms: int
    #: For "stopped": how long the voice was heard, first loud frame to last loud frame.
    speech_ms: int = 0


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    min_speech_ms: int = DEFAULT_MIN_SPEECH_MS


class EnergyVad:
    """Feeds on float samples; reports speech start and stop in input-audio milliseconds."""

    def __init__(self, settings: VadSettings, sample_rate: int, start_ms: float = 0.0) -> None:
        self.settings = settings
        self._frame_len = frame_length(sample_rate)
        # Time from the frame's samples, not FRAME_MS, so the clock could not drift at a rate where 20 ms
        # is not a whole number of samples.
        self._frame_ms = self._frame_len * 1000 / sample_rate
        self._pending = np.zeros(0, dtype=np.float32)
        self._frame_index = 0
        self._start_ms = start_ms
        self._on_db = threshold_to_db(settings.threshold)
        self._off_db = self._on_db - HYSTERESIS_DB
        self._loud_run = 0
        self._quiet_run = 0
        self._in_speech = False
        self._speech_start_ms = 0.0
        self._last_loud_end_ms = 0.0
        self._first_loud_ms: float | None = None

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def speech_span_ms(self) -> int:
        """First loud frame to last loud frame of everything fed so far (0 when all was quiet)."""
        if self._first_loud_ms is None:
            return 0
        return round(self._last_loud_end_ms - self._first_loud_ms)

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        whole = len(data) - len(data) % self._frame_len
        self._pending = data[whole:].copy()
        events: list[VadEvent] = []
        for level in frame_levels_db(data[:whole], self._frame_len):
            frame_start = self._start_ms + self._frame_index * self._frame_ms
            self._frame_index += 1
            event = self._step(level, frame_start)
            if event is not None:
                events.append(event)
        return events

    def _step(self, level: float, frame_start: float) -> VadEvent | None:
        frame_end = frame_start + self._frame_ms
        if not self._in_speech:
            if level >= self._on_db:
                self._loud_run += 1
                if self._first_loud_ms is None:
                    self._first_loud_ms = frame_start
                if self._loud_run == 1:
                    self._speech_start_ms = frame_start
                self._last_loud_end_ms = frame_end
                if self._loud_run * self._frame_ms >= max(self.settings.min_speech_ms, self._frame_ms):
                    self._in_speech = True
                    self._quiet_run = 0
                    start = max(0.0, self._speech_start_ms - self.settings.prefix_padding_ms)
                    return VadEvent("started", round(start))
            else:
                self._loud_run = 0
            return None
        if level >= self._off_db:
            self._quiet_run = 0
            self._last_loud_end_ms = frame_end
            return None
        self._quiet_run += 1
        if self._quiet_run * self._frame_ms >= self.settings.silence_duration_ms:
            self._in_speech = False
            self._loud_run = 0
            speech_ms = round(self._last_loud_end_ms - self._speech_start_ms)
            return VadEvent("stopped", round(frame_end), speech_ms)
        return None

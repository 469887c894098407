"""Server echo cancellation: the reply coming back through the learner's microphone is not the learner speaking.

The canceller keeps the last seconds of reply audio (the *reference*) on the input-audio clock, at the input
rate, laid out as a client plays it: a reply's chunks back to back from when its first chunk was sent. For
each 20 ms input frame it looks for the reference delay, 0 to 500 ms, at which the last 80 ms of input match
the reference best (normalized cross-correlation). If the frame itself correlates strongly with the
reference at that delay, the frame is echo: the scaled reference is subtracted and what is left is turned
down by 26 dB, so the VAD hears silence. Frames where the learner speaks over the reply correlate weakly and
pass unchanged, so a real barge-in still gets through.
"""

from __future__ import annotations

import numpy as np

from .vad import frame_length

#: Where the echo may come back, after the reference says the audio played.
MAX_DELAY_MS = 500
#: The stretch of input matched against the reference to find the delay.
ANALYSIS_MS = 80
#: Reference audio kept ahead of the input (a reply streamed faster than real time waits here).
MAX_QUEUED_MS = 120_000
#: A frame is echo when it correlates with the reference at least this well (|r| from 0 to 1).
ECHO_CORRELATION = 0.6
#: What is left of an echo frame after the scaled reference is subtracted is turned down by this much.
ECHO_SUPPRESSION = 0.05
#: Input or reference quieter than this (mean power, about -70 dBFS) is not worth matching.
QUIET_POWER = 1e-7


class _LinearResampler:
    """Resamples a stream chunk by chunk without a seam between chunks (linear interpolation)."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        self.source_rate = source_rate
        self._step = source_rate / target_rate
        self._identity = source_rate == target_rate
        self._last: float | None = None
        #: Where the next output sample falls, in source samples from the next chunk's first sample.
        self._next = 0.0

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        if self._identity or not len(chunk):
            return chunk.astype(np.float32)
        data = chunk.astype(np.float64) if self._last is None else np.concatenate([[self._last], chunk])
        offset = 0 if self._last is None else 1
        last_time = len(chunk) - 1
        count = int(np.floor((last_time - self._next) / self._step)) + 1 if self._next <= last_time else 0
        times = self._next + np.arange(count) * self._step + offset
        out = np.interp(times, np.arange(len(data)), data)
        self._next += count * self._step - len(chunk)
        self._last = float(chunk[-1])
        return out.astype(np.float32)


class EchoCanceller:
    """Echo cancellation for one input stream at ``rate``; ``start_ms`` is the input clock at its first sample."""

    def __init__(self, rate: int, start_ms: float = 0.0) -> None:
        self.rate = rate
        self._start_ms = start_ms
        self._frame_len = frame_length(rate)
        self._window = max(self._frame_len, round(rate * ANALYSIS_MS / 1000))
        self._max_delay = round(rate * MAX_DELAY_MS / 1000)
        #: Input samples cleaned so far (the position of the next one).
        self._position = 0
        self._history = np.zeros(self._window, dtype=np.float32)
        #: Reference samples for input positions ``_reference_start`` onwards.
        self._reference = np.zeros(0, dtype=np.float32)
        self._reference_start = 0
        self._resampler: _LinearResampler | None = None

    @property
    def _reference_end(self) -> int:
        return self._reference_start + len(self._reference)

    def remember_output(self, samples: np.ndarray, rate: int, at_input_ms: float) -> None:
        """Reply audio at ``rate``, sent when the input clock read ``at_input_ms``; it plays after what is queued.

        Sent after the queue ran dry for longer than the delay search reaches, it starts a new stretch instead.
        """
        at = self._index(at_input_ms)
        new_stretch = not len(self._reference) or at > self._reference_end + self._max_delay
        if new_stretch or self._resampler is None or self._resampler.source_rate != rate:
            self._resampler = _LinearResampler(rate, self.rate)
        self._place(self._resampler(samples), at if new_stretch else self._reference_end)

    def remember_reference(self, samples: np.ndarray, at_input_ms: float) -> None:
        """The client's own reference channel (stereo input): already at the input rate and aligned."""
        self._place(samples.astype(np.float32), self._index(at_input_ms))

    def forget_unplayed(self, at_input_ms: float) -> None:
        """The client stopped playback (the reply was cancelled): reference past this point never plays."""
        keep = max(0, min(len(self._reference), self._index(at_input_ms) - self._reference_start))
        self._reference = self._reference[:keep]
        self._resampler = None

    def clean(self, samples: np.ndarray) -> np.ndarray:
        """The input with reply echo turned down; the same length as ``samples``."""
        out = np.asarray(samples, dtype=np.float32).copy()
        for start in range(0, len(out), self._frame_len):
            block = out[start : start + self._frame_len]
            self._history = np.concatenate([self._history, block])[-self._window :]
            self._position += len(block)
            heard_from = self._position - self._window - self._max_delay
            if self._reference_start < self._position and self._reference_end > heard_from:
                out[start : start + len(block)] = self._cancel(block)
        self._drop_old_reference()
        return out

    def _cancel(self, block: np.ndarray) -> np.ndarray:
        """``block`` (the newest input, also the end of ``_history``) with its echo removed, if it is echo."""
        window = self._history.astype(np.float64)
        window_power = float(np.mean(window * window))
        if window_power < QUIET_POWER or float(np.mean(block.astype(np.float64) ** 2)) < QUIET_POWER:
            return block
        segment = self._reference_slice(self._position - self._window - self._max_delay, self._position)
        lag = self._best_lag(window, segment)
        if lag is None:
            return block
        end = lag + self._window
        reference = segment[end - len(block) : end]
        x = block.astype(np.float64)
        reference_energy = float(np.dot(reference, reference))
        if reference_energy < QUIET_POWER * len(block):
            return block
        overlap = float(np.dot(x, reference))
        correlation = overlap / np.sqrt(reference_energy * float(np.dot(x, x)))
        if abs(correlation) < ECHO_CORRELATION:
            return block
        residual = x - (overlap / reference_energy) * reference
        return (residual * ECHO_SUPPRESSION).astype(np.float32)

    def _best_lag(self, window: np.ndarray, segment: np.ndarray) -> int | None:
        """The offset into ``segment`` where ``window`` matches best (normalized), None if nothing is there."""
        lags = len(segment) - len(window) + 1
        sums = np.concatenate([[0.0], np.cumsum(segment * segment)])
        energies = sums[len(window) : len(window) + lags] - sums[:lags]
        audible = energies > QUIET_POWER * len(window)
        if not audible.any():
            return None
        size = 1 << int(np.ceil(np.log2(len(segment) + len(window))))
        products = np.fft.irfft(np.fft.rfft(segment, size) * np.conj(np.fft.rfft(window, size)), size)
        scores = np.where(audible, np.abs(products[:lags]) / np.sqrt(np.maximum(energies, 1e-30)), 0.0)
        return int(np.argmax(scores))

    def _reference_slice(self, first: int, last: int) -> np.ndarray:
        """Reference for input positions ``first`` to ``last`` (silence where none is kept), as float64."""
        out = np.zeros(last - first, dtype=np.float64)
        begin, end = max(first, self._reference_start), min(last, self._reference_end)
        if begin < end:
            kept = self._reference_start
            out[begin - first : end - first] = self._reference[begin - kept : end - kept]
        return out

    def _place(self, samples: np.ndarray, at: int) -> None:
        if len(self._reference) and at < self._reference_start:
            samples, at = samples[self._reference_start - at :], self._reference_start
        if not len(self._reference):
            self._reference_start = at
            self._reference = samples
        else:
            gap = np.zeros(max(0, at - self._reference_end), dtype=np.float32)
            self._reference = np.concatenate([self._reference[: max(0, at - self._reference_start)], gap, samples])
        room = self._position + round(self.rate * MAX_QUEUED_MS / 1000) - self._reference_start
        self._reference = self._reference[: max(0, room)]
        self._drop_old_reference()

    def _drop_old_reference(self) -> None:
        oldest = self._position - self._window - self._max_delay
        if oldest > self._reference_start:
            self._reference = self._reference[oldest - self._reference_start :]
            self._reference_start = oldest

    def _index(self, input_ms: float) -> int:
        return round((input_ms - self._start_ms) * self.rate / 1000)

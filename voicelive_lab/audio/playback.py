"""PlaybackBuffer: the jitter buffer between streamed audio deltas and a device's fixed-size reads."""

from __future__ import annotations

import threading

from .byte_queue import ByteQueue
from .pcm import SAMPLE_RATE, SAMPLE_WIDTH, bytes_per_ms

#: Audio that arrives within this long after playback ran dry counts as the same stream, so the silence the
#: listener heard was an underrun (a stutter); a longer silence is a pause between utterances.
UNDERRUN_GAP_MS = 500.0


class PlaybackBuffer:
    """A bounded, thread-safe PCM16 queue: writers append deltas, a device callback reads exact blocks.

    After being empty it holds audio back until ``start_threshold_ms`` is queued (or the first held audio
    has waited that long), then plays down to empty. Reads never allocate more than their own result and
    never join the whole queue: chunks are kept as written and copied out with an offset into the first.

    ``underruns`` counts the times playback ran dry and more audio then arrived within ``UNDERRUN_GAP_MS``:
    the listener heard a gap inside a stream. The ordinary end of an utterance is not an underrun, and
    neither is ``clear()``.
    """

    def __init__(self, *, start_threshold_ms: float = 40, max_ms: float = 60_000, sample_rate: int = SAMPLE_RATE):
        if start_threshold_ms < 0 or max_ms <= 0 or sample_rate <= 0:
            raise ValueError("start_threshold_ms must be >= 0; max_ms and sample_rate must be > 0")
        self.sample_rate = sample_rate
        self._bytes_per_ms = bytes_per_ms(sample_rate)
        self._threshold = _whole_samples(start_threshold_ms * self._bytes_per_ms)
        self._queue = ByteQueue(max(_whole_samples(max_ms * self._bytes_per_ms), SAMPLE_WIDTH), SAMPLE_WIDTH)
        self._gap = _whole_samples(UNDERRUN_GAP_MS * self._bytes_per_ms)
        self._lock = threading.Lock()
        self._odd = b""  # a trailing odd byte, kept to pair with the next write
        self._playing = False
        self._held = 0  # bytes of silence read while audio was held back for the threshold
        self._dry: int | None = None  # bytes of silence read since playback ran dry; None when not tracking
        self._zeros = memoryview(bytes(0))
        self._written = self._played = self._dropped = self._cleared = 0
        self._underruns = 0

    def write(self, pcm: bytes | bytearray | memoryview) -> None:
        """Queue PCM16 audio; if more than ``max_ms`` is queued, the oldest audio is dropped."""
        if not pcm:
            return
        with self._lock:
            data = self._odd + bytes(pcm) if self._odd else bytes(pcm)
            if len(data) % SAMPLE_WIDTH:
                data, self._odd = data[:-1], data[-1:]
            else:
                self._odd = b""
            if not data:
                return
            self._dropped += self._queue.append(data)
            self._written += len(data)
            if self._dry is not None:
                self._underruns += self._dry < self._gap
                self._dry = None
            if not self._playing and len(self._queue) >= self._threshold:
                self._start_playing()

    def read(self, frames: int) -> bytes:
        """Exactly ``frames`` samples (``frames * 2`` bytes); silence where no audio is ready."""
        out = bytearray(frames * SAMPLE_WIDTH)
        self.read_into(out)
        return bytes(out)

    def read_into(self, out: bytearray | memoryview) -> int:
        """Fill ``out`` (e.g. a device's output buffer) completely; returns how many bytes were real audio.

        Real audio always comes first, the silence after it.
        """
        view = memoryview(out).cast("B")
        size = len(view)
        with self._lock:
            if not self._playing and self._queue and self._held >= self._threshold:
                self._start_playing()  # the held audio has waited long enough: no more is coming soon
            copied = self._queue.read_into(view) if self._playing else 0
            self._played += copied
            if copied < size:
                self._fill_silence(view, copied, size)
                if self._playing:
                    self._playing = False
                    self._dry = 0
                if self._queue:
                    self._held += size - copied
                elif self._dry is not None:
                    self._dry += size - copied
            return copied

    def drain(self) -> bytes:
        """Everything queued, at once and regardless of the start threshold (for consumers without a clock)."""
        with self._lock:
            data = self._queue.take_all()
            self._played += len(data)
            self._playing = False
            self._held = 0
            self._dry = None
            return data

    def clear(self) -> int:
        """Drop everything queued (barge-in); returns the number of bytes dropped."""
        with self._lock:
            queued = self._queue.clear()
            dropped = queued + len(self._odd)
            self._cleared += queued
            self._odd = b""
            self._playing = False
            self._held = 0
            self._dry = None
            return dropped

    @property
    def buffered_ms(self) -> float:
        """Audio queued and not yet read."""
        return self._ms(len(self._queue))

    @property
    def playing(self) -> bool:
        """True from when playback starts (threshold reached) until the queue runs dry or is cleared."""
        return self._playing

    @property
    def underruns(self) -> int:
        """Gaps heard inside a stream (see the class docstring)."""
        return self._underruns

    @property
    def written_ms(self) -> float:
        """All audio ever written, including what was later dropped or cleared."""
        return self._ms(self._written)

    @property
    def played_ms(self) -> float:
        """Audio handed to the reader (silence padding not included)."""
        return self._ms(self._played)

    @property
    def dropped_ms(self) -> float:
        """Oldest audio discarded because more than ``max_ms`` was queued."""
        return self._ms(self._dropped)

    @property
    def cleared_ms(self) -> float:
        """Audio discarded by ``clear()``."""
        return self._ms(self._cleared)

    def __repr__(self) -> str:
        return (
            f"PlaybackBuffer(buffered_ms={self.buffered_ms:.0f}, played_ms={self.played_ms:.0f}, "
            f"underruns={self.underruns}, dropped_ms={self.dropped_ms:.0f}, cleared_ms={self.cleared_ms:.0f})"
        )

    def _ms(self, count: int) -> float:
        return count / self._bytes_per_ms

    def _start_playing(self) -> None:
        self._playing = True
        self._held = 0

    def _fill_silence(self, view: memoryview, start: int, size: int) -> None:
        if len(self._zeros) < size:
            self._zeros = memoryview(bytes(size))
        view[start:size] = self._zeros[: size - start]


def _whole_samples(count: float) -> int:
    """A byte count rounded to whole PCM16 samples."""
    return round(count / SAMPLE_WIDTH) * SAMPLE_WIDTH

"""RecordingSpeaker: a Speaker stand-in with no device, keeping what it "played" for replay and plots."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .byte_queue import ByteQueue
from .pacer import Pacer
from .pcm import BLOCK_MS, SAMPLE_RATE, SAMPLE_WIDTH, bytes_to_ms, rms, write_wav
from .playback import PlaybackBuffer
from .protocols import LostCallback

if TYPE_CHECKING:
    from IPython.display import Audio

#: If the playback thread falls further behind than this, it restarts its clock instead of catching up.
#: A long session keeps only the latest 10 minutes of the assistant's voice (about 29 MB).
MAX_RECORDING_MS = 10 * 60 * 1000


class RecordingSpeaker:
    """Records audio as a speaker would play it; ``audio()`` replays it inline in a notebook.

    ``realtime=True``: a thread takes one ``block_ms`` block from the buffer per ``block_ms`` of wall time, as
    a device callback does, so ``clear()`` drops exactly what had not been played yet. ``realtime=False``:
    everything written counts as played at once (``clear()`` then drops nothing), for fast tests.
    """

    def __init__(
        self,
        *,
        realtime: bool = True,
        buffer: PlaybackBuffer | None = None,
        block_ms: int = BLOCK_MS,
        max_ms: float = MAX_RECORDING_MS,
    ):
        self.realtime = realtime
        self.max_ms = max_ms
        self.trimmed_ms = 0.0  # oldest audio dropped to stay within max_ms
        self.buffer = buffer if buffer is not None else PlaybackBuffer()
        self.block_ms = block_ms
        self._block_bytes = SAMPLE_RATE * block_ms // 1000 * SAMPLE_WIDTH
        self._lock = threading.Lock()
        self._recording = ByteQueue(int(max_ms * SAMPLE_RATE / 1000) * SAMPLE_WIDTH, SAMPLE_WIDTH)
        self._segments: list[tuple[float, int]] = []
        self._new_segment = True  # the next audio played starts a segment
        self._virtual_end = 0.0  # realtime=False: when the audio written so far would have finished playing
        self._level = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Part of the device protocol; a recording has no device to lose, so it is never called.
        self.on_lost: LostCallback | None = None

    def start(self) -> None:
        """Start "playing" (realtime=True starts the playback thread); no-op if already started."""
        if self.realtime and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="RecordingSpeaker", daemon=True)
            self._thread.start()

    def write(self, pcm: bytes) -> None:
        """Queue PCM16 audio (realtime=False: record it as played right away)."""
        self.buffer.write(pcm)
        if not self.realtime:
            played = self.buffer.drain()
            if played:
                self._record_at_once(played)

    def clear(self) -> None:
        """Drop audio not yet played (barge-in); the next audio starts a new segment."""
        with self._lock:  # held so the playback thread cannot be between reading and recording a block
            self.buffer.clear()
            self._new_segment = True

    def close(self) -> None:
        """Stop playing (the recording is kept); safe to call twice; start() may follow."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            if thread is not threading.current_thread():
                thread.join()
        with self._lock:
            self._new_segment = True
            self._level = 0.0

    def reset(self) -> None:
        """Forget the recording so far."""
        with self._lock:
            self._recording.clear()
            self._segments.clear()
            self._new_segment = True
            self._virtual_end = 0.0

    @property
    def running(self) -> bool:
        """True while the realtime playback thread runs."""
        return self._thread is not None

    @property
    def level(self) -> float:
        """RMS level (0..1) of the last block played."""
        return self._level

    @property
    def playing(self) -> bool:
        """True while written audio waits for the playback clock (realtime=False plays everything at once)."""
        return self._thread is not None and self.buffer.buffered_ms > 0

    @property
    def samples(self) -> npt.NDArray[np.int16]:
        """Everything played so far as int16 samples (silence from underruns or pauses not included)."""
        return np.frombuffer(self._joined(), dtype="<i2").astype(np.int16)

    @property
    def duration_ms(self) -> float:
        """How long the recording lasts."""
        return bytes_to_ms(len(self._recording))

    @property
    def segments(self) -> list[tuple[float, int]]:
        """(time.monotonic() when playback (re)started after silence, sample offset into ``samples``)."""
        with self._lock:
            return list(self._segments)

    def wav_bytes(self) -> bytes:
        """The recording as a 24 kHz mono PCM16 WAV file."""
        return write_wav(self._joined())

    def audio(self) -> Audio:
        """The recording as an inline audio player for a notebook."""
        from IPython.display import Audio

        return Audio(data=self.wav_bytes())

    def __enter__(self) -> RecordingSpeaker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _joined(self) -> bytes:
        with self._lock:
            return self._recording.peek_all()

    def _run(self) -> None:
        block = bytearray(self._block_bytes)
        pacer = Pacer(self.block_ms / 1000, self._stop)
        while (due := pacer.wait()) is not None:
            self._play_block(block, due)

    def _play_block(self, block: bytearray, when: float) -> None:
        with self._lock:
            played = self.buffer.read_into(block)
            self._level = rms(block)
            if played:
                if self._new_segment:
                    self._segments.append((when, len(self._recording) // SAMPLE_WIDTH))
                self._keep_locked(bytes(memoryview(block)[:played]))
            self._new_segment = played < len(block)

    def _record_at_once(self, pcm: bytes) -> None:
        now = time.monotonic()
        level = rms(pcm[-self._block_bytes :])
        with self._lock:
            self._level = level
            if self._new_segment or now >= self._virtual_end:
                self._segments.append((now, len(self._recording) // SAMPLE_WIDTH))
                self._virtual_end = now
            self._virtual_end += bytes_to_ms(len(pcm)) / 1000
            self._new_segment = False
            self._keep_locked(pcm)

    def _keep_locked(self, pcm: bytes) -> None:
        """Record ``pcm``; past ``max_ms`` the oldest audio goes, and the segment offsets move with it."""
        dropped = self._recording.append(pcm)
        if not dropped:
            return
        self.trimmed_ms += bytes_to_ms(dropped)
        shift = dropped // SAMPLE_WIDTH
        moved = [(when, offset - shift) for when, offset in self._segments]
        kept = [(when, offset) for when, offset in moved if offset > 0]
        started_before = [(when, offset) for when, offset in moved if offset <= 0]
        if started_before:  # the segment now cut at its start begins later, at offset 0
            when, offset = started_before[-1]
            kept.insert(0, (when - offset / SAMPLE_RATE, 0))
        self._segments[:] = kept

"""Speaker: plays streamed PCM16 on a sound device through a PlaybackBuffer."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from .backend import open_stream
from .pcm import BLOCK_MS, SAMPLE_RATE, SAMPLE_WIDTH, rms
from .playback import PlaybackBuffer

LOST_MESSAGE = (
    "The speaker stopped playing (unplugged, or taken by another program). Press Start to try again; if i"
    "t keeps happening, choose another device or use RecordingSpeaker."
)


class Speaker:
    """A 24 kHz mono int16 output stream whose callback copies ~``block_ms`` blocks from ``buffer``.

    ``write()`` may be called before ``start()``; the audio waits in the buffer. ``clear()`` empties the
    buffer, so the next block the device asks for is silence.
    """

    def __init__(
        self, device: int | str | None = None, *, buffer: PlaybackBuffer | None = None, block_ms: int = BLOCK_MS
    ):
        self.device = device
        self.buffer = buffer if buffer is not None else PlaybackBuffer()
        self.block_ms = block_ms
        self._frames = SAMPLE_RATE * block_ms // 1000
        self._last_block = bytearray(self._frames * SAMPLE_WIDTH)
        self._stream: Any = None
        self._generation = 0  # which opened stream is current, so a late "finished" from an old one is ignored
        #: Called (from the audio thread) with a plain message if the device stops without close().
        self.on_lost: Callable[[str], None] | None = None

    def start(self) -> None:
        """Open and start the device; AudioUnavailable (with the fix) if it cannot. No-op if already started."""
        if self._stream is None:
            self._generation += 1
            generation = self._generation
            self._stream = open_stream(
                "output",
                self.device,
                blocksize=self._frames,
                callback=self._callback,
                finished_callback=lambda: self._finished(generation),
            )

    def write(self, pcm: bytes) -> None:
        """Queue PCM16 audio for playback."""
        self.buffer.write(pcm)

    def clear(self) -> None:
        """Drop all queued audio (barge-in): silent from the next block on."""
        self.buffer.clear()

    def close(self) -> None:
        """Stop the device at once (queued audio stays in the buffer); safe to call twice; start() may follow."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        self._last_block[:] = bytes(len(self._last_block))

    def _finished(self, generation: int) -> None:
        """PortAudio says the stream ended; unless close() ended it, the device is gone."""
        if generation == self._generation and self._stream is not None and self.on_lost is not None:
            self.on_lost(LOST_MESSAGE)

    @property
    def running(self) -> bool:
        """True between start() and close()."""
        return self._stream is not None

    @property
    def level(self) -> float:
        """RMS level (0..1) of the last block sent to the device."""
        return rms(self._last_block)

    def __enter__(self) -> Speaker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        last = self._last_block
        if len(last) != len(outdata):
            self._last_block = last = bytearray(len(outdata))  # only if the device changes the block size
        self.buffer.read_into(last)
        outdata[:] = last

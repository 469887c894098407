"""Speaker: plays streamed PCM16 on a sound device through a PlaybackBuffer."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from .backend import open_stream
from .pcm import BLOCK_MS, SAMPLE_RATE, SAMPLE_WIDTH, rms
from .playback import PlaybackBuffer


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

    def start(self) -> None:
        """Open and start the device; AudioUnavailable (with the fix) if it cannot. No-op if already started."""
        if self._stream is None:
            self._stream = open_stream("output", self.device, blocksize=self._frames, callback=self._callback)

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

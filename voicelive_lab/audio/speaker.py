"""Speaker: plays streamed PCM16 on a sound device through a PlaybackBuffer."""

from __future__ import annotations

from typing import Any

from .device_stream import DeviceStream
from .pcm import BLOCK_MS, SAMPLE_WIDTH, rms
from .playback import PlaybackBuffer


class Speaker(DeviceStream):
    """A 24 kHz mono int16 output stream whose callback copies ~``block_ms`` blocks from ``buffer``.

    ``write()`` may be called before ``start()``; the audio waits in the buffer. ``clear()`` empties the
    buffer, so the next block the device asks for is silence.
    """

    direction = "output"
    lost_message = (
        "The speaker stopped playing (unplugged, or taken by another program). Press Start to try again; "
        "if it keeps happening, choose another device or use RecordingSpeaker."
    )

    def __init__(
        self, device: int | str | None = None, *, buffer: PlaybackBuffer | None = None, block_ms: int = BLOCK_MS
    ):
        super().__init__(device, block_ms)
        self.buffer = buffer if buffer is not None else PlaybackBuffer()
        self._last_block = bytearray(self._frames * SAMPLE_WIDTH)

    def start(self) -> None:
        """Open and start the device; AudioUnavailable (with the fix) if it cannot. No-op if already started."""
        if self._stream is None:
            self._open(self._callback)

    def write(self, pcm: bytes) -> None:
        """Queue PCM16 audio for playback."""
        self.buffer.write(pcm)

    def clear(self) -> None:
        """Drop all queued audio (barge-in): silent from the next block on."""
        self.buffer.clear()

    def close(self) -> None:
        """Stop the device at once (queued audio stays in the buffer); safe to call twice; start() may follow."""
        super().close()
        self._last_block[:] = bytes(len(self._last_block))

    @property
    def level(self) -> float:
        """RMS level (0..1) of the last block sent to the device."""
        return rms(self._last_block)

    @property
    def playing(self) -> bool:
        """True while audio written is still queued for the device (started, and the buffer not yet drained)."""
        return self._stream is not None and self.buffer.buffered_ms > 0

    def __enter__(self) -> Speaker:
        self.start()
        return self

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        last = self._last_block
        if len(last) != len(outdata):
            self._last_block = last = bytearray(len(outdata))  # only if the device changes the block size
        self.buffer.read_into(last)
        outdata[:] = last

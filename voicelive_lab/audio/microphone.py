"""Microphone: hands each recorded PCM16 block from a sound device to a consumer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .backend import open_stream
from .pcm import BLOCK_MS, SAMPLE_RATE, rms

logger = logging.getLogger(__name__)

Consumer = Callable[[bytes], None]


LOST_MESSAGE = (
    "The microphone stopped recording (unplugged, or taken by another program). Press Start to try again;"
    " if it keeps happening, choose another device or use WavMicrophone."
)


class Microphone:
    """A 24 kHz mono int16 input stream delivering ``block_ms`` blocks to ``consumer`` on the audio thread.

    The consumer must be quick and thread-safe, e.g. ``lambda b: loop.call_soon_threadsafe(q.put_nowait, b)``.
    """

    def __init__(self, device: int | str | None = None, *, block_ms: int = BLOCK_MS):
        self.device = device
        self.block_ms = block_ms
        self._frames = SAMPLE_RATE * block_ms // 1000
        self._consumer: Consumer | None = None
        self._stream: Any = None
        self._generation = 0  # which opened stream is current, so a late "finished" from an old one is ignored
        #: Called (from the audio thread) with a plain message if the device stops without close().
        self.on_lost: Callable[[str], None] | None = None
        self._last_block = b""
        self._consumer_failed = False

    def start(self, consumer: Consumer) -> None:
        """Open the device and start delivering blocks; AudioUnavailable (with the fix) if it cannot."""
        if self._stream is not None:
            raise RuntimeError("the microphone is already started; close() it first")
        self._consumer = consumer
        self._consumer_failed = False
        self._generation += 1
        generation = self._generation
        self._stream = open_stream(
            "input",
            self.device,
            blocksize=self._frames,
            callback=self._callback,
            finished_callback=lambda: self._finished(generation),
        )

    def close(self) -> None:
        """Stop delivering blocks; safe to call twice; start() may follow."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        self._last_block = b""

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
        """RMS level (0..1) of the last block recorded."""
        return rms(self._last_block)

    def __enter__(self) -> Microphone:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        block = bytes(indata)
        self._last_block = block
        consumer = self._consumer
        if consumer is None:
            return
        try:
            consumer(block)
        except Exception:
            if not self._consumer_failed:  # log once: this runs 50 times a second
                self._consumer_failed = True
                logger.exception("the microphone's consumer failed; later failures are not logged")

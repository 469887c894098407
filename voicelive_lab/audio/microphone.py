"""Microphone: hands each recorded PCM16 block from a sound device to a consumer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .device_stream import DeviceStream
from .pcm import BLOCK_MS, rms

logger = logging.getLogger(__name__)

Consumer = Callable[[bytes], None]


class Microphone(DeviceStream):
    """A 24 kHz mono int16 input stream delivering ``block_ms`` blocks to ``consumer`` on the audio thread.

    The consumer must be quick and thread-safe, e.g. ``lambda b: loop.call_soon_threadsafe(q.put_nowait, b)``.
    """

    direction = "input"
    lost_message = (
        "The microphone stopped recording (unplugged, or taken by another program). Press Start to try again; "
        "if it keeps happening, choose another device or use WavMicrophone."
    )

    def __init__(self, device: int | str | None = None, *, block_ms: int = BLOCK_MS):
        super().__init__(device, block_ms)
        self._consumer: Consumer | None = None
        self._last_block = b""
        self._consumer_failed = False

    def start(self, consumer: Consumer) -> None:
        """Open the device and start delivering blocks; AudioUnavailable (with the fix) if it cannot."""
        if self._stream is not None:
            raise RuntimeError("the microphone is already started; close() it first")
        self._consumer = consumer
        self._consumer_failed = False
        self._open(self._callback)

    def close(self) -> None:
        """Stop delivering blocks; safe to call twice; start() may follow."""
        super().close()
        self._last_block = b""

    @property
    def level(self) -> float:
        """RMS level (0..1) of the last block recorded."""
        return rms(self._last_block)

    def __enter__(self) -> Microphone:
        return self

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

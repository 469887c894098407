"""DeviceStream: one PortAudio stream of a Microphone or Speaker, and noticing when its device goes away."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from .backend import Direction, open_stream
from .pcm import SAMPLE_RATE
from .protocols import LostCallback


class DeviceStream:
    """Opens and closes a 24 kHz mono int16 stream; reports through ``on_lost`` if it ends without close()."""

    direction: Direction
    lost_message: str

    def __init__(self, device: int | str | None, block_ms: int) -> None:
        self.device = device
        self.block_ms = block_ms
        self._frames = SAMPLE_RATE * block_ms // 1000
        self._stream: Any = None
        self._generation = 0  # which opened stream is current, so a late "finished" from an old one is ignored
        #: Called (from the audio thread) with a plain message if the device stops without close().
        self.on_lost: LostCallback | None = None

    @property
    def running(self) -> bool:
        """True between start() and close()."""
        return self._stream is not None

    def close(self) -> None:
        """Stop the device at once; safe to call twice; start() may follow."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _open(self, callback: Callable[..., None]) -> None:
        self._generation += 1
        generation = self._generation
        self._stream = open_stream(
            self.direction,
            self.device,
            blocksize=self._frames,
            callback=callback,
            finished_callback=lambda: self._finished(generation),
        )

    def _finished(self, generation: int) -> None:
        """PortAudio says the stream ended; unless close() ended it, the device is gone."""
        if generation == self._generation and self._stream is not None and self.on_lost is not None:
            self.on_lost(self.lost_message)

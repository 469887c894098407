"""WavMicrophone: WAV files spoken into a session as if through a microphone, with no device needed."""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType

from .audio_files import load_pcm16
from .byte_queue import ByteQueue
from .microphone import Consumer
from .pacer import Pacer
from .pcm import BLOCK_MS, SAMPLE_RATE, SAMPLE_WIDTH, bytes_to_ms, rms
from .protocols import LostCallback

logger = logging.getLogger(__name__)

#: If the pacing thread falls further behind than this (a suspended laptop), it restarts its schedule
#: instead of sending the backlog in one burst.


class WavMicrophone:
    """Queued utterances (audio files: WAV, FLAC, Ogg, MP3…, converted to 24 kHz mono PCM16) in ``block_ms`` blocks.

    Each utterance is followed by ``trailing_silence_ms`` of zeros so a server VAD sees the end of speech.
    Every block is full-size (the last one of an utterance is padded with silence). With ``realtime=True``
    a block is delivered every ``block_ms`` on a drift-free monotonic schedule, and silence keeps flowing
    while nothing is queued, like a microphone in a quiet room. With ``realtime=False`` blocks go out as
    fast as the consumer takes them and nothing is sent while idle.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        realtime: bool = True,
        trailing_silence_ms: int = 1000,
        block_ms: int = BLOCK_MS,
    ):
        self.realtime = realtime
        self.trailing_silence_ms = trailing_silence_ms
        self.block_ms = block_ms
        self._block_bytes = SAMPLE_RATE * block_ms // 1000 * SAMPLE_WIDTH
        self._pending = ByteQueue()
        self._in_flight = False  # a block holding queued audio is with the consumer
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_block = b""
        #: Part of the device protocol; a file cannot be unplugged, so it is never called.
        self.on_lost: LostCallback | None = None
        if path is not None:
            self.say(path)

    def say(self, path: str | os.PathLike[str]) -> float:
        """Queue an utterance (checked and converted now); returns its duration in milliseconds."""
        pcm = load_pcm16(path)
        silence = bytes(int(self.trailing_silence_ms * SAMPLE_RATE / 1000) * SAMPLE_WIDTH)
        with self._changed:
            self._pending.append(pcm)
            self._pending.append(silence)
            self._changed.notify_all()
        return bytes_to_ms(len(pcm))

    def start(self, consumer: Consumer) -> None:
        """Start delivering blocks to ``consumer`` from this microphone's own thread."""
        if self._thread is not None:
            raise RuntimeError("the WAV microphone is already started; close() it first")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(consumer,), name="WavMicrophone", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop delivering blocks (queued utterances stay queued); safe to call twice; start() may follow."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if thread is not threading.current_thread():
            thread.join()

    @property
    def idle(self) -> bool:
        """True when no utterance or trailing silence is waiting to be delivered."""
        with self._changed:
            return self._is_idle()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until everything queued has been delivered; False if ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(self._is_idle, timeout)

    @property
    def running(self) -> bool:
        """True between start() and close()."""
        return self._thread is not None

    @property
    def level(self) -> float:
        """RMS level (0..1) of the last block delivered."""
        return rms(self._last_block)

    def __enter__(self) -> WavMicrophone:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _is_idle(self) -> bool:
        return not self._pending and not self._in_flight

    def _run(self, consumer: Consumer) -> None:
        period = self.block_ms / 1000
        pacer = Pacer(period, self._stop, first_after=period)  # a block is delivered once it has been recorded
        failed = False
        while not self._stop.is_set():
            if self.realtime:
                if pacer.wait() is None:
                    break
            elif not self._wait_for_audio():
                break
            block = self._next_block()
            self._last_block = block
            try:
                consumer(block)
            except Exception:
                if not failed:
                    failed = True
                    logger.exception("the WAV microphone's consumer failed; later failures are not logged")
            if self._in_flight:
                with self._changed:
                    self._in_flight = False
                    self._changed.notify_all()

    def _wait_for_audio(self) -> bool:
        with self._changed:
            self._changed.wait_for(lambda: self._pending or self._stop.is_set())
            return not self._stop.is_set()

    def _next_block(self) -> bytes:
        """The next block_ms of queued audio, padded with silence; all silence when nothing is queued."""
        block = bytearray(self._block_bytes)
        with self._changed:
            if self._pending:
                self._pending.read_into(memoryview(block))
                self._in_flight = True
        return bytes(block)

"""A session's two audio paths: what the microphone hears goes to the service, the reply goes to the speaker.

Devices deliver and take audio on their own threads (PortAudio callbacks, a WAV pacing thread, the browser's
comm); nothing here touches an asyncio object from those threads. Each pump lives for one session.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable

import numpy as np

from .audio.byte_queue import ByteQueue
from .audio.protocols import AudioInput, AudioOutput

MIC_QUEUE_BLOCKS = 500  # 10 s of 20 ms blocks: if the network stalls longer, the oldest audio is dropped
MAX_SENT_AUDIO_BYTES = 10 * 60 * 48_000  # the last 10 minutes of what the microphone sent are kept for plots
PLAYBACK_POLL_S = 0.02  # how often a held "ready" asks the output whether the reply has been heard
_BYTES_PER_S = 48_000  # 24 kHz mono PCM16


class SentAudio:
    """What the microphone sent, block by block, bounded to the latest ``MAX_SENT_AUDIO_BYTES`` (for plots)."""

    def __init__(self) -> None:
        self._kept = ByteQueue(MAX_SENT_AUDIO_BYTES, unit=2)
        self._lock = threading.Lock()
        #: time.monotonic() when the first kept sample was sent; None until something was sent.
        self.started_at: float | None = None

    def keep(self, block: bytes) -> None:
        with self._lock:
            if self.started_at is None:
                self.started_at = time.monotonic()
            self.started_at += self._kept.append(block) / _BYTES_PER_S

    def samples(self) -> np.ndarray:
        """Everything kept, as 24 kHz int16 samples; safe from any thread."""
        with self._lock:
            return np.frombuffer(self._kept.peek_all(), dtype="<i2")


class MicrophonePump:
    """Microphone → service: the device's thread hands each block to the session loop, a bounded queue drops
    the oldest block when the network stalls, and one task sends the blocks in order."""

    def __init__(
        self,
        microphone: AudioInput,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[bytes], Awaitable[None]],
        sent: SentAudio,
        on_sent: Callable[[bytes], None] = lambda block: None,
    ) -> None:
        self.microphone = microphone
        self.sent = sent
        self.dropped = 0  # blocks lost because the queue was full
        self.started = False
        self._loop = loop
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=MIC_QUEUE_BLOCKS)
        self._send = send
        self._on_sent = on_sent

    def start_device(self) -> None:
        """Open the microphone (once per session); raises what the device raises (e.g. AudioUnavailable)."""
        self.started = True
        self.microphone.start(self._on_block)

    async def run(self) -> None:
        """Send the queued blocks until cancelled (a task on the session loop)."""
        while True:
            block = await self._queue.get()
            await self._send(block)
            self.sent.keep(block)
            self._on_sent(block)

    def _on_block(self, block: bytes) -> None:
        """Called on the device's thread: pass the block to the session loop, touch nothing asyncio here."""
        with contextlib.suppress(RuntimeError):  # the loop may be closing
            self._loop.call_soon_threadsafe(self._enqueue, block)

    def _enqueue(self, block: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(block)


class ReplyPump:
    """Reply audio → the output, and "ready" reported only once the listener has heard the whole reply.

    The assistant says "ready" when the last of the reply has *arrived*, but the output may still be playing
    seconds of it; until its ``playing`` goes False the runner goes on reporting the state it had.
    """

    def __init__(self, output: AudioOutput, report_ready: Callable[[str], None]) -> None:
        self.output = output
        self._report_ready = report_ready
        self._held: str | None = None  # the message of a "ready" not reported yet
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    def play(self, pcm: bytes) -> None:
        self.output.write(pcm)

    def flush(self) -> None:
        """Barge-in: what is queued or sounding stops now."""
        self.output.clear()

    @property
    def holding(self) -> bool:
        """True while a "ready" waits for the output to finish playing."""
        return self._held is not None

    def hold_ready(self, message: str) -> bool:
        """Keep a "ready" back while the output still plays; True if kept (``run`` reports it later)."""
        if not self.output.playing:
            return False
        with self._lock:
            self._held = message
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                loop.call_soon_threadsafe(self._wake.set)
        return True

    def report_held(self) -> None:
        """Report a held "ready" now: another state comes next, and the order of states must stay as set."""
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            self._report_ready(held)

    async def run(self) -> None:
        """Until cancelled: report each held "ready" once the output has stopped playing (polled)."""
        self._loop = asyncio.get_running_loop()
        while True:
            if not self.holding:
                await self._wake.wait()
            self._wake.clear()
            while self.holding and self.output.playing:
                await asyncio.sleep(PLAYBACK_POLL_S)
            self.report_held()

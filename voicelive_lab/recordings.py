"""Talk to a Voice Live connection from recordings instead of a microphone, as the lessons beyond the lab do.

A microphone sends the service a steady stream of small blocks of PCM16, silence included: the service's turn
detection hears the pauses as audio. :func:`utterance` builds such a stream from sample recordings and pauses;
:func:`send_audio` sends it the way a microphone would, block by block with ``input_audio_buffer.append``;
:func:`events_until` collects what the service sends back until a given event (or a deadline, which it
reports). The same calls work on the practice service and on Azure.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from .audio.audio_files import load_pcm16
from .audio.pcm import BLOCK_MS, SAMPLE_RATE, SAMPLE_WIDTH, b64encode
from .audio.samples import sample

PathLike = str | os.PathLike[str]


def silence(ms: float, sample_rate: int = SAMPLE_RATE) -> bytes:
    """``ms`` of digital silence as PCM16."""
    return bytes(round(ms * sample_rate / 1000) * SAMPLE_WIDTH)


def utterance(*parts: PathLike | float, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Recordings and pauses in order, as one stream of 24 kHz mono PCM16.

    A part is a WAV file (a path, or the name of a kit sample such as ``"hello.wav"``) or a pause in
    milliseconds: ``utterance("hello.wav", 1500)`` is the greeting followed by 1.5 s of silence."""
    pieces = []
    for part in parts:
        if isinstance(part, (int, float)):
            pieces.append(silence(part, sample_rate))
        else:
            path = part if os.path.sep in os.fspath(part) or os.path.exists(part) else sample(os.fspath(part))
            pieces.append(load_pcm16(path, sample_rate))
    return b"".join(pieces)


async def send_audio(connection: Any, pcm: bytes, block_ms: int = BLOCK_MS, realtime: bool = False) -> int:
    """Send ``pcm`` in blocks of ``block_ms`` with ``input_audio_buffer.append``; return how many were sent.

    ``realtime=True`` paces the blocks as a microphone would; otherwise they go as fast as the connection
    takes them (the service's turn detection counts audio, not the clock, so the turns come out the same)."""
    block = round(block_ms * SAMPLE_RATE / 1000) * SAMPLE_WIDTH
    started = time.monotonic()
    sent = 0
    for offset in range(0, len(pcm), block):
        await connection.input_audio_buffer.append(audio=b64encode(pcm[offset : offset + block]))
        sent += 1
        if realtime:
            await asyncio.sleep(max(0.0, started + sent * block_ms / 1000 - time.monotonic()))
    return sent


class NoEventInTime(TimeoutError):
    """The service did not send the awaited event within the deadline; ``events`` holds what it did send."""

    def __init__(self, wanted: tuple[str, ...], timeout_s: float, events: list[Any]) -> None:
        last = events[-1].type if events else "nothing"
        super().__init__(f"no {' or '.join(wanted)} within {timeout_s:g} s (the service last sent {last})")
        self.events = events


async def events_until(connection: Any, *types: str, timeout_s: float = 10.0, count: int = 1) -> list[Any]:
    """Every event received until the ``count``-th of ``types`` (included), within ``timeout_s``."""
    events: list[Any] = []
    seen = 0
    deadline = time.monotonic() + timeout_s
    while seen < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoEventInTime(types, timeout_s, events)
        try:
            event = await asyncio.wait_for(connection.recv(), remaining)
        except asyncio.TimeoutError:
            raise NoEventInTime(types, timeout_s, events) from None
        events.append(event)
        seen += event.type in types  # the SDK's event types are str enums: "session.updated" matches
    return events

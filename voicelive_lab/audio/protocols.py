"""What a session needs from a microphone and a speaker: one set of protocols for kernel, file and browser devices.

Every device is used the same way by the session runner; optional abilities are separate protocols that a
device either implements in full or not at all (checked with ``isinstance``, never ``hasattr``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

#: Called, from any thread, with a plain-words message when a device stops working mid-session
#: (unplugged, the browser tab closed, permission withdrawn).
LostCallback = Callable[[str], None]


@runtime_checkable
class AudioInput(Protocol):
    """Something that hears: the kernel's microphone, a WAV-file microphone, the browser's microphone."""

    on_lost: LostCallback | None

    def start(self, consumer: Callable[[bytes], None]) -> None:
        """Begin delivering 24 kHz mono PCM16 blocks to ``consumer`` (from the device's own thread)."""

    def close(self) -> None: ...

    @property
    def level(self) -> float:
        """RMS of the latest block, 0..1; safe from any thread."""


@runtime_checkable
class AudioOutput(Protocol):
    """Something that speaks: the kernel's speaker, a recording speaker, the browser's speaker."""

    on_lost: LostCallback | None

    def start(self) -> None: ...

    def write(self, pcm: bytes) -> None:
        """Queue 24 kHz mono PCM16 for playing; never blocks the caller."""

    def clear(self) -> None:
        """Flush: what is queued or sounding stops now (barge-in)."""

    def close(self) -> None: ...

    @property
    def level(self) -> float: ...

    @property
    def playing(self) -> bool:
        """True while queued audio is still to be heard (so "ready" waits for the end of the reply)."""


@runtime_checkable
class ScriptedInput(AudioInput, Protocol):
    """An input that can be told what to say next (a WAV file as one utterance)."""

    def say(self, path: str | Path) -> None: ...


@runtime_checkable
class RecordedOutput(AudioOutput, Protocol):
    """An output that keeps what it played, for replay and plots."""

    @property
    def samples(self) -> np.ndarray: ...

    @property
    def segments(self) -> list[tuple[float, int]]:
        """Where each stretch of audio started: (monotonic seconds, sample offset into ``samples``)."""

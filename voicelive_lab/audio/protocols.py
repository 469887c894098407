"""What a session needs from a speaker and a microphone, so real and stand-in devices are interchangeable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .playback import PlaybackBuffer


class AudioOutput(Protocol):
    """Speaker or RecordingSpeaker."""

    buffer: PlaybackBuffer

    def start(self) -> None: ...
    def write(self, pcm: bytes) -> None: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    @property
    def level(self) -> float: ...


class AudioInput(Protocol):
    """Microphone or WavMicrophone."""

    def start(self, consumer: Callable[[bytes], None]) -> None: ...
    def close(self) -> None: ...
    @property
    def level(self) -> float: ...

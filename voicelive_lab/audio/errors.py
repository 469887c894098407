"""The two ways audio can fail for a learner, each carrying a plain-language reason and the fix."""

from __future__ import annotations


class AudioUnavailable(RuntimeError):
    """No sound device can be used from this kernel: PortAudio is missing, or no stream could open."""


class AudioFileError(ValueError):
    """An audio file cannot be used as a microphone: not a WAV, compressed, empty or damaged."""


class AudioFileNotFound(AudioFileError, FileNotFoundError):
    """The audio file does not exist (catchable as ``AudioFileError`` or ``FileNotFoundError``)."""

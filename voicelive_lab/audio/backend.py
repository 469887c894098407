"""The one place that touches ``sounddevice``: a lazy import and stream opening, with friendly errors.

Importing sounddevice loads PortAudio, which enumerates the devices once; so nothing imports it until a
device is actually needed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

from .errors import AudioUnavailable
from .pcm import SAMPLE_RATE

Direction = Literal["input", "output"]

PORTAUDIO_MISSING = (
    "PortAudio is not installed, so the kernel cannot use a microphone or speaker. "
    "Install it with: sudo apt-get install libportaudio2 (macOS: brew install portaudio)"
)
SOUNDDEVICE_MISSING = (
    "The sounddevice package is not installed in this kernel's environment. Install it with: pip install sounddevice"
)
NO_MICROPHONE = (
    "No microphone is available in this kernel (common in Codespaces, JupyterHub and Docker): "
    "use WavMicrophone with a file from assets/audio/."
)
NO_SPEAKER = (
    "No speaker is available in this kernel (common in Codespaces, JupyterHub and Docker): "
    "use RecordingSpeaker and replay what it heard in the notebook with .audio()."
)
_FALLBACK = {"input": "use WavMicrophone with a file from assets/audio/", "output": "use RecordingSpeaker"}
_NOUN = {"input": "microphone", "output": "speaker"}


def _import_sounddevice() -> ModuleType:
    return importlib.import_module("sounddevice")


def load_sounddevice() -> ModuleType:
    """The sounddevice module, or AudioUnavailable saying how to install what is missing."""
    try:
        return _import_sounddevice()
    except OSError as exc:  # sounddevice raises OSError('PortAudio library not found')
        raise AudioUnavailable(PORTAUDIO_MISSING) from exc
    except ImportError as exc:
        raise AudioUnavailable(SOUNDDEVICE_MISSING) from exc


def open_stream(
    direction: Direction,
    device: int | str | None,
    *,
    blocksize: int,
    callback: Callable[..., None] | None = None,
    finished_callback: Callable[[], None] | None = None,
    start: bool = True,
) -> Any:
    """A started 24 kHz mono int16 RawInputStream/RawOutputStream; AudioUnavailable if it cannot open."""
    sd = load_sounddevice()
    stream_class = sd.RawInputStream if direction == "input" else sd.RawOutputStream
    stream = None
    try:
        stream = stream_class(
            samplerate=SAMPLE_RATE,
            channels=1,
            dtype="int16",
            blocksize=blocksize,
            device=device,
            latency="low",
            callback=callback,
            finished_callback=finished_callback,
        )
        if start:
            stream.start()
    except (sd.PortAudioError, ValueError) as exc:
        if stream is not None:
            stream.close(ignore_errors=True)
        raise AudioUnavailable(cannot_open_message(sd, direction, device, exc)) from exc
    return stream


def cannot_open_message(sd: ModuleType, direction: Direction, device: int | str | None, error: Exception) -> str:
    """Why a stream did not open, in plain words, with what to do instead."""
    if device is None and not device_names(sd, direction):
        return NO_MICROPHONE if direction == "input" else NO_SPEAKER
    which = "the default device" if device is None else f"device {device!r}"
    return (
        f"Cannot open {which} as a 24 kHz mono 16-bit {_NOUN[direction]} ({error}). "
        f"Pick another device from audio_status().describe(), or {_FALLBACK[direction]}."
    )


def device_names(sd: ModuleType, direction: Direction) -> list[str]:
    """Names of the devices that can record (input) or play (output); empty if PortAudio cannot say."""
    key = "max_input_channels" if direction == "input" else "max_output_channels"
    try:
        return [str(info["name"]) for info in sd.query_devices() if info[key] > 0]
    except Exception:
        return []


def default_device_name(sd: ModuleType, direction: Direction) -> str | None:
    """The default device's name, or None when there is none."""
    try:
        return str(sd.query_devices(kind=direction)["name"])
    except Exception:
        return None

"""Preflight: which audio works in this kernel, and for what does not, why and what to do instead."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from .backend import (
    NO_MICROPHONE,
    NO_SPEAKER,
    Direction,
    default_device_name,
    device_names,
    load_sounddevice,
    open_stream,
)
from .errors import AudioUnavailable
from .pcm import BLOCK_MS, SAMPLE_RATE


@dataclass(frozen=True)
class AudioStatus:
    """What audio this kernel can use; each entry of ``problems`` is a reason plus the fix."""

    portaudio: bool
    portaudio_version: str | None
    input_devices: list[str]
    output_devices: list[str]
    default_input: str | None
    default_output: str | None
    can_record: bool
    can_play: bool
    problems: tuple[str, ...]

    def describe(self) -> str:
        """A few lines for a notebook: PortAudio, microphone, speaker, devices, problems."""
        lines = [f"PortAudio: {self.portaudio_version or 'installed'}" if self.portaudio else "PortAudio: not found"]
        lines.append(_ability("Microphone", "can record", self.can_record, self.default_input))
        lines.append(_ability("Speaker", "can play", self.can_play, self.default_output))
        lines.append(f"Input devices: {', '.join(self.input_devices) or 'none'}")
        lines.append(f"Output devices: {', '.join(self.output_devices) or 'none'}")
        lines += ["Problems:", *(f"  - {problem}" for problem in self.problems)] if self.problems else ["No problems."]
        return "\n".join(lines)


def audio_status() -> AudioStatus:
    """Check PortAudio, list devices and try opening a 24 kHz mono int16 stream each way; never raises."""
    try:
        sd = load_sounddevice()
    except AudioUnavailable as exc:
        return AudioStatus(False, None, [], [], None, None, False, False, (str(exc),))
    except Exception as exc:  # a broken install: report it, never raise
        problem = f"sounddevice failed to load ({exc}). Reinstall it with: pip install --force-reinstall sounddevice"
        return AudioStatus(False, None, [], [], None, None, False, False, (problem,))
    problems: list[str] = []
    can_record = _can_open(sd, "input", problems)
    can_play = _can_open(sd, "output", problems)
    return AudioStatus(
        portaudio=True,
        portaudio_version=_portaudio_version(sd),
        input_devices=device_names(sd, "input"),
        output_devices=device_names(sd, "output"),
        default_input=default_device_name(sd, "input"),
        default_output=default_device_name(sd, "output"),
        can_record=can_record,
        can_play=can_play,
        problems=tuple(problems),
    )


def _can_open(sd: ModuleType, direction: Direction, problems: list[str]) -> bool:
    if not device_names(sd, direction):
        problems.append(NO_MICROPHONE if direction == "input" else NO_SPEAKER)
        return False
    try:
        stream = open_stream(direction, None, blocksize=SAMPLE_RATE * BLOCK_MS // 1000, start=False)
        stream.close(ignore_errors=True)
    except AudioUnavailable as exc:
        problems.append(str(exc))
        return False
    except Exception as exc:  # a preflight reports, it never raises
        problems.append(f"Opening the default {direction} device failed unexpectedly: {exc}")
        return False
    return True


def _portaudio_version(sd: ModuleType) -> str | None:
    try:
        return str(sd.get_portaudio_version()[1])
    except Exception:
        return None


def _ability(noun: str, verb: str, able: bool, default: str | None) -> str:
    if not able:
        return f"{noun}: not available"
    return f"{noun}: {verb}" + (f" (default device: {default})" if default else "")

"""audio_status(): a preflight that never raises and explains every problem with its fix."""

from __future__ import annotations

import dataclasses
import re

import pytest
from audio_support import FakeSoundDevice

from voicelive_lab.audio import AudioStatus, audio_status, backend


def assert_no_absolute_paths(text: str) -> None:
    assert not re.search(r"(^|[\s(:'\"])(/[\w.-]+){2,}", text), text


def test_on_this_machine_it_answers_without_raising() -> None:
    status = audio_status()
    assert isinstance(status, AudioStatus)
    assert status.can_record <= bool(status.input_devices)
    assert status.can_play <= bool(status.output_devices)
    if not (status.can_record and status.can_play):
        assert status.problems
    if status.portaudio:
        assert status.portaudio_version and "PortAudio" in status.portaudio_version
    text = status.describe()
    assert text.startswith("PortAudio:")
    assert_no_absolute_paths(text)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.can_play = True  # type: ignore[misc]


def test_missing_portaudio_is_a_problem_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(backend, "_import_sounddevice", missing)
    status = audio_status()
    assert (status.portaudio, status.can_record, status.can_play) == (False, False, False)
    assert status.input_devices == status.output_devices == []
    (problem,) = status.problems
    assert problem.startswith("PortAudio is not installed, so the kernel cannot use a microphone or speaker.")
    assert "sudo apt-get install libportaudio2 (macOS: brew install portaudio)" in problem
    assert "PortAudio: not found" in status.describe()


def test_no_devices_explains_the_file_microphone_and_the_recording_speaker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: FakeSoundDevice(inputs=0, outputs=0))
    status = audio_status()
    assert status.portaudio
    assert (status.can_record, status.can_play, status.default_input, status.default_output) == (
        False,
        False,
        None,
        None,
    )
    assert status.problems == (
        "No microphone is available in this kernel (common in Codespaces, JupyterHub and Docker): "
        "use WavMicrophone with a file from assets/audio/.",
        "No speaker is available in this kernel (common in Codespaces, JupyterHub and Docker): "
        "use RecordingSpeaker and replay what it heard in the notebook with .audio().",
    )
    text = status.describe()
    assert "Microphone: not available" in text
    assert "Input devices: none" in text
    assert_no_absolute_paths(text)


def test_working_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    sd = FakeSoundDevice()
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: sd)
    status = audio_status()
    assert (status.can_record, status.can_play, status.problems) == (True, True, ())
    assert (status.input_devices, status.output_devices) == (["mic0"], ["out0"])
    assert all(stream.closed and not stream.started for stream in sd.streams), "opened to check, then closed"
    assert "Microphone: can record (default device: mic0)" in status.describe()
    assert "No problems." in status.describe()


def test_a_device_that_cannot_open_at_24khz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: FakeSoundDevice(fail_open="Invalid sample rate"))
    status = audio_status()
    assert not status.can_record and not status.can_play
    assert len(status.problems) == 2
    wanted = "Cannot open the default device as a 24 kHz mono 16-bit microphone (Invalid sample rate)"
    assert wanted in status.problems[0]


def test_it_never_raises_even_if_sounddevice_misbehaves(monkeypatch: pytest.MonkeyPatch) -> None:
    sd = FakeSoundDevice()
    sd.RawInputStream = lambda **options: 1 / 0
    sd.get_portaudio_version = lambda: 1 / 0
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: sd)
    status = audio_status()
    assert not status.can_record and status.can_play
    assert status.portaudio_version is None
    assert "failed unexpectedly" in status.problems[0]


def test_a_broken_sounddevice_install_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise AttributeError("cffi backend mismatch")

    monkeypatch.setattr(backend, "_import_sounddevice", broken)
    status = audio_status()
    assert not status.portaudio
    assert "pip install --force-reinstall sounddevice" in status.problems[0]

"""Every kernel and file device implements the session's device protocols in full, and ``playing`` means heard."""

from __future__ import annotations

import pytest
from audio_support import BLOCK_BYTES, FakeSoundDevice, pcm16, tone, wait_until

from voicelive_lab.audio import (
    AudioInput,
    AudioOutput,
    Microphone,
    PlaybackBuffer,
    RecordedOutput,
    RecordingSpeaker,
    ScriptedInput,
    Speaker,
    WavMicrophone,
    backend,
)


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    sd = FakeSoundDevice()
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: sd)
    return sd


@pytest.mark.parametrize(
    ("device", "implements", "lacks"),
    [
        (Microphone, {AudioInput}, {ScriptedInput, AudioOutput}),
        (WavMicrophone, {AudioInput, ScriptedInput}, {AudioOutput}),
        (Speaker, {AudioOutput}, {RecordedOutput, ScriptedInput}),
        (RecordingSpeaker, {AudioOutput, RecordedOutput}, {ScriptedInput}),
    ],
)
def test_each_device_implements_its_protocols_and_only_those(device: type, implements: set, lacks: set) -> None:
    instance = device()
    assert {protocol for protocol in implements if isinstance(instance, protocol)} == implements
    assert not {protocol for protocol in lacks if isinstance(instance, protocol)}
    assert instance.on_lost is None, "nobody listens for a lost device until a session does"
    assert instance.level == 0.0


def test_a_recording_speaker_plays_until_its_clock_has_played_everything() -> None:
    with RecordingSpeaker() as speaker:
        assert not speaker.playing
        speaker.write(pcm16(tone(440, 300)[:, 0]))
        assert speaker.playing
        assert wait_until(lambda: not speaker.playing, timeout=3)
        assert speaker.duration_ms == pytest.approx(300), "not playing any more means all of it was heard"
        speaker.write(pcm16(tone(440, 1000)[:, 0]))
        assert speaker.playing
        speaker.clear()
        assert not speaker.playing, "a flush ends playing at once"


def test_a_recording_speaker_without_a_clock_has_played_everything_at_once() -> None:
    speaker = RecordingSpeaker(realtime=False)
    speaker.start()
    speaker.write(pcm16(tone(440, 300)[:, 0]))
    assert not speaker.playing and speaker.duration_ms == pytest.approx(300)


def test_a_speaker_plays_until_its_device_has_taken_the_whole_buffer(fake_sd: FakeSoundDevice) -> None:
    speaker = Speaker(buffer=PlaybackBuffer(start_threshold_ms=0))
    speaker.write(pcm16(tone(440, 50)[:, 0]))
    assert not speaker.playing, "a speaker that is not started plays nothing"
    speaker.start()
    (stream,) = fake_sd.streams
    assert speaker.playing
    stream.tick()
    stream.tick()
    assert speaker.playing, "10 ms are still queued"
    stream.tick()
    assert not speaker.playing
    speaker.write(bytes(BLOCK_BYTES))
    speaker.clear()
    assert not speaker.playing
    speaker.write(bytes(BLOCK_BYTES))
    speaker.close()
    assert not speaker.playing, "a closed speaker will not play what is left"

"""Speaker and Microphone against a simulated sounddevice: streams, callbacks, friendly failures."""

from __future__ import annotations

import numpy as np
import pytest
from audio_support import BLOCK_BYTES, FakeSoundDevice, pcm16, tone

from voicelive_lab.audio import AudioUnavailable, Microphone, PlaybackBuffer, Speaker, backend


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    sd = FakeSoundDevice()
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: sd)
    return sd


@pytest.fixture
def no_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(backend, "_import_sounddevice", missing)


def test_speaker_opens_a_24khz_mono_int16_stream_with_20ms_blocks(fake_sd: FakeSoundDevice) -> None:
    with Speaker("out0") as speaker:
        (stream,) = fake_sd.streams
        assert stream.direction == "output"
        assert stream.started
        options = {key: stream.options[key] for key in ("samplerate", "channels", "dtype", "blocksize", "device")}
        assert options == {"samplerate": 24000, "channels": 1, "dtype": "int16", "blocksize": 480, "device": "out0"}
        assert speaker.running
    assert stream.closed


def test_speaker_callback_plays_the_buffer_and_clear_is_silent_from_the_next_block(fake_sd: FakeSoundDevice) -> None:
    speaker = Speaker(buffer=PlaybackBuffer(start_threshold_ms=0))
    audio = pcm16(tone(440, 100, amplitude=0.5)[:, 0])
    speaker.write(audio)
    speaker.start()
    stream = fake_sd.streams[0]
    assert stream.tick() + stream.tick() == audio[: 2 * BLOCK_BYTES]
    assert speaker.level == pytest.approx(0.5 / np.sqrt(2), abs=0.02)
    speaker.clear()
    assert stream.tick() == bytes(BLOCK_BYTES)
    assert speaker.level == 0.0
    speaker.close()


def test_speaker_pads_underruns_with_silence_not_garbage(fake_sd: FakeSoundDevice) -> None:
    speaker = Speaker(buffer=PlaybackBuffer(start_threshold_ms=0))
    speaker.start()
    speaker.write(pcm16(tone(440, 10)[:, 0]))
    block = fake_sd.streams[0].tick()
    assert block[480:] == bytes(480)
    assert fake_sd.streams[0].tick() == bytes(BLOCK_BYTES)


def test_speaker_close_is_idempotent_and_start_may_follow(fake_sd: FakeSoundDevice) -> None:
    speaker = Speaker()
    speaker.start()
    speaker.start()  # already started: nothing new
    speaker.close()
    speaker.close()
    speaker.start()
    assert len(fake_sd.streams) == 2
    assert fake_sd.streams[0].closed and fake_sd.streams[1].started
    speaker.close()


def test_microphone_delivers_each_block_as_bytes(fake_sd: FakeSoundDevice) -> None:
    got: list[bytes] = []
    mic = Microphone(block_ms=20)
    mic.start(got.append)
    stream = fake_sd.streams[0]
    assert (stream.direction, stream.options["blocksize"], stream.options["samplerate"]) == ("input", 480, 24000)
    block = pcm16(tone(440, 20, amplitude=0.25)[:, 0])
    stream.tick(block)
    assert got == [block]
    assert isinstance(got[0], bytes)
    assert mic.level == pytest.approx(0.25 / np.sqrt(2), abs=0.02)
    with pytest.raises(RuntimeError, match="already started"):
        mic.start(got.append)
    mic.close()
    mic.close()
    mic.start(got.append)
    assert len(fake_sd.streams) == 2
    mic.close()


def test_microphone_survives_a_failing_consumer(fake_sd: FakeSoundDevice, caplog: pytest.LogCaptureFixture) -> None:
    def broken(block: bytes) -> None:
        raise ValueError("boom")

    mic = Microphone()
    mic.start(broken)
    for _ in range(3):
        fake_sd.streams[0].tick()
    mic.close()
    assert caplog.text.count("consumer failed") == 1


@pytest.mark.usefixtures("no_portaudio")
@pytest.mark.parametrize("start", [lambda: Speaker().start(), lambda: Microphone().start(lambda block: None)])
def test_missing_portaudio_is_explained_with_the_fix(start) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AudioUnavailable) as caught:
        start()
    assert "PortAudio is not installed" in str(caught.value)
    assert "sudo apt-get install libportaudio2" in str(caught.value)
    assert "brew install portaudio" in str(caught.value)


def test_missing_sounddevice_package_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise ModuleNotFoundError("No module named 'sounddevice'")

    monkeypatch.setattr(backend, "_import_sounddevice", missing)
    with pytest.raises(AudioUnavailable, match="pip install sounddevice"):
        Speaker().start()


def test_no_microphone_suggests_the_wav_microphone(monkeypatch: pytest.MonkeyPatch) -> None:
    sd = FakeSoundDevice(inputs=0, outputs=0)
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: sd)
    with pytest.raises(AudioUnavailable) as caught:
        Microphone().start(lambda block: None)
    assert "No microphone is available in this kernel" in str(caught.value)
    assert "WavMicrophone" in str(caught.value)
    assert isinstance(caught.value.__cause__, sd.PortAudioError)


def test_no_speaker_suggests_the_recording_speaker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: FakeSoundDevice(inputs=0, outputs=0))
    with pytest.raises(AudioUnavailable, match=r"No speaker is available.*RecordingSpeaker"):
        Speaker().start()


def test_a_device_that_refuses_24khz_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    sd = FakeSoundDevice(fail_open="Invalid sample rate")
    monkeypatch.setattr(backend, "_import_sounddevice", lambda: sd)
    with pytest.raises(AudioUnavailable) as caught:
        Microphone("mic0").start(lambda block: None)
    message = str(caught.value)
    assert "device 'mic0'" in message
    assert "Invalid sample rate" in message
    assert "WavMicrophone" in message


def test_an_unknown_device_name_on_the_real_portaudio() -> None:
    pytest.importorskip("sounddevice", exc_type=OSError, reason="PortAudio is not installed")
    with pytest.raises(AudioUnavailable, match="no-such-device"):
        Speaker("no-such-device").start()


@pytest.mark.parametrize("device_class", [Speaker, Microphone])
def test_a_device_that_stops_on_its_own_is_reported_but_close_is_not(fake_sd: FakeSoundDevice, device_class) -> None:
    device = device_class()
    lost: list[str] = []
    device.on_lost = lost.append
    device.start() if device_class is Speaker else device.start(lambda block: None)
    fake_sd.streams[-1].options["finished_callback"]()  # PortAudio: the stream ended (device unplugged)
    noun = "speaker" if device_class is Speaker else "microphone"
    assert len(lost) == 1 and f"The {noun} stopped" in lost[0] and "Press Start" in lost[0]
    device.close()
    fake_sd.streams[-1].options["finished_callback"]()  # the end close() itself caused
    assert len(lost) == 1

"""PCM16 helpers: exact round trips, base64, levels, resampling quality, WAV writing."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from audio_support import ASSETS, RATE, dominant_hz, pcm16, rms_db, tone

from voicelive_lab.audio import pcm
from voicelive_lab.audio.audio_files import load_pcm16, read_audio


def test_int16_float_int16_round_trip_is_exact() -> None:
    every_value = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert pcm.float_to_pcm16(pcm.pcm16_to_float(every_value)) == every_value


def test_float_to_pcm16_clips_instead_of_wrapping() -> None:
    assert np.frombuffer(pcm.float_to_pcm16([1.5, 1.0, -1.0, -7.0]), "<i2").tolist() == [32767, 32767, -32768, -32768]


def test_pcm16_to_float_ignores_a_trailing_odd_byte() -> None:
    assert pcm.pcm16_to_float(b"\x00\x40\x01").tolist() == [0.5]


def test_base64_round_trip_and_invalid_text_is_refused() -> None:
    audio = pcm16(tone(440, 20)[:, 0])
    text = pcm.b64encode(audio)
    assert isinstance(text, str)
    assert pcm.b64decode(text) == audio
    with pytest.raises(ValueError):
        pcm.b64decode("!!not base64!!")


def test_levels_of_silence_full_scale_and_a_sine() -> None:
    assert pcm.rms(bytes(960)) == 0.0
    assert pcm.rms(b"") == 0.0
    assert pcm.dbfs(bytes(960)) == -120.0
    assert pcm.rms(np.full(480, -32768, "<i2").tobytes()) == 1.0
    half_scale_sine = pcm16(tone(1000, 100, amplitude=0.5)[:, 0])
    assert pcm.dbfs(half_scale_sine) == pytest.approx(-9.03, abs=0.05)


@pytest.mark.parametrize(("from_rate", "freq"), [(8000, 1000), (16000, 3000), (44100, 440), (48000, 5000)])
def test_resampling_keeps_frequency_and_level(from_rate: int, freq: float) -> None:
    source = tone(freq, 500, rate=from_rate)[:, 0]
    out = pcm.resample(source, from_rate, RATE)
    assert len(out) == len(source) * RATE // from_rate
    middle = out[len(out) // 10 : -len(out) // 10]  # away from the edges, where the filter sees zeros
    assert dominant_hz(middle) == pytest.approx(freq, rel=0.002)
    assert rms_db(middle) == pytest.approx(rms_db(source), abs=0.2)


def test_downsampling_filters_out_what_24_khz_cannot_carry() -> None:
    above_nyquist = tone(15000, 300, rate=48000)[:, 0]
    assert rms_db(pcm.resample(above_nyquist, 48000, RATE)) < rms_db(above_nyquist) - 40


def test_resampling_at_the_same_rate_changes_nothing() -> None:
    samples = np.random.default_rng(1).uniform(-1, 1, 1000).astype(np.float32)
    assert np.array_equal(pcm.resample(samples, RATE, RATE), samples)


def test_write_wav_is_read_back_by_the_standard_library() -> None:
    audio = pcm16(tone(440, 250)[:, 0]) + b"\x01"  # odd byte dropped
    with wave.open(io.BytesIO(pcm.write_wav(audio)), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        assert wav.readframes(wav.getnframes()) == audio[:-1]


def test_the_repository_samples_load_bit_exact() -> None:
    path = ASSETS / "hello.wav"
    with wave.open(str(path), "rb") as wav:
        expected = wav.readframes(wav.getnframes())
    assert load_pcm16(path) == expected
    info = read_audio(path)
    assert (info.sample_rate, info.channels, info.encoding) == (24000, 1, "Signed 16 bit PCM, WAV (Microsoft)")
    assert info.duration_ms == pytest.approx(len(expected) / 48)

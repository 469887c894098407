"""Any audio file libsndfile reads becomes 24 kHz mono PCM16; anything else gets an error naming the file and fix."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audio_support import RATE, as_float, chunk, dominant_hz, riff, rms_db, tone, wav_file

from voicelive_lab.audio import AudioFileError, AudioFileNotFound, WavMicrophone
from voicelive_lab.audio.audio_files import EXPECTED, load_pcm16, read_audio

PCM_FMT = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)


@pytest.mark.parametrize(
    ("encoding", "rate", "channels", "extensible"),
    [
        ("u8", 24000, 1, False),
        ("s16", 24000, 1, False),
        ("s24", 24000, 1, False),
        ("s32", 24000, 1, False),
        ("f32", 24000, 1, False),
        ("s16", 24000, 2, True),
        ("s24", 48000, 2, True),
        ("f32", 16000, 1, True),
        ("s16", 44100, 2, False),
        ("s16", 8000, 1, False),
        ("s24", 96000, 6, False),
    ],
)
def test_every_pcm_flavour_becomes_the_same_24khz_mono_tone(
    tmp_path: Path, encoding: str, rate: int, channels: int, extensible: bool
) -> None:
    source = tone(1000, 400, rate=rate, amplitude=0.5, channels=channels)
    path = wav_file(tmp_path / f"{encoding}.wav", source, rate, encoding, extensible=extensible)
    out = as_float(load_pcm16(path))
    assert len(out) == pytest.approx(400 * 24, abs=1)
    middle = out[1200:-1200]
    assert dominant_hz(middle) == pytest.approx(1000, rel=0.002)
    assert rms_db(middle) == pytest.approx(rms_db(source[:, 0]), abs=1.0)


def test_sixteen_bit_at_24khz_is_bit_exact(tmp_path: Path) -> None:
    samples = np.random.default_rng(7).integers(-32768, 32767, 4800, dtype=np.int64).astype("<i2")
    path = wav_file(tmp_path / "noise.wav", samples[:, None] / 32768, RATE, "s16")
    assert load_pcm16(path) == samples.tobytes()


def test_stereo_channels_are_mixed_down(tmp_path: Path) -> None:
    left_only = np.concatenate([tone(440, 200), np.zeros((4800, 1))], axis=1)
    out = as_float(load_pcm16(wav_file(tmp_path / "left.wav", left_only, RATE)))
    assert rms_db(out) == pytest.approx(rms_db(left_only[:, 0]) - 6.02, abs=0.05)


def test_unknown_chunks_and_odd_chunk_padding_are_skipped(tmp_path: Path) -> None:
    extra = chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00odd!\x00") + chunk(b"junk", b"xyz")  # odd sizes, padded
    source = tone(440, 100)
    path = wav_file(tmp_path / "chunks.wav", source, RATE, extra_chunks=extra)
    assert load_pcm16(path) == wav_file(tmp_path / "plain.wav", source, RATE).read_bytes()[44:]


def test_the_encoding_is_reported(tmp_path: Path) -> None:
    path = wav_file(tmp_path / "f.wav", tone(440, 50, rate=44100, channels=2), 44100, "f32", extensible=True)
    info = read_audio(path)
    assert (info.encoding, info.sample_rate, info.channels) == ("32 bit float, WAVEX (Microsoft)", 44100, 2)


def test_a_wav_cut_inside_its_audio_plays_what_is_there(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    full = wav_file(tmp_path / "full.wav", tone(440, 100), RATE).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full[: 44 + 2400])
    assert load_pcm16(cut) == full[44 : 44 + 2400]
    assert "cut.wav is truncated" in caplog.text


# --- what users get wrong ---------------------------------------------------------------------------------


def error_for(path: Path) -> str:
    with pytest.raises(AudioFileError) as caught:
        load_pcm16(path)
    message = str(caught.value)
    assert str(path) in message, "the message names the file"
    return message


def test_a_missing_file_is_both_an_audio_file_error_and_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(FileNotFoundError):
        load_pcm16(path)
    with pytest.raises(AudioFileNotFound):
        WavMicrophone().say(path)
    assert "no such file" in error_for(path)


def test_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are my notes, not audio\n")
    message = error_for(path)
    assert "text file" in message
    assert EXPECTED in message


@pytest.mark.parametrize(
    ("suffix", "subtype", "tolerance_db"),
    [
        ("wav", "ULAW", 0.5),
        ("wav", "ALAW", 0.5),
        ("wav", "IMA_ADPCM", 1.0),
        ("wav", "MS_ADPCM", 1.0),
        ("flac", "PCM_16", 0.1),
        ("ogg", "VORBIS", 1.0),
        ("ogg", "OPUS", 1.5),
        ("mp3", "MPEG_LAYER_III", 1.5),
        ("aiff", "PCM_16", 0.1),
    ],
)
def test_compressed_and_other_formats_become_the_same_tone(
    tmp_path: Path, suffix: str, subtype: str, tolerance_db: float
) -> None:
    rate = 48000 if subtype == "OPUS" else 16000  # Opus only has a few rates
    source = tone(1000, 600, rate=rate, amplitude=0.5)
    path = tmp_path / f"tone_{subtype.lower()}.{suffix}"
    soundfile.write(path, source, rate, subtype=subtype)
    out = as_float(load_pcm16(path))
    assert len(out) == pytest.approx(600 * 24, rel=0.1)  # MP3 and Opus add encoder padding
    middle = out[len(out) // 4 : -len(out) // 4]
    assert dominant_hz(middle) == pytest.approx(1000, rel=0.01)
    assert rms_db(middle) == pytest.approx(rms_db(source[:, 0]), abs=tolerance_db)


def test_an_mp3_that_is_not_one(tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x0f" + bytes(64))
    message = error_for(path)
    assert "this MP3 file cannot be decoded" in message
    assert EXPECTED in message
    assert f"ffmpeg -i {path}" in message


@pytest.mark.parametrize("tag", [2, 0x11, 0x55])  # Microsoft ADPCM, IMA ADPCM, MP3 in a WAV
def test_a_compressed_wav_with_a_broken_header_says_what_libsndfile_said(tmp_path: Path, tag: int) -> None:
    fmt = struct.pack("<HHIIHH", tag, 1, 8000, 4000, 256, 4) + b"\x00\x00"
    path = riff(tmp_path / "compressed.wav", [(b"fmt ", fmt)], b"", [(b"data", bytes(512))])
    message = error_for(path)
    assert "header is truncated or damaged (" in message or "cannot be decoded as audio (" in message
    assert EXPECTED in message


def test_an_extensible_wav_with_an_unknown_subformat(tmp_path: Path) -> None:
    fmt = struct.pack("<HHIIHH", 0xFFFE, 1, RATE, RATE * 2, 2, 16) + struct.pack("<HHI", 22, 16, 4) + bytes(16)
    path = riff(tmp_path / "ext.wav", [(b"fmt ", fmt)], b"", [(b"data", bytes(100))])
    assert "cannot be decoded as audio (File contains data in an unimplemented format.)" in error_for(path)


def test_an_empty_wav(tmp_path: Path) -> None:
    path = riff(tmp_path / "empty.wav", [(b"fmt ", PCM_FMT)], b"", [(b"data", b"")])
    assert "contains no audio samples" in error_for(path)


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in error_for(path)


@pytest.mark.parametrize("length", [4, 11, 20, 30, 40, 44])
def test_a_truncated_header(tmp_path: Path, length: int) -> None:
    full = wav_file(tmp_path / "full.wav", tone(440, 100), RATE).read_bytes()
    path = tmp_path / f"cut{length}.wav"
    path.write_bytes(full[:length])
    message = error_for(path)
    assert "truncated" in message
    assert EXPECTED in message


def test_a_directory(tmp_path: Path) -> None:
    assert "is a folder" in error_for(tmp_path)

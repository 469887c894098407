"""Audio files in, 24 kHz mono PCM16 out: what a learner's recording becomes before the kit sends it.

:func:`read_audio` opens any file libsndfile reads (through ``soundfile``, whose wheels carry the library): WAV in
every common encoding (integer, float, μ-law, A-law, ADPCM, extensible), FLAC, Ogg Vorbis and Opus, MP3, AIFF.
:func:`load_pcm16` mixes it down to mono and resamples it to the rate the service expects.

A file that cannot be used gets an :class:`~voicelive_lab.audio.errors.AudioFileError` that names the file, says
what it is (empty, text, a cut-off header, a format libsndfile cannot decode) and how to convert it.
"""

from __future__ import annotations

import logging
import os
import shlex
import struct
from dataclasses import dataclass

import numpy as np
import soundfile

from .errors import AudioFileError, AudioFileNotFound
from .pcm import SAMPLE_RATE, FloatArray, float_to_pcm16, resample

logger = logging.getLogger(__name__)

EXPECTED = "expected an audio file such as WAV (PCM, float, μ-law, A-law), FLAC, Ogg or MP3"
#: Enough of a file's start to tell what it is.
HEAD_BYTES = 512
_WAV_HEADER_BYTES = 44  # RIFF, fmt and data chunk headers of a plain PCM WAV


@dataclass(frozen=True)
class AudioFileData:
    """The samples of an audio file as float32, shape (frames, channels), at the file's own rate."""

    samples: FloatArray
    sample_rate: int
    encoding: str  # e.g. "Signed 16 bit PCM, WAV (Microsoft)"

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_ms(self) -> float:
        return self.samples.shape[0] * 1000 / self.sample_rate


def read_audio(path: str | os.PathLike[str]) -> AudioFileData:
    """Every frame of the audio file at ``path``; an AudioFileError that says why when it cannot be used."""
    name = os.fspath(path)
    head, size = _head_of(name)
    try:
        with soundfile.SoundFile(name) as opened:
            samples = opened.read(dtype="float32", always_2d=True)
            rate, encoding = opened.samplerate, f"{opened.subtype_info}, {opened.format_info}"
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioFileError(_cannot_decode(name, head, error)) from None
    cut_short = _wav_cut_short(head, size)
    if samples.shape[0] == 0:
        if cut_short:
            raise AudioFileError(f"{name}: the WAV file is truncated (it ends before its audio); {EXPECTED}.")
        raise AudioFileError(f"{name}: the file contains no audio samples; {EXPECTED} with some sound in it.")
    if cut_short:
        logger.warning("%s is truncated: using the %d frames of audio that are there", name, samples.shape[0])
    return AudioFileData(samples, rate, encoding)


def load_pcm16(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> bytes:
    """An audio file as mono PCM16 at ``sample_rate``: channels mixed down, resampled if needed."""
    audio = read_audio(path)
    mono = audio.samples.mean(axis=1, dtype=np.float32) if audio.channels > 1 else audio.samples[:, 0]
    return float_to_pcm16(resample(mono, audio.sample_rate, sample_rate))


def _head_of(name: str) -> tuple[bytes, int]:
    """The first bytes of the file and its size, or an AudioFileError for a file that is not there to read."""
    try:
        with open(name, "rb") as file:
            return file.read(HEAD_BYTES), os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        raise AudioFileNotFound(f"{name}: no such file; {EXPECTED} (examples: assets/audio/).") from None
    except IsADirectoryError:
        raise AudioFileError(f"{name} is a folder; {EXPECTED}.") from None
    except OSError as error:
        raise AudioFileError(f"{name}: cannot be read ({error.strerror or error}); {EXPECTED}.") from error


def _cannot_decode(name: str, head: bytes, error: Exception) -> str:
    """Why libsndfile could not open the file, in a learner's words, with the command that converts it."""
    if not head:
        return f"{name}: the file is empty (0 bytes); {EXPECTED}."
    if _looks_like_text(head):
        return f"{name}: this is a text file, not audio; {EXPECTED}."
    said = str(error).split(": ", 1)[-1].strip()  # libsndfile's reason, without the path it repeats
    convert = f"Convert it with: ffmpeg -i {shlex.quote(name)} -ar 24000 -ac 1 -c:a pcm_s16le out.wav"
    if head[:4] == b"RIFF" and (len(head) < _WAV_HEADER_BYTES or "chunk" in said or "not recognised" in said):
        return f"{name}: the WAV header is truncated or damaged ({said}); {EXPECTED}."
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return f"{name}: this MP3 file cannot be decoded ({said}); {EXPECTED}. {convert}"
    return f"{name}: this file cannot be decoded as audio ({said}); {EXPECTED}. {convert}"


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _wav_cut_short(head: bytes, size: int) -> bool:
    """A RIFF file shorter than its header says: its end (and some of its audio) is missing."""
    if len(head) < 8 or head[:4] != b"RIFF":
        return False
    (declared,) = struct.unpack_from("<I", head, 4)
    return size < declared + 8

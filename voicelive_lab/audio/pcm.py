"""PCM16 helpers the audio package shares: conversions, base64, resampling, WAV read/write and levels.

Voice Live's PCM16 is signed 16-bit little-endian, mono, 24 kHz. Float samples are in [-1, 1) with
full scale = 32768, so int16 -> float -> int16 is exact.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .errors import AudioFileError, AudioFileNotFound

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
BLOCK_MS = 20
SAMPLE_WIDTH = 2

FloatArray = npt.NDArray[np.float32]

_FULL_SCALE = 32768.0
_SINC_ZERO_CROSSINGS = 16
_SINC_ROLLOFF = 0.94
_KAISER_BETA = 8.6
_RESAMPLE_CHUNK = 8192


def bytes_per_ms(sample_rate: int = SAMPLE_RATE) -> float:
    """Bytes of mono PCM16 per millisecond (48 at 24 kHz)."""
    return sample_rate * SAMPLE_WIDTH / 1000


def bytes_to_ms(pcm_bytes: int, sample_rate: int = SAMPLE_RATE) -> float:
    """How long ``pcm_bytes`` bytes of mono PCM16 play."""
    return pcm_bytes / bytes_per_ms(sample_rate)


# --- sample conversions -----------------------------------------------------------------------------------


def pcm16_to_float(pcm: bytes | bytearray | memoryview) -> FloatArray:
    """PCM16 bytes as float32 samples in [-1, 1); a trailing odd byte is ignored."""
    usable = len(pcm) - len(pcm) % SAMPLE_WIDTH
    samples = np.frombuffer(pcm, dtype="<i2", count=usable // SAMPLE_WIDTH)
    return samples.astype(np.float32) / np.float32(_FULL_SCALE)


def float_to_pcm16(samples: npt.ArrayLike) -> bytes:
    """Float samples in [-1, 1] as PCM16 bytes, rounded and clipped (no wrap-around on overload)."""
    scaled = np.rint(np.asarray(samples, dtype=np.float64) * _FULL_SCALE)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def b64encode(pcm: bytes) -> str:
    """Base64 text, as ``input_audio_buffer.append(audio=...)`` expects."""
    return base64.b64encode(pcm).decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Bytes from base64 text; raises ``ValueError`` on invalid input instead of guessing."""
    return base64.b64decode(text, validate=True)


# --- levels -----------------------------------------------------------------------------------------------


def rms(pcm: bytes | bytearray | memoryview) -> float:
    """RMS level of PCM16 audio, 0 (silence) to 1 (full-scale square wave)."""
    usable = len(pcm) - len(pcm) % SAMPLE_WIDTH
    if usable == 0:
        return 0.0
    samples = np.frombuffer(pcm, dtype="<i2", count=usable // SAMPLE_WIDTH).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)) / _FULL_SCALE)


def dbfs(pcm: bytes | bytearray | memoryview, floor: float = -120.0) -> float:
    """RMS level in dB relative to full scale (a full-scale sine is about -3 dBFS); silence gives ``floor``."""
    level = rms(pcm)
    return max(20 * math.log10(level), floor) if level > 0 else floor


# --- resampling -------------------------------------------------------------------------------------------


def resample(samples: npt.ArrayLike, from_rate: int, to_rate: int) -> FloatArray:
    """Mono float samples at ``to_rate``, by Kaiser-windowed sinc interpolation (low-passed when downsampling)."""
    x = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or x.size == 0:
        return x.copy()
    ratio = to_rate / from_rate
    cutoff = min(1.0, ratio) * _SINC_ROLLOFF  # as a fraction of the input's Nyquist frequency
    half_width = _SINC_ZERO_CROSSINGS / cutoff  # in input samples
    taps = np.arange(-math.ceil(half_width) + 1, math.ceil(half_width) + 1)
    n_out = int(x.size * ratio)
    out = np.empty(n_out, dtype=np.float32)
    for start in range(0, n_out, _RESAMPLE_CHUNK):
        positions = np.arange(start, min(start + _RESAMPLE_CHUNK, n_out)) / ratio
        index = np.floor(positions).astype(np.int64)[:, None] + taps[None, :]
        distance = positions[:, None] - index
        window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1 - (distance / half_width) ** 2, 0, None))) / np.i0(_KAISER_BETA)
        weights = cutoff * np.sinc(cutoff * distance) * window
        inside = (index >= 0) & (index < x.size)
        values = np.where(inside, x[np.clip(index, 0, x.size - 1)], 0.0)
        out[start : start + len(positions)] = np.sum(values * weights, axis=1)
    return out


# --- WAV files --------------------------------------------------------------------------------------------

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_IEEE_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_KSDATAFORMAT_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")
_COMPRESSED_FORMATS = {
    2: "Microsoft ADPCM",
    6: "A-law",
    7: "μ-law",
    0x11: "IMA ADPCM",
    0x31: "GSM 6.10",
    0x40: "G.721 ADPCM",
    0x50: "MPEG audio",
    0x55: "MP3",
    0x161: "Windows Media Audio",
    0x2000: "AC-3",
    0xF1AC: "FLAC",
}
_EXPECTED = "expected an uncompressed PCM WAV file (8/16/24/32-bit integer or 32-bit float)"


@dataclass(frozen=True)
class WavAudio:
    """The samples of a WAV file as float32, shape (frames, channels), at the file's own rate."""

    samples: FloatArray
    sample_rate: int
    encoding: str

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_ms(self) -> float:
        return self.samples.shape[0] * 1000 / self.sample_rate


@dataclass(frozen=True)
class _Format:
    tag: int
    channels: int
    sample_rate: int
    bits: int
    extensible: bool


def read_wav(path: str | os.PathLike[str]) -> WavAudio:
    """Any uncompressed WAV (8/16/24/32-bit int, 32/64-bit float, plain or extensible); else AudioFileError."""
    name = os.fspath(path)
    data = _read_file(name)
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFileError(_not_wav_message(name, data))
    fmt: _Format | None = None
    audio: bytes | None = None
    declared = 0
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(name, body, size)
        elif chunk_id == b"data":
            audio, declared = body, size
            if fmt is not None:
                break
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    if fmt is None:
        raise AudioFileError(f"{name}: the WAV header is incomplete (no 'fmt ' chunk): truncated? {_EXPECTED}.")
    if audio is None:
        raise AudioFileError(f"{name}: the WAV file has no 'data' chunk: truncated? {_EXPECTED}.")
    samples = _decode(fmt, audio)
    if len(audio) < declared:
        if samples.shape[0] == 0:
            raise AudioFileError(f"{name}: the WAV file is truncated (it ends before its audio); {_EXPECTED}.")
        logger.warning("%s is truncated: using the %d bytes of audio there of %d promised", name, len(audio), declared)
    if samples.shape[0] == 0:
        raise AudioFileError(f"{name}: the WAV file contains no audio samples; {_EXPECTED} with some sound in it.")
    return WavAudio(samples, fmt.sample_rate, _describe(fmt))


def load_pcm16(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> bytes:
    """A WAV file as mono PCM16 at ``sample_rate``: channels mixed down, resampled if needed."""
    wav = read_wav(path)
    mono = wav.samples.mean(axis=1, dtype=np.float32) if wav.channels > 1 else wav.samples[:, 0]
    return float_to_pcm16(resample(mono, wav.sample_rate, sample_rate))


def write_wav(pcm: bytes | bytearray | memoryview, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A mono PCM16 WAV file's bytes for ``pcm`` (a trailing odd byte is dropped)."""
    body = bytes(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH])
    fmt = struct.pack("<HHIIHH", _WAVE_FORMAT_PCM, 1, sample_rate, sample_rate * SAMPLE_WIDTH, SAMPLE_WIDTH, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(body))
        + body
    )


def _read_file(name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except FileNotFoundError:
        raise AudioFileNotFound(f"{name}: no such file; expected a WAV file (examples: assets/audio/).") from None
    except IsADirectoryError:
        raise AudioFileError(f"{name} is a folder; expected a WAV file.") from None
    except OSError as exc:
        raise AudioFileError(f"{name}: cannot be read ({exc.strerror or exc}); expected a readable WAV file.") from exc


def _not_wav_message(name: str, head: bytes) -> str:
    convert = f"Convert it with: ffmpeg -i {shlex.quote(name)} -ar 24000 -ac 1 -c:a pcm_s16le out.wav"
    if not head:
        return f"{name}: the file is empty (0 bytes); {_EXPECTED}."
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return f"{name}: this is an MP3 file, not a WAV file; {_EXPECTED}. {convert}"
    kinds = {b"OggS": "an Ogg (Vorbis/Opus) file", b"fLaC": "a FLAC file", b"RIFX": "a big-endian WAV (RIFX) file"}
    kinds |= {b"RF64": "an RF64 (64-bit WAV) file", b"FORM": "an AIFF file"}
    if head[:4] in kinds:
        return f"{name}: this is {kinds[head[:4]]}, not a standard WAV file; {_EXPECTED}. {convert}"
    if head[:4] == b"RIFF" and len(head) < 12:
        return f"{name}: the WAV header is truncated ({len(head)} bytes); {_EXPECTED}."
    if head[:4] == b"RIFF":
        return f"{name}: this is a RIFF file but not a WAV file (type {head[8:12]!r}); {_EXPECTED}."
    if _looks_like_text(head[:512]):
        return f"{name}: this is a text file, not audio; {_EXPECTED}."
    return f"{name}: this is not a WAV file (it does not start with 'RIFF....WAVE'); {_EXPECTED}. {convert}"


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _parse_fmt(name: str, body: bytes, size: int) -> _Format:
    if len(body) < 16 or len(body) < size:
        raise AudioFileError(f"{name}: the WAV header is truncated (the 'fmt ' chunk is cut short); {_EXPECTED}.")
    tag, channels, sample_rate, _byte_rate, _block_align, bits = struct.unpack_from("<HHIIHH", body)
    extensible = tag == _WAVE_FORMAT_EXTENSIBLE
    if extensible:
        if len(body) < 40:
            raise AudioFileError(f"{name}: the WAV header is truncated (the extensible 'fmt ' chunk is cut short).")
        subformat = body[24:40]
        if subformat[2:] != _KSDATAFORMAT_SUFFIX:
            raise AudioFileError(f"{name}: {_EXPECTED}; this one is WAVE_FORMAT_EXTENSIBLE with an unknown sub-format.")
        (tag,) = struct.unpack_from("<H", subformat)
    fmt = _Format(tag, channels, sample_rate, bits, extensible)
    supported = (tag == _WAVE_FORMAT_PCM and 1 <= bits <= 32) or (tag == _WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64))
    if not supported:
        convert = f"Convert it with: sox {shlex.quote(name)} -e signed-integer -b 16 out.wav"
        raise AudioFileError(f"{name}: {_EXPECTED}; this one is {_describe(fmt)}. {convert}")
    if channels == 0 or sample_rate == 0:
        raise AudioFileError(f"{name}: the WAV header is damaged ({channels} channels at {sample_rate} Hz).")
    return fmt


def _describe(fmt: _Format) -> str:
    if fmt.tag == _WAVE_FORMAT_PCM:
        kind = f"{fmt.bits}-bit {'unsigned' if fmt.bits <= 8 else 'signed'} integer PCM"
    elif fmt.tag == _WAVE_FORMAT_IEEE_FLOAT:
        kind = f"{fmt.bits}-bit float"
    else:
        kind = f"{_COMPRESSED_FORMATS.get(fmt.tag, 'an unsupported encoding')} (format {fmt.tag})"
    return f"{kind} (extensible)" if fmt.extensible else kind


def _decode(fmt: _Format, audio: bytes) -> FloatArray:
    width = (fmt.bits + 7) // 8
    frame = width * fmt.channels
    raw = np.frombuffer(audio, dtype=np.uint8, count=len(audio) - len(audio) % frame)
    if fmt.tag == _WAVE_FORMAT_IEEE_FLOAT:
        values = raw.view("<f4" if width == 4 else "<f8").astype(np.float32)
        values = np.nan_to_num(np.clip(values, -1.0, 1.0))
    elif width == 1:
        values = (raw.astype(np.float32) - np.float32(128)) / np.float32(128)
    elif width == 3:
        padded = np.zeros((raw.size // 3, 4), dtype=np.uint8)
        padded[:, 1:] = raw.reshape(-1, 3)  # 24-bit little-endian into the top of an int32
        values = padded.view("<i4").ravel().astype(np.float32) / 2.0**31
    else:
        values = raw.view(f"<i{width}").astype(np.float32) / np.float32(2.0 ** (8 * width - 1))
    return values.reshape(-1, fmt.channels)

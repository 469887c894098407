"""PCM16 helpers the audio package shares: conversions, base64, resampling, WAV writing and levels.

Reading audio files is audio_files.py's job.

Voice Live's PCM16 is signed 16-bit little-endian, mono, 24 kHz. Float samples are in [-1, 1) with
full scale = 32768, so int16 -> float -> int16 is exact.
"""

from __future__ import annotations

import base64
import math
import struct

import numpy as np
import numpy.typing as npt

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

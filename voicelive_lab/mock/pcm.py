"""The few sample conversions the practice server needs (it ships alone, so it keeps its own)."""

from __future__ import annotations

import base64

import numpy as np

#: G.711 is narrow-band telephone audio: 8 kHz, one byte a sample, whatever the session's rate field says.
G711_RATE = 8000
#: PCM16 input when the session names no rate (the service's default).
DEFAULT_INPUT_RATE = 24000
#: The sample rate of reply audio in each output format ("pcm16" alone is 24 kHz).
OUTPUT_RATE_FOR_FORMAT = {
    "pcm16": 24000,
    "pcm16_8000hz": 8000,
    "pcm16_16000hz": 16000,
    "pcm16_22050hz": 22050,
    "pcm16_24000hz": 24000,
    "pcm16_44100hz": 44100,
    "pcm16_48000hz": 48000,
    "g711_ulaw": G711_RATE,
    "g711_alaw": G711_RATE,
}


def b64encode(data: bytes) -> str:
    """Standard, padded base64: the only form the SDK decodes back to ``bytes``."""
    return base64.b64encode(data).decode("ascii")


def is_g711(audio_format: str) -> bool:
    return audio_format.startswith("g711")


def input_rate(audio_format: str, sampling_rate: int) -> int:
    """The sample rate of client audio: G.711 is always 8 kHz, PCM16 runs at the session's rate."""
    return G711_RATE if is_g711(audio_format) else sampling_rate


def bytes_per_ms(audio_format: str, sampling_rate: int, channels: int = 1) -> float:
    """Wire bytes per millisecond of audio (``channels`` interleaved samples per instant)."""
    if is_g711(audio_format):
        return G711_RATE / 1000 * channels
    return sampling_rate * 2 / 1000 * channels


def decode_input(data: bytes, audio_format: str) -> np.ndarray:
    """Client audio as float samples in [-1, 1]."""
    if audio_format == "g711_ulaw":
        return _ulaw_to_float(np.frombuffer(data, dtype=np.uint8))
    if audio_format == "g711_alaw":
        return _alaw_to_float(np.frombuffer(data, dtype=np.uint8))
    usable = len(data) - len(data) % 2
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0


def encode_output(samples: np.ndarray, audio_format: str) -> bytes:
    """Float samples in [-1, 1] to the wire bytes of ``audio_format``."""
    clipped = np.clip(samples, -1.0, 1.0)
    if audio_format == "g711_ulaw":
        return _float_to_ulaw(clipped).tobytes()
    if audio_format == "g711_alaw":
        return _float_to_alaw(clipped).tobytes()
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def _ulaw_to_float(codes: np.ndarray) -> np.ndarray:
    u = ~codes.astype(np.int32) & 0xFF
    sign = np.where(u & 0x80, -1.0, 1.0)
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (sign * magnitude / 32768.0).astype(np.float32)


def _float_to_ulaw(samples: np.ndarray) -> np.ndarray:
    pcm = (samples * 32767.0).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def _alaw_to_float(codes: np.ndarray) -> np.ndarray:
    a = codes.astype(np.int32) ^ 0x55
    sign = np.where(a & 0x80, 1.0, -1.0)
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return (sign * magnitude / 32768.0).astype(np.float32)


def _float_to_alaw(samples: np.ndarray) -> np.ndarray:
    pcm = (samples * 32767.0).astype(np.int32)
    sign = np.where(pcm >= 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), 32767) >> 3
    exponent = np.where(magnitude >= 32, np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 4, 0)
    mantissa = np.where(exponent == 0, magnitude >> 1, magnitude >> exponent) & 0x0F
    return ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8)


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling of a whole utterance (FFT), float32 out."""
    if source_rate == target_rate or not len(samples):
        return samples.astype(np.float32)
    count = round(len(samples) * target_rate / source_rate)
    spectrum = np.fft.rfft(samples)
    kept = np.zeros(count // 2 + 1, dtype=complex)
    width = min(len(spectrum), len(kept))
    kept[:width] = spectrum[:width]
    return (np.fft.irfft(kept, count) * (count / len(samples))).astype(np.float32)

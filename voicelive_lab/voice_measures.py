"""What a voice setting did to the audio, measured from the audio itself: how long the speech lasts, how high it is.

``rate`` and ``pitch`` are requests; these measures show what came back, so a learner can see a setting work (or
see that it changed nothing, as a style does on the practice service). Speaking time runs from the first to the
last audible sample; pitch is the median fundamental frequency of the voiced frames, found by autocorrelation.
"""

from __future__ import annotations

import numpy as np

from .audio.pcm import SAMPLE_RATE, pcm16_to_float

AUDIBLE = 0.02  # of the loudest sample: quieter samples at the edges are silence
FRAME_S = 0.04
HOP_S = 0.01
LOWEST_HZ = 60.0
HIGHEST_HZ = 400.0
VOICED = 0.5  # a frame is voiced when its autocorrelation at the period is at least this share of its energy


def speaking_time_ms(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> float:
    """Milliseconds from the first to the last audible sample of ``pcm`` (mono PCM16); 0 for silence."""
    samples = np.abs(pcm16_to_float(pcm))
    if not len(samples) or float(samples.max()) == 0.0:
        return 0.0
    audible = np.flatnonzero(samples >= AUDIBLE * float(samples.max()))
    return (int(audible[-1]) + 1 - int(audible[0])) * 1000 / sample_rate


def median_pitch_hz(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> float | None:
    """The median pitch (Hz) of the voiced frames of ``pcm`` (mono PCM16), or None when no frame is voiced."""
    samples = pcm16_to_float(pcm).astype(np.float64)
    frame, hop = round(FRAME_S * sample_rate), round(HOP_S * sample_rate)
    if len(samples) < frame:
        return None
    starts = np.arange(0, len(samples) - frame + 1, hop)
    frames = samples[starts[:, None] + np.arange(frame)]
    frames -= frames.mean(axis=1, keepdims=True)
    energy = (frames**2).sum(axis=1)
    loud = energy > 0.05 * float(energy.max()) if float(energy.max()) > 0 else np.zeros(len(frames), dtype=bool)
    size = 1 << (2 * frame - 1).bit_length()
    spectrum = np.fft.rfft(frames[loud], size)
    correlation = np.fft.irfft(np.abs(spectrum) ** 2, size)[:, :frame]
    shortest, longest = int(sample_rate / HIGHEST_HZ), int(sample_rate / LOWEST_HZ)
    pitches = []
    for row in correlation:
        lag = shortest + int(np.argmax(row[shortest:longest]))
        if row[0] <= 0 or row[lag] < VOICED * row[0]:
            continue
        pitches.append(sample_rate / (lag + _peak_offset(row, lag)))
    return float(np.median(pitches)) if pitches else None


def _peak_offset(row: np.ndarray, lag: int) -> float:
    """Where between samples the peak at ``lag`` lies (a parabola through it and its neighbours)."""
    before, at, after = row[lag - 1], row[lag], row[lag + 1]
    curve = before - 2 * at + after
    return 0.0 if curve == 0 else float(0.5 * (before - after) / curve)

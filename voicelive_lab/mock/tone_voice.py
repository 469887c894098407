"""The last-resort voice when no eSpeak NG is found: voice-like audio from text, with the time each word starts.

It is not intelligible speech. It is a pitched, formant-shaped, syllable-paced sound with pauses at
punctuation, so that a learner hears "someone talking" and a level meter or VAD sees speech.
"""

from __future__ import annotations

import zlib

import numpy as np

#: (F1, F2, F3) in Hz, roughly the vowels of English.
VOWEL_FORMANTS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (300, 2250, 3000),
    "o": (570, 840, 2410),
    "u": (320, 900, 2240),
    "y": (400, 1900, 2500),
}
VOICED_CONSONANT_FORMANTS = {
    "m": (260, 1100, 2300),
    "n": (260, 1400, 2400),
    "l": (360, 1100, 2500),
    "r": (420, 1250, 1700),
    "w": (300, 700, 2200),
    "j": (300, 2100, 2900),
}
PLOSIVES = set("pbtdkgcq")
FRICATIVES = set("fvszhx")
PUNCTUATION_PAUSE_MS = {",": 170, ";": 200, ":": 200, ".": 280, "!": 280, "?": 300}
WORD_GAP_MS = 35
VOWEL_MS = 95
CONSONANT_MS = 55


def base_pitch_hz(voice_name: str) -> float:
    return 105.0 + zlib.crc32(voice_name.encode()) % 110


def tone_speech(pieces: list[str], voice_name: str, sample_rate: int) -> tuple[np.ndarray, list[int]]:
    """Samples for the words in ``pieces`` and the sample where each piece starts; always the same."""
    f0_base = base_pitch_hz(voice_name)
    question = "".join(pieces).rstrip().endswith("?")
    segments: list[np.ndarray] = []
    starts: list[int] = []
    position = 0
    for index, piece in enumerate(pieces):
        starts.append(position)
        progress = index / max(len(pieces) - 1, 1)
        declination = 1.0 + (0.12 if question and progress > 0.8 else -0.15 * progress)
        word_audio = _word(piece.strip(), f0_base * declination, sample_rate, seed=zlib.crc32(piece.encode()))
        gap_ms = WORD_GAP_MS + max((PUNCTUATION_PAUSE_MS.get(ch, 0) for ch in piece.strip()[-1:]), default=0)
        gap = np.zeros(sample_rate * gap_ms // 1000, dtype=np.float32)
        segments += [word_audio, gap]
        position += len(word_audio) + len(gap)
    audio = np.concatenate(segments) if segments else np.zeros(0, dtype=np.float32)
    return audio, starts


def _word(word: str, f0: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    letters = [ch for ch in word.lower() if ch.isalnum()]
    parts: list[np.ndarray] = []
    for position, letter in enumerate(letters):
        accent = 1.08 if position < 2 else 1.0
        if letter in VOWEL_FORMANTS or letter.isdigit():
            formants = VOWEL_FORMANTS.get(letter, VOWEL_FORMANTS["a"])
            parts.append(_voiced(formants, f0 * accent, VOWEL_MS, rate, loudness=1.0))
        elif letter in VOICED_CONSONANT_FORMANTS:
            parts.append(_voiced(VOICED_CONSONANT_FORMANTS[letter], f0, CONSONANT_MS, rate, loudness=0.45))
        elif letter in PLOSIVES:
            closure = np.zeros(rate * 20 // 1000, dtype=np.float32)
            parts += [closure, _noise(rng, 25, rate, brightness=0.6, loudness=0.35)]
        elif letter in FRICATIVES:
            bright = 0.9 if letter in "sxz" else 0.4
            parts.append(_noise(rng, CONSONANT_MS, rate, brightness=bright, loudness=0.25))
        else:
            parts.append(_voiced((400, 1500, 2500), f0, CONSONANT_MS, rate, loudness=0.4))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _voiced(formants: tuple[int, int, int], f0: float, ms: int, rate: int, loudness: float) -> np.ndarray:
    """Harmonics of a gently wavering pitch, weighted by three formant resonances."""
    n = rate * ms // 1000
    t = np.arange(n) / rate
    pitch = f0 * (1.0 + 0.02 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    top = min(4500.0, rate * 0.45)
    harmonics = np.arange(1, int(top // f0) + 1)
    weights = np.zeros(len(harmonics))
    for formant, gain in zip(formants, (1.0, 0.6, 0.3), strict=True):
        bandwidth = 60.0 + formant * 0.06
        weights += gain / (1.0 + ((harmonics * f0 - formant) / bandwidth) ** 2)
    wave = np.sin(np.outer(phase, harmonics)) @ weights
    return (_envelope(n, rate) * wave * loudness / max(weights.sum(), 1e-9)).astype(np.float32)


def _noise(rng: np.random.Generator, ms: int, rate: int, brightness: float, loudness: float) -> np.ndarray:
    n = rate * ms // 1000
    white = rng.standard_normal(n + 1)
    coloured = brightness * np.diff(white) + (1 - brightness) * white[1:]
    return (_envelope(n, rate) * coloured * loudness * 0.3).astype(np.float32)


def _envelope(n: int, rate: int) -> np.ndarray:
    ramp = min(n // 2, rate * 8 // 1000)
    envelope = np.ones(n)
    if ramp:
        rise = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
        envelope[:ramp] = rise
        envelope[-ramp:] = rise[::-1]
    return envelope

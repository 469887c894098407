"""The kit's sample utterances (assets/audio), found wherever a notebook runs from."""

from __future__ import annotations

from pathlib import Path

from .errors import AudioFileNotFound

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "audio"


def sample_names() -> list[str]:
    return sorted(path.name for path in SAMPLES_DIR.glob("*.wav"))


def sample(name: str) -> Path:
    """The path of a sample utterance such as ``"hello.wav"``."""
    path = SAMPLES_DIR / name
    if not path.is_file():
        raise AudioFileNotFound(f"There is no sample called {name!r}; the samples are: {', '.join(sample_names())}.")
    return path

"""The practice assistant's voice: text in, audio out, with when each word starts and the mouth shapes.

eSpeak NG speaks when it can be loaded (the wheel's library, else the system's); otherwise a tone voice keeps
the timing and the levels of speech without the words. Which one is in use is logged once per process.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .espeak import Espeak, EspeakUnavailable, load_espeak
from .pcm import resample
from .tone_voice import tone_speech
from .visemes import visemes_from_phonemes
from .voices import choose_voice

log = logging.getLogger("voicelive_lab.mock")

PEAK = 0.5
AUDIBLE = 0.01


@dataclass(frozen=True)
class WordTiming:
    text: str
    offset_ms: int
    duration_ms: int


@dataclass(frozen=True)
class SpokenText:
    """Audio for a text; ``pieces`` (sample where it starts, text) join back to the text exactly."""

    samples: np.ndarray
    sample_rate: int
    pieces: tuple[tuple[int, str], ...]
    words: tuple[WordTiming, ...] = ()
    visemes: tuple[tuple[int, int], ...] = ()

    @property
    def duration_ms(self) -> int:
        return round(len(self.samples) * 1000 / self.sample_rate)


def split_pieces(text: str) -> list[str]:
    """Words with their following spaces; joining the list gives back ``text`` exactly."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


_loading = threading.Lock()


def loaded_espeak() -> Espeak | None:
    """eSpeak NG, loaded once per process; None (said once, in the log) when there is none."""
    with _loading:
        return _load_espeak()


@functools.cache
def _load_espeak() -> Espeak | None:
    try:
        espeak = load_espeak()
    except EspeakUnavailable as error:
        log.warning("Practice voice: eSpeak NG is not available (%s); replies use a tone voice without words.", error)
        return None
    log.info("Practice voice: eSpeak NG from the %s.", espeak.origin)
    return espeak


def describe_voice_engine() -> str:
    espeak = loaded_espeak()
    if espeak is None:
        return "tone voice (no eSpeak NG found: replies have the rhythm of speech but no words)"
    return f"eSpeak NG from the {espeak.origin} (GPL-3.0)"


#: Replies up to this long are kept (the greeting and the common answers); longer ones are made each time, so
#: the cache stays a few megabytes whatever clients ask for.
MAX_CACHED_CHARS = 300


def synthesize(text: str, voice: Any = None, sample_rate: int = 24000) -> SpokenText:
    """The same text, voice and rate always give the same audio. ``voice`` is the session's voice field."""
    voice_json = json.dumps(voice, sort_keys=True)
    if len(text) <= MAX_CACHED_CHARS:
        return _cached_synthesis(text, voice_json, sample_rate)
    return _synthesis(text, voice_json, sample_rate)


@functools.lru_cache(maxsize=64)
def _cached_synthesis(text: str, voice_json: str, sample_rate: int) -> SpokenText:
    return _synthesis(text, voice_json, sample_rate)


def _synthesis(text: str, voice_json: str, sample_rate: int) -> SpokenText:
    voice = json.loads(voice_json)
    pieces = split_pieces(text)
    espeak = loaded_espeak()
    spoken = _espeak_speech(espeak, text, pieces, voice, sample_rate) if espeak is not None else None
    if spoken is None:
        samples, starts = tone_speech(pieces, voice_json, sample_rate)
        spoken = _finish(samples, sample_rate, starts, pieces, ())
    spoken.samples.setflags(write=False)
    return spoken


def _espeak_speech(espeak: Espeak, text: str, pieces: list[str], voice: Any, sample_rate: int) -> SpokenText | None:
    choice = choose_voice(voice)
    try:
        output = espeak.speak(text, choice.espeak)
    except EspeakUnavailable:
        output = espeak.speak(text, dataclasses.replace(choice.espeak, voice="en-us"))
    if not len(output.samples):
        return None
    samples = resample(output.samples.astype(np.float32) / 32768.0, output.sample_rate, sample_rate)
    starts_ms = _piece_starts_ms(pieces, output.words)
    starts = [ms * sample_rate // 1000 for ms in starts_ms]
    return _finish(samples, sample_rate, starts, pieces, visemes_from_phonemes(output.phonemes))


def _piece_starts_ms(pieces: list[str], words: tuple[tuple[int, int, int], ...]) -> list[int]:
    """When each piece starts: the first word event inside it. eSpeak reports some short words together with
    the next ("for the" as one event); such pieces share the time up to the next reported word by their length,
    so every word keeps a duration, as a service's word timestamps do. After the last report, the last start."""
    reported: list[int | None] = []
    position = 0
    for piece in pieces:
        begin = position + len(piece) - len(piece.lstrip())
        position += len(piece)
        inside = [ms for offset, _, ms in words if begin <= offset < position]
        reported.append(min(inside) if inside else None)
    starts: list[int] = []
    anchor = 0  # the last piece with a reported start: unreported pieces after it share the time it leaves
    for index, ms in enumerate(reported):
        previous = starts[-1] if starts else 0
        if ms is not None:
            starts.append(max(ms, previous))
            anchor = index
            continue
        following = next((i for i in range(index + 1, len(pieces)) if reported[i] is not None), None)
        if following is None or not starts:
            starts.append(previous)
            continue
        end = max(reported[following] or 0, starts[anchor])
        share = sum(map(len, pieces[anchor:index])) / max(1, sum(map(len, pieces[anchor:following])))
        starts.append(starts[anchor] + round((end - starts[anchor]) * share))
    return starts


def _finish(
    samples: np.ndarray, rate: int, starts: list[int], pieces: list[str], visemes: tuple[tuple[int, int], ...]
) -> SpokenText:
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak > 0:
        samples = (samples * (PEAK / peak)).astype(np.float32)
    audible = np.flatnonzero(np.abs(samples) > AUDIBLE * PEAK)
    end = int(audible[-1]) + 1 if len(audible) else len(samples)
    words: list[WordTiming] = []
    for index, (start, piece) in enumerate(zip(starts, pieces, strict=True)):
        following = starts[index + 1] if index + 1 < len(starts) else end
        if any(ch.isalnum() for ch in piece):
            words.append(WordTiming(piece.strip(), start * 1000 // rate, max(0, following - start) * 1000 // rate))
    return SpokenText(samples, rate, tuple(zip(starts, pieces, strict=True)), tuple(words), visemes)

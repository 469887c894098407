"""Figures of what a voice sounds like: several voice settings side by side, and one reply's words and mouth shapes.

Like :mod:`voicelive_lab.plots`, each function returns a :class:`~voicelive_lab.plots.SessionFigure` built
without pyplot, so a notebook shows it once as an image whatever the backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .audio.pcm import SAMPLE_RATE, SAMPLE_WIDTH
from .plots import SessionFigure, _envelope
from .voice_measures import median_pitch_hz, speaking_time_ms

#: Azure's viseme ids (the ones Voice Live sends) and the sounds that make each mouth shape, in US English.
VISEME_SOUNDS = {
    0: "silence", 1: "æ ə ʌ", 2: "ɑ", 3: "ɔ", 4: "ɛ ʊ", 5: "ɝ", 6: "j i ɪ", 7: "w u", 8: "o", 9: "aʊ", 10: "ɔɪ",  # noqa: RUF001
    11: "aɪ", 12: "h", 13: "ɹ", 14: "l", 15: "s z", 16: "ʃ tʃ dʒ ʒ", 17: "ð", 18: "f v", 19: "d t n θ",  # noqa: RUF001
    20: "k g ŋ", 21: "p b m",
}  # fmt: skip
WAVE_COLOUR = "#1abc9c"
WORD_COLOURS = ("#d6e9f8", "#f8e6d6")


def plot_voice_comparison(samples: Mapping[str, bytes], sample_rate: int = SAMPLE_RATE) -> Figure:
    """For each labelled reply (mono PCM16), how long the speech lasts and its median pitch, measured."""
    labels = list(samples)
    seconds = [speaking_time_ms(samples[label], sample_rate) / 1000 for label in labels]
    pitches = [median_pitch_hz(samples[label], sample_rate) or 0.0 for label in labels]
    figure = SessionFigure(figsize=(10, 0.45 * len(labels) + 1.4), layout="constrained")
    time_axes, pitch_axes = figure.subplots(1, 2, sharey=True)
    rows = np.arange(len(labels))
    for axes, values, unit, colour in (
        (time_axes, seconds, "s", "#2f81f7"),
        (pitch_axes, pitches, "Hz", "#a371f7"),
    ):
        axes.barh(rows, values, color=colour, height=0.6)
        for row, value in zip(rows, values, strict=True):
            axes.annotate(
                f"{value:.2f} {unit}" if unit == "s" else f"{value:.0f} {unit}",
                (value, row),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        axes.set_xlim(0, max([*values, 1.0]) * 1.25)
    time_axes.set_yticks(rows, labels)
    time_axes.invert_yaxis()
    time_axes.set_xlabel("speaking time (s): shorter is faster")
    pitch_axes.set_xlabel("median pitch (Hz): higher is a higher voice")
    figure.suptitle("The same sentence with different voice settings, measured from the audio")
    return figure


def plot_reply_timeline(
    pcm: bytes,
    words: Sequence[tuple[str, float, float]],
    visemes: Sequence[tuple[float, int]],
    sample_rate: int = SAMPLE_RATE,
) -> Figure:
    """One reply on one time axis: its waveform, its words (``(word, start_ms, end_ms)``) and its visemes
    (``(audio_offset_ms, viseme_id)``) as a step plot: each mouth shape holds until the next one."""
    figure = SessionFigure(figsize=(11, 6.5), layout="constrained")
    wave_axes, word_axes, viseme_axes = figure.subplots(3, 1, sharex=True, height_ratios=(1.2, 0.6, 3.2))
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH], dtype="<i2")
    end_s = len(samples) / sample_rate
    wave_axes.plot(*_envelope(np.arange(len(samples)) / sample_rate, samples), color=WAVE_COLOUR, linewidth=0.6)
    wave_axes.set_ylim(-1.05, 1.05)
    wave_axes.set_ylabel("amplitude")
    wave_axes.set_title("The reply's audio", loc="left", fontsize=10)

    for index, (word, start, stop) in enumerate(words):
        word_axes.axvspan(start / 1000, stop / 1000, color=WORD_COLOURS[index % 2])
        word_axes.text((start + stop) / 2000, 0.5, word, ha="center", va="center", fontsize=8, clip_on=True)
    word_axes.set_yticks([])
    word_axes.set_ylim(0, 1)
    word_axes.set_title("Words, from the word timestamps", loc="left", fontsize=10)

    if visemes:
        times = [offset / 1000 for offset, _ in visemes] + [end_s]
        ids = [viseme for _, viseme in visemes]
        viseme_axes.step(times, ids + ids[-1:], where="post", color="#e5534b", linewidth=1.0)
    for _, start, _ in words:
        viseme_axes.axvline(start / 1000, color="#bbb", linewidth=0.6, zorder=0)
    viseme_axes.set_yticks(list(VISEME_SOUNDS), [f"{key}  {sounds}" for key, sounds in VISEME_SOUNDS.items()])
    viseme_axes.tick_params(axis="y", labelsize=7)
    viseme_axes.set_ylim(-0.5, 21.5)
    viseme_axes.set_ylabel("viseme id (mouth shape)")
    viseme_axes.set_title("Visemes (grey lines: where each word starts)", loc="left", fontsize=10)
    viseme_axes.set_xlim(0, end_s)
    viseme_axes.set_xlabel("time in the reply's audio (s)")
    return figure

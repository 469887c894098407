"""Where the service decides that you started and stopped talking, for one recording under several settings.

:func:`hear_turns` sends a recording to a fresh session configured with ``session`` (turn detection, noise
reduction, …) and collects the service's turn events; it asks for no replies, so only turn-taking is seen.
:func:`plot_turns` draws the recording once and, below it, one row per setting with the spans between
``speech_started`` and ``speech_stopped``, all on the recording's own time axis: the difference between two
settings is seen at a glance. The times come from the events' ``audio_start_ms`` / ``audio_end_ms``: positions in
the audio sent, the same on the practice service and on Azure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from azure.ai.voicelive.aio import connect
from matplotlib.figure import Figure

from .audio.pcm import SAMPLE_RATE
from .config import Settings
from .plots import SessionFigure
from .recordings import events_until, send_audio

#: After the last audio, how long the service gets to finish deciding (its decisions follow the audio at once,
#: the words of a turn a moment later); once every turn has ended and its words have come, a short grace.
SETTLE_S = 1.5
SETTLED_S = 0.3
#: A turn still open after the audio, when the service judges words (semantic VAD): it may still be hearing
#: them, which takes longer on a loaded machine, so it gets this long before the turn counts as unfinished.
JUDGING_S = 10.0
SEMANTIC_TYPES = ("azure_semantic_vad", "azure_semantic_vad_en", "azure_semantic_vad_multilingual", "semantic_vad")
TURN_EVENTS = (
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.input_audio_transcription.completed",
    "error",
)
#: Turns alternate in colour, so that two turns that touch (padding can make them overlap) stay two.
SPAN_COLOURS = ("#2f81f7", "#8250df")


@dataclass
class HeardTurns:
    """What the service made of one recording: its turns as (start_ms, end_ms or None), and what it heard."""

    turns: list[tuple[int, int | None]] = field(default_factory=list)
    #: The conversation item of each committed turn, in order, and the words heard in each item.
    items: list[str] = field(default_factory=list)
    words: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        """Every turn has ended, and the words of every committed turn have come."""
        return all(end is not None for _, end in self.turns) and all(item in self.words for item in self.items)

    def describe(self, words: bool = False) -> str:
        """One line per turn: "turn 1: 0-1460 ms", with ``words`` also what the service heard."""
        if self.errors:
            return "refused: " + "; ".join(self.errors)
        if not self.turns:
            return "no turn: the service heard no speech"
        lines = []
        for number, (start, end) in enumerate(self.turns, start=1):
            until = f"{end} ms" if end is not None else "… (still talking)"
            said = self.words.get(self.items[number - 1], "") if number <= len(self.items) else ""
            lines.append(f"turn {number}: {start}-{until}" + (f"  {said!r}" if words else ""))
        return "\n".join(lines)


async def hear_turns(settings: Settings, pcm: bytes, session: Any) -> HeardTurns:
    """Send ``pcm`` (24 kHz mono PCM16) to a new session set up with ``session``; return its turns."""
    heard = HeardTurns()
    async with connect(endpoint=settings.endpoint, credential=settings.credential, model=settings.model) as conn:
        await conn.session.update(session=session)
        answer = (await events_until(conn, "session.updated", "error", timeout_s=10))[-1]
        if answer.type == "error":
            heard.errors.append(f"{answer.error.message} (field {answer.error.param})")
            return heard
        await send_audio(conn, pcm)
        judging = _judges_words(session)
        while True:
            try:
                still_open = any(end is None for _, end in heard.turns)
                timeout = SETTLED_S if heard.settled else JUDGING_S if judging and still_open else SETTLE_S
                event = (await events_until(conn, *TURN_EVENTS, timeout_s=timeout))[-1]
            except asyncio.TimeoutError:
                break
            _note(heard, event)
    return heard


def _judges_words(session: Any) -> bool:
    """Whether the session's turn detection waits for the words of a phrase, not only for silence."""
    detection = session.get("turn_detection") if hasattr(session, "get") else None
    if detection is None:
        return False
    kind = detection.get("type") if hasattr(detection, "get") else None
    return kind in SEMANTIC_TYPES or bool(detection.get("end_of_utterance_detection"))


def _note(heard: HeardTurns, event: Any) -> None:
    heard.events.append(event)
    if event.type == "input_audio_buffer.speech_started":
        heard.turns.append((int(event.audio_start_ms), None))
    elif event.type == "input_audio_buffer.speech_stopped" and heard.turns:
        heard.turns[-1] = (heard.turns[-1][0], int(event.audio_end_ms))
    elif event.type == "input_audio_buffer.committed":
        heard.items.append(event.item_id)
    elif event.type == "conversation.item.input_audio_transcription.completed":
        heard.words[event.item_id] = event.transcript
    elif event.type == "error":
        heard.errors.append(f"{event.error.message} (field {event.error.param})")


def plot_turns(pcm: bytes, runs: Mapping[str, HeardTurns], title: str = "Turns the service heard") -> Figure:
    """The recording on top, then one row per setting with its turns as spans, on one time axis."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    seconds = np.arange(len(samples)) / SAMPLE_RATE
    figure = SessionFigure(figsize=(10, 1.6 + 0.55 * len(runs)), layout="constrained")
    wave_axes, turn_axes = figure.subplots(2, 1, sharex=True, height_ratios=[1.2, 0.45 * max(len(runs), 1)])
    step = max(1, len(samples) // 4000)
    wave_axes.plot(seconds[::step], samples[::step], color="#888", linewidth=0.5)
    wave_axes.set_ylim(-1.05, 1.05)
    wave_axes.set_yticks([])
    wave_axes.set_title("The recording", loc="left", fontsize=10)
    for row, heard in enumerate(runs.values()):
        for number, (start, end) in enumerate(heard.turns):
            until = end if end is not None else len(samples) * 1000 / SAMPLE_RATE
            colour = SPAN_COLOURS[number % 2]
            span = [(start / 1000, (until - start) / 1000)]
            turn_axes.broken_barh(span, (row - 0.35, 0.7), color=colour, edgecolor="white", linewidth=1.5)
        count = "refused" if heard.errors else f"{len(heard.turns)} turn{'s' * (len(heard.turns) != 1)}"
        turn_axes.text(len(samples) / SAMPLE_RATE, row, f"  {count}", va="center", fontsize=9)
    turn_axes.set_yticks(range(len(runs)), list(runs))
    turn_axes.set_ylim(len(runs) - 0.5, -0.5)
    turn_axes.set_xlabel("position in the recording (s)")
    turn_axes.set_xlim(0, len(samples) / SAMPLE_RATE * 1.12)
    figure.suptitle(title)
    return figure

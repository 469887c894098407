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

#: Once the service has taken in all the audio, how long a turn still open gets to end (its decisions follow
#: the audio at once); once every turn has ended and its words have come, a short grace.
SETTLE_S = 1.5
SETTLED_S = 0.3
PROBE_ITEM = "item_turn_timeline_probe"
#: A turn still open after the audio, when the service judges words (semantic VAD), or the words of ended turns
#: still to come: the service may still be hearing them, which takes longer on a loaded machine (or while its
#: recogniser loads), so it gets this long before the turn counts as unfinished or its words as missing.
JUDGING_S = 10.0
SEMANTIC_TYPES = ("azure_semantic_vad", "azure_semantic_vad_en", "azure_semantic_vad_multilingual", "semantic_vad")
TURN_EVENTS = (
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "error",
)
#: How :func:`speech_spans` finds speech: 20 ms frames above -40 dBFS, pauses under 100 ms bridged.
FRAME_MS, SPEECH_LEVEL_DBFS, MIN_PAUSE_MS = 20, -40.0, 100
Span = tuple[int, int]
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
    #: The service has taken in all the audio (it answered the event sent after it).
    audio_taken: bool = False

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
            lines.append(f"turn {number}: {start}-{until}" + (f"  {self.words_of(number - 1)!r}" if words else ""))
        return "\n".join(lines)

    def words_of(self, index: int) -> str:
        """What the service heard in turn ``index`` (from 0); empty before its words have come."""
        return self.words.get(self.items[index], "") if index < len(self.items) else ""


async def hear_turns(settings: Settings, pcm: bytes, session: Any, words: bool = False) -> HeardTurns:
    """Send ``pcm`` (24 kHz mono PCM16) to a new session set up with ``session``; return its turns, and with
    ``words`` (when the service transcribes) the words of each, which come a moment after the turn ends."""
    heard = HeardTurns()
    async with connect(endpoint=settings.endpoint, credential=settings.credential, model=settings.model) as conn:
        await conn.session.update(session=session)
        answer = (await events_until(conn, "session.updated", "error", timeout_s=10))[-1]
        if answer.type == "error":
            heard.errors.append(f"{answer.error.message} (field {answer.error.param})")
            return heard
        await send_audio(conn, pcm)
        # The service answers client events in order: its answer to this probe (an item that does not exist)
        # comes once it has taken in all the audio, so "no turn" is never said before the audio was heard.
        await conn.send({"type": "conversation.item.retrieve", "item_id": PROBE_ITEM, "event_id": PROBE_ITEM})
        judging, transcribed = _judges_words(session), words and _transcribes(answer.session)
        while True:
            still_open = any(end is None for _, end in heard.turns)
            words_due = transcribed and not heard.settled
            if not heard.audio_taken or (judging and still_open) or (words_due and not still_open):
                timeout = JUDGING_S
            elif still_open:
                timeout = SETTLE_S
            else:
                timeout = SETTLED_S
            try:
                event = (await events_until(conn, *TURN_EVENTS, timeout_s=timeout))[-1]
            except asyncio.TimeoutError:
                break
            _note(heard, event)
    return heard


def _transcribes(session: Any) -> bool:
    """Whether the service writes the words of each turn: always for cascaded models, for realtime models
    when the session asks for transcription (as the session it answered with says)."""
    model = str(getattr(session, "model", "") or "")
    return getattr(session, "input_audio_transcription", None) is not None or "realtime" not in model


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
    elif event.type == "conversation.item.input_audio_transcription.failed":
        heard.words[event.item_id] = ""
    elif event.type == "error" and PROBE_ITEM in (str(event.error.event_id), str(event.error.message)):
        heard.audio_taken = True
    elif event.type == "error":
        heard.errors.append(f"{event.error.message} (field {event.error.param})")


def speech_spans(pcm: bytes, level_dbfs: float = SPEECH_LEVEL_DBFS, min_pause_ms: int = MIN_PAUSE_MS) -> list[Span]:
    """Where the recording has speech, as (start_ms, end_ms): 20 ms frames louder than ``level_dbfs``, with
    pauses shorter than ``min_pause_ms`` bridged. Measured as the samples' manifest measures them, so the
    pauses between the spans are the pauses a VAD setting has to wait through (or not)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    frame = SAMPLE_RATE * FRAME_MS // 1000
    count = len(samples) // frame
    rms = np.sqrt(np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1))
    loud = np.flatnonzero(20 * np.log10(np.maximum(rms, 1e-9)) > level_dbfs)
    spans: list[Span] = []
    for index in loud.tolist():
        start, end = index * FRAME_MS, (index + 1) * FRAME_MS
        if spans and start - spans[-1][1] < min_pause_ms:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def plot_turns(
    pcm: bytes, runs: Mapping[str, HeardTurns], title: str = "Turns the service heard", words: bool = False
) -> Figure:
    """The recording on top (its speech shaded), then one row per setting with its turns as spans, on one time
    axis; with ``words``, each turn is labelled with what the service heard in it."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    seconds = np.arange(len(samples)) / SAMPLE_RATE
    figure = SessionFigure(figsize=(10, 1.6 + 0.55 * len(runs)), layout="constrained")
    wave_axes, turn_axes = figure.subplots(2, 1, sharex=True, height_ratios=[1.2, 0.45 * max(len(runs), 1)])
    for start, end in speech_spans(pcm):
        wave_axes.axvspan(start / 1000, end / 1000, color="#d8e8d0", linewidth=0)
    step = max(1, len(samples) // 4000)
    wave_axes.plot(seconds[::step], samples[::step], color="#666", linewidth=0.5)
    wave_axes.set_ylim(-1.05, 1.05)
    wave_axes.set_yticks([])
    wave_axes.set_title("The recording (speech shaded)", loc="left", fontsize=10)
    for row, heard in enumerate(runs.values()):
        for number, (start, stop) in enumerate(heard.turns):
            until = stop if stop is not None else len(samples) * 1000 / SAMPLE_RATE
            colour = SPAN_COLOURS[number % 2]
            span = [(start / 1000, (until - start) / 1000)]
            turn_axes.broken_barh(span, (row - 0.35, 0.7), color=colour, edgecolor="white", linewidth=1.5)
            said = heard.words_of(number) if words else ""
            if said:
                turn_axes.text(start / 1000 + 0.05, row, said, va="center", fontsize=8, color="white", clip_on=True)
        count = "refused" if heard.errors else f"{len(heard.turns)} turn{'s' * (len(heard.turns) != 1)}"
        turn_axes.text(len(samples) / SAMPLE_RATE, row, f"  {count}", va="center", fontsize=9)
    turn_axes.set_yticks(range(len(runs)), list(runs))
    turn_axes.set_ylim(len(runs) - 0.5, -0.5)
    turn_axes.set_xlabel("position in the recording (s)")
    turn_axes.set_xlim(0, len(samples) / SAMPLE_RATE * 1.12)
    figure.suptitle(title)
    return figure


def plot_talk_over(
    microphone: bytes,
    reply: bytes,
    playback_start_ms: int,
    stopped_ms: int,
    kept: str,
    title: str = "Talking over the reply",
) -> Figure:
    """A barge-in on one clock: what the microphone recorded, and the reply as the speaker played it from
    ``playback_start_ms`` until it stopped at ``stopped_ms`` (both in microphone time). The part of the reply
    after the stop was sent but never heard; ``kept`` is what the conversation holds of it after truncation."""
    figure = SessionFigure(figsize=(10, 3.2), layout="constrained")
    mic_axes, speaker_axes = figure.subplots(2, 1, sharex=True)
    mic = np.frombuffer(microphone, dtype="<i2").astype(np.float32) / 32768
    for start, end in speech_spans(microphone):
        mic_axes.axvspan(start / 1000, end / 1000, color="#d8e8d0", linewidth=0)
    step = max(1, len(mic) // 4000)
    mic_axes.plot(np.arange(len(mic))[::step] / SAMPLE_RATE, mic[::step], color="#666", linewidth=0.5)
    mic_axes.set_title("Your microphone (speech shaded)", loc="left", fontsize=10)
    said = np.frombuffer(reply, dtype="<i2").astype(np.float32) / 32768
    times = playback_start_ms / 1000 + np.arange(len(said)) / SAMPLE_RATE
    heard = times <= stopped_ms / 1000
    step = max(1, len(said) // 4000)
    speaker_axes.plot(times[heard][::step], said[heard][::step], color="#1abc9c", linewidth=0.5, label="played")
    speaker_axes.plot(
        times[~heard][::step], said[~heard][::step], color="#bbb", linewidth=0.5, label="sent, never played"
    )
    speaker_axes.set_title(f"The reply on your speaker; the conversation keeps: {kept!r}", loc="left", fontsize=10)
    speaker_axes.legend(loc="lower left", fontsize=8, frameon=False, ncols=2)
    for axes in (mic_axes, speaker_axes):
        axes.axvline(stopped_ms / 1000, color="#e5534b", linestyle="--", linewidth=1)
        axes.set_ylim(-1.05, 1.05)
        axes.set_yticks([])
    mic_axes.text(stopped_ms / 1000, 0.8, " you start talking: the reply stops", color="#e5534b", fontsize=8)
    speaker_axes.set_xlabel("microphone time (s)")
    speaker_axes.set_xlim(0, max(len(mic) / SAMPLE_RATE, times[-1] if len(times) else 0))
    figure.suptitle(title)
    return figure

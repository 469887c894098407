"""Figures of a finished session: what was said and heard, when things happened, how quick each reply was.

Each function takes a ``SessionSummary`` and returns a matplotlib ``Figure``. The figures are built without
pyplot (no global state, no second copy shown by a backend) and draw themselves as PNG in a notebook.

All of a session's figures share its clock (seconds since it started). Audio is drawn where the devices
played it: devices that keep real time (a microphone, a speaker, ``WavMicrophone()`` and ``RecordingSpeaker()``
as lesson 04 uses them) line up with the events. Devices made with ``realtime=False`` send and "play" at
once, so their audio runs at its own pace, ahead of or past the events: use them for quick tests, not for
pictures.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .runner import SessionSummary
from .states import SessionState

RATE = 24000
STATE_COLOURS: dict[str, str] = {
    SessionState.IDLE: "#b0b0b0",
    SessionState.STARTING: "#f0b429",
    SessionState.READY: "#3fb950",
    SessionState.LISTENING: "#2f81f7",
    SessionState.PROCESSING: "#a371f7",
    SessionState.ASSISTANT_SPEAKING: "#1abc9c",
    SessionState.ERROR: "#e5534b",
    SessionState.STOPPED: "#8b949e",
}
EVENT_ROWS = {
    "input_audio_buffer": "your audio",
    "conversation": "conversation",
    "response": "response",
    "session": "session",
    "error": "errors",
}


class SessionFigure(Figure):
    """A Figure that a notebook shows inline as an image, whichever matplotlib backend is active."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def plot_waveforms(summary: SessionSummary) -> Figure:
    """What the microphone sent and what the assistant said, on one time axis, with turn boundaries."""
    figure = SessionFigure(figsize=(10, 4), layout="constrained")
    sent_axes, heard_axes = figure.subplots(2, 1, sharex=True)
    if summary.sent_audio is not None:
        times = summary.sent_started_at + np.arange(len(summary.sent_audio)) / RATE
        sent_axes.plot(*_envelope(times, summary.sent_audio), color="#2f81f7", linewidth=0.6)
    if summary.reply_audio is not None and len(summary.reply_audio):
        for start, samples in _reply_pieces(summary):
            times = start + np.arange(len(samples)) / RATE
            heard_axes.plot(*_envelope(times, samples), color="#1abc9c", linewidth=0.6)
    for axes, title in ((sent_axes, "Sent by the microphone"), (heard_axes, "Heard from the assistant")):
        axes.set_title(title, loc="left", fontsize=10)
        axes.set_ylabel("amplitude")
        axes.set_ylim(-1.05, 1.05)
        for turn in summary.turns:
            axes.axvline(turn.speech_stopped_at, color="#888", linestyle="--", linewidth=0.8)
    heard_axes.set_xlabel("time since start (s)")
    figure.suptitle("Session audio (dashed lines: you stopped speaking)")
    return figure


def plot_timeline(summary: SessionSummary) -> Figure:
    """States as coloured spans, and every server event as a tick on the row of its family."""
    figure = SessionFigure(figsize=(10, 3.2), layout="constrained")
    axes = figure.subplots()
    changes = summary.snapshot.states
    end = max([c.at for c in changes] + [e.at for e in summary.snapshot.events] + [0.0]) + 0.2
    for change, following in zip(changes, [*changes[1:], None], strict=True):
        until = following.at if following is not None else end
        axes.axvspan(change.at, until, ymin=0.82, ymax=0.98, color=STATE_COLOURS.get(change.state, "#ccc"))
    rows = list(EVENT_ROWS.values())
    for event in summary.snapshot.events:
        row = rows.index(EVENT_ROWS.get(event.type.split(".")[0], "session"))
        axes.plot([event.at], [row], marker="|", markersize=10, color="#444")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_ylim(-0.6, len(rows) / 0.82 - 0.6)
    axes.set_xlim(0, end)
    axes.set_xlabel("time since start (s)")
    axes.set_title("States (top band) and server events")
    seen = list(dict.fromkeys(c.state for c in changes))
    handles = [Patch(color=STATE_COLOURS.get(state, "#ccc"), label=state.replace("_", " ")) for state in seen]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="state")
    return figure


def plot_latency(summary: SessionSummary) -> Figure:
    """Per turn: speech stopped → first audio (reaction time), and first audio → reply done."""
    figure = SessionFigure(figsize=(6, 3.2), layout="constrained")
    axes = figure.subplots()
    turns = summary.turns
    positions = np.arange(1, len(turns) + 1)
    reaction = [t.latency_ms or 0.0 for t in turns]
    delivery = [t.reply_ms or 0.0 for t in turns]
    axes.bar(positions - 0.2, reaction, width=0.4, label="speech stopped → first audio", color="#2f81f7")
    axes.bar(positions + 0.2, delivery, width=0.4, label="first audio → reply done", color="#1abc9c")
    axes.set_xticks(positions, [f"turn {n}" for n in positions])
    axes.set_ylabel("milliseconds")
    axes.set_title("Latency per turn")
    axes.legend(fontsize=8)
    return figure


def _reply_pieces(summary: SessionSummary) -> list[tuple[float, np.ndarray]]:
    audio = summary.reply_audio
    assert audio is not None
    segments = list(summary.reply_segments) or [(0.0, 0)]
    bounds = [offset for _, offset in segments[1:]] + [len(audio)]
    return [(start, audio[offset:end]) for (start, offset), end in zip(segments, bounds, strict=True)]


def _envelope(times: np.ndarray, samples: np.ndarray, points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Thin long audio for drawing: min and max of each slice, so peaks stay visible."""
    values = samples.astype(np.float32) / 32768
    if len(values) <= points:
        return times, values
    step = len(values) // (points // 2)
    usable = len(values) // step * step
    blocks = values[:usable].reshape(-1, step)
    block_times = np.repeat(times[:usable:step], 2)
    return block_times, np.column_stack([blocks.min(axis=1), blocks.max(axis=1)]).ravel()

"""A small evaluation: several recorded conversations through one or more assistant classes, as a table and a chart.

Where a test says pass or fail, an evaluation measures: how many turns each conversation had, how many of the
interruptions the assistant handled (the reply the user talked over stopped), and how soon the first audio of each
reply came after the user stopped speaking. The counts come out the same on every run; the latencies are the
practice server's timings on this machine and vary a little from run to run, so they are kept apart from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from .agent_testing import Step, VoiceSession, talk_to
from .plots import SessionFigure

BAR_COLOURS = ("#2f81f7", "#e5534b", "#a371f7", "#3fb950")


@dataclass(frozen=True)
class Evaluation:
    """Every conversation of an evaluation: ``sessions[assistant label][recording label]``."""

    sessions: Mapping[str, Mapping[str, VoiceSession]]

    @property
    def assistants(self) -> list[str]:
        return list(self.sessions)

    @property
    def recordings(self) -> list[str]:
        return list(next(iter(self.sessions.values()), {}))

    def table(self) -> str:
        """Turns, replies and interruptions handled per recording: the part that is the same on every run."""
        width = max(len("assistant"), *(len(label) for label in self.assistants))
        lines = [f"{'recording':<14}{'assistant':<{width}}  turns  replies  interruptions handled"]
        for recording in self.recordings:
            for index, assistant in enumerate(self.assistants):
                session = self.sessions[assistant][recording]
                handled = (
                    f"{session.interruptions_handled} of {session.interruptions}" if session.interruptions else "-"
                )
                name = recording if index == 0 else ""
                lines.append(
                    f"{name:<14}{assistant:<{width}}  {session.turns:>5}  {len(session.replies):>7}  {handled:>21}"
                )
        for assistant, sessions in self.sessions.items():
            lines += [f"Problem ({assistant}, {name}): {p}" for name, s in sessions.items() for p in s.problems]
        return "\n".join(lines)

    def latency_table(self) -> str:
        """The median time from the end of a turn to the reply's first audio, per recording (varies run to run)."""
        header = f"{'recording':<14}" + "".join(f"{label:>24}" for label in self.assistants)
        lines = [header]
        for recording in self.recordings:
            cells = [_ms(self.sessions[a][recording].median_first_audio_ms) for a in self.assistants]
            lines.append(f"{recording:<14}" + "".join(f"{cell:>24}" for cell in cells))
        return "\n".join(lines)

    def plot(self, title: str = "First audio after the end of a turn (practice server)") -> Figure:
        """Bars: the median first-audio latency per recording and assistant; dots: each reply's own."""
        figure = SessionFigure(figsize=(10, 3.6), layout="constrained")
        axes = figure.subplots()
        positions = np.arange(len(self.recordings))
        width = 0.8 / max(1, len(self.assistants))
        for index, assistant in enumerate(self.assistants):
            offset = positions - 0.4 + width * (index + 0.5)
            colour = BAR_COLOURS[index % len(BAR_COLOURS)]
            sessions = [self.sessions[assistant][recording] for recording in self.recordings]
            medians = [s.median_first_audio_ms or 0.0 for s in sessions]
            axes.bar(offset, medians, width * 0.9, color=colour, alpha=0.75, label=f"{assistant} (median)")
            for x, session in zip(offset, sessions, strict=True):
                values = session.first_audio_ms
                axes.plot([x] * len(values), values, "o", color="black", markersize=3)
        axes.plot([], [], "o", color="black", markersize=3, label="each reply")
        axes.set_xticks(positions, self.recordings)
        axes.set_ylabel("ms after you stopped")
        axes.set_title(title)
        axes.legend(loc="upper left", fontsize="small")
        axes.grid(axis="y", alpha=0.3)
        return figure


def evaluate(assistants: Mapping[str, type], conversations: Mapping[str, Sequence[Step]]) -> Evaluation:
    """Hold every conversation with every class (one after another, so no conversation slows another down)."""
    return Evaluation(
        {
            label: {name: talk_to(cls, *steps) for name, steps in conversations.items()}
            for label, cls in assistants.items()
        }
    )


def _ms(value: float | None) -> str:
    return "no audio" if value is None else f"{value:.0f} ms"

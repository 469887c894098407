"""The events of a conversation drawn as a sequence diagram: your code on the left, the service on the right.

Record what a cell sends and receives with an :class:`EventSequence`, then draw it with :func:`plot_sequence`.
A run of pieces (the many ``response.audio.delta`` and ``response.audio_transcript.delta`` events of a reply)
becomes one arrow that counts them, so the diagram shows the order of things rather than the number of chunks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from matplotlib.figure import Figure

from .plots import SessionFigure

Side = Literal["client", "service"]
CLIENT_COLOUR = "#2f81f7"
SERVICE_COLOUR = "#1a7f37"
ROW_INCHES = 0.28


@dataclass
class EventSequence:
    """The events of one exchange, in order: ``sent("session.update")``, ``received(events)``."""

    steps: list[tuple[Side, str]] = field(default_factory=list)

    def sent(self, event_type: str) -> None:
        """Your code sent an event of this type (e.g. ``"conversation.item.create"``)."""
        self.steps.append(("client", event_type))

    def received(self, events: Iterable[Any]) -> None:
        """The service sent these events (SDK event objects, or their type names)."""
        for event in events:
            self.steps.append(("service", str(getattr(event, "type", event))))

    def merged(self) -> list[tuple[Side, str]]:
        """The steps to draw: a run of pieces (``….delta`` events) on one side becomes one step that counts them,
        e.g. "response.audio.delta (x61) + response.audio_transcript.delta (x18)"."""
        runs: list[tuple[Side, list[str]]] = []
        for side, kind in self.steps:
            piece = kind.endswith(".delta")
            if runs and runs[-1][0] == side and piece and runs[-1][1][-1].endswith(".delta"):
                runs[-1][1].append(kind)
            else:
                runs.append((side, [kind]))
        return [(side, _counted(kinds)) for side, kinds in runs]


def _counted(kinds: list[str]) -> str:
    if len(kinds) == 1:
        return kinds[0]
    counts = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    return " + ".join(f"{kind} (x{count})" for kind, count in counts.items())


def plot_sequence(sequence: EventSequence, title: str = "Who sent what, in order") -> Figure:
    """One arrow per event (or run of one event), top to bottom in the order they happened."""
    runs = sequence.merged()
    figure = SessionFigure(figsize=(9, 1.2 + ROW_INCHES * max(len(runs), 1)), layout="constrained")
    axes = figure.subplots()
    bottom = -len(runs) - 0.5
    for x, name in ((0.0, "your code"), (1.0, "Voice Live")):
        axes.plot([x, x], [0.4, bottom], color="#888", linewidth=1, zorder=1)
        axes.text(x, 0.6, name, ha="center", va="bottom", fontsize=10, fontweight="bold")
    for row, (side, label) in enumerate(runs, start=1):
        start, end = (0.0, 1.0) if side == "client" else (1.0, 0.0)
        colour = CLIENT_COLOUR if side == "client" else SERVICE_COLOUR
        axes.annotate(
            "", xy=(end, -row), xytext=(start, -row), arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.2}
        )
        axes.text(0.5, -row + 0.08, label, ha="center", va="bottom", fontsize=8, color=colour)
    axes.set_xlim(-0.25, 1.25)
    axes.set_ylim(bottom, 1.2)
    axes.axis("off")
    axes.set_title(title, fontsize=11)
    return figure

"""The events of a conversation drawn as a sequence diagram: your code on the left, the service on the right.

Record what a cell sends and receives with an :class:`EventSequence`, then draw it with :func:`plot_sequence`.
A run of pieces (the many ``response.audio.delta`` and ``response.audio_transcript.delta`` events of a reply,
the blocks of audio sent with ``input_audio_buffer.append``) becomes one arrow that counts them, so the diagram
shows the order of things rather than the number of chunks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from matplotlib.figure import Figure

from .plots import SessionFigure

Side = Literal["client", "service"]
CLIENT_COLOUR = "#2f81f7"
SERVICE_COLOUR = "#1a7f37"
ROW_INCHES = 0.28
#: Events that come in many pieces: a run of them is drawn as one counted arrow.
PIECE_SUFFIXES = (".delta", "input_audio_buffer.append")


@dataclass
class EventSequence:
    """The events of one exchange, in order: ``sent("session.update")``, ``received(events)``."""

    steps: list[tuple[Side, str]] = field(default_factory=list)

    def sent(self, event_type: str, count: int = 1) -> None:
        """Your code sent ``count`` events of this type (e.g. ``"conversation.item.create"``)."""
        self.steps.extend([("client", event_type)] * count)

    def received(self, events: Iterable[Any]) -> None:
        """The service sent these events (SDK event objects, or their type names). A new conversation item is
        labelled with its type, e.g. "conversation.item.created (function_call)"."""
        for event in events:
            self.steps.append(("service", _label(event)))

    def merged(self) -> list[tuple[Side, str]]:
        """The steps to draw: a run of pieces (``….delta`` events, audio blocks) on one side becomes one step that
        counts them, e.g. "response.audio.delta (x61) + response.audio_transcript.delta (x18)"."""
        runs: list[tuple[Side, list[str]]] = []
        for side, kind in self.steps:
            if runs and runs[-1][0] == side and _is_piece(kind) and _is_piece(runs[-1][1][-1]):
                runs[-1][1].append(kind)
            else:
                runs.append((side, [kind]))
        return [(side, _counted(kinds)) for side, kinds in runs]


def _label(event: Any) -> str:
    kind = str(getattr(event, "type", event))
    item_type = getattr(getattr(event, "item", None), "type", None)
    return f"{kind} ({item_type})" if kind == "conversation.item.created" and item_type else kind


def _is_piece(kind: str) -> bool:
    return kind.endswith(PIECE_SUFFIXES)


def _counted(kinds: list[str]) -> str:
    if len(kinds) == 1:
        return kinds[0]
    counts = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    return " + ".join(f"{kind} (x{count})" for kind, count in counts.items())


def plot_sequence(
    sequence: EventSequence, title: str = "Who sent what, in order", highlight: Collection[str] = ()
) -> Figure:
    """One arrow per event (or run of pieces), top to bottom in the order they happened; the event types in
    ``highlight`` are drawn bold, to pick out the steps a lesson is about."""
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
        weight = "bold" if label in highlight else "normal"
        axes.text(0.5, -row + 0.08, label, ha="center", va="bottom", fontsize=8, color=colour, fontweight=weight)
    axes.set_xlim(-0.25, 1.25)
    axes.set_ylim(bottom, 1.2)
    axes.axis("off")
    axes.set_title(title, fontsize=11)
    return figure

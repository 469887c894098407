"""SessionSummary: what a finished session did, in one frozen value for printing, plotting and tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .session_log import SessionSnapshot, TranscriptLine, TurnTiming


@dataclass(frozen=True)
class SessionSummary:
    """What a finished session did, for printing in a cell, plotting and tests."""

    states: tuple[str, ...]
    event_types: tuple[str, ...]
    transcripts: tuple[TranscriptLine, ...]
    turns: tuple[TurnTiming, ...]
    snapshot: SessionSnapshot
    reply_audio: np.ndarray | None
    error: str | None
    #: What the microphone sent (24 kHz int16) and when its first kept sample was sent (session seconds).
    sent_audio: np.ndarray | None = None
    sent_started_at: float = 0.0
    #: Where each stretch of reply audio started: (session seconds, sample offset into reply_audio).
    reply_segments: tuple[tuple[float, int], ...] = ()

    def report(self) -> str:
        """Deterministic text (no timings, no ids) that a notebook can print and nbval can compare."""
        lines = ["States: " + " → ".join(self.states)]
        for line in self.transcripts:
            mark = " (interrupted)" if line.interrupted else ""
            lines.append(f"{line.role:>9}: {line.text}{mark}")
        responses = [t.status for t in self.turns]
        lines.append(f"Turns: {len(self.turns)} ({', '.join(str(s) for s in responses) or 'none'})")
        if self.reply_audio is not None:
            lines.append(f"Reply audio recorded: {'yes' if len(self.reply_audio) else 'no'}")
        if self.error:
            lines.append(f"Error: {self.error}")
        return "\n".join(lines)


def states_visited(snapshot: SessionSnapshot) -> tuple[str, ...]:
    """The states in the order they were entered, a state repeated at once counted once."""
    states: list[str] = []
    for change in snapshot.states:
        if not states or states[-1] != change.state:
            states.append(change.state)
    return tuple(states)

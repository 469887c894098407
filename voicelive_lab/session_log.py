"""SessionLog: a thread-safe record of one session (states, events, transcripts, turn timings).

The session thread writes; widgets, plots and notebook cells read copies through ``snapshot()``.
Everything is bounded, so a long session cannot grow memory without limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from .states import SessionState

MAX_EVENTS = 2000
MAX_TRANSCRIPT_LINES = 500
MAX_STATE_CHANGES = 2000
MAX_TURNS = 500


@dataclass(frozen=True)
class StateChange:
    at: float  # seconds since the session started
    state: str
    message: str


@dataclass(frozen=True)
class EventRecord:
    at: float
    type: str
    detail: str = ""


@dataclass(frozen=True)
class TranscriptLine:
    role: str
    item_id: str
    text: str
    at: float
    final: bool = False
    interrupted: bool = False


@dataclass(frozen=True)
class TurnTiming:
    """One user turn: when the user stopped, when the reply's first audio came, when the reply ended."""

    speech_stopped_at: float
    first_audio_at: float | None = None
    done_at: float | None = None
    status: str | None = None
    response_id: str | None = None

    @property
    def latency_ms(self) -> float | None:
        """Speech stopped → first audio: what the user feels as the assistant's reaction time."""
        return None if self.first_audio_at is None else (self.first_audio_at - self.speech_stopped_at) * 1000

    @property
    def reply_ms(self) -> float | None:
        """First audio → response done: how long the reply took to arrive."""
        if self.first_audio_at is None or self.done_at is None:
            return None
        return (self.done_at - self.first_audio_at) * 1000


@dataclass(frozen=True)
class SessionSnapshot:
    started_at: float | None
    states: tuple[StateChange, ...]
    events: tuple[EventRecord, ...]
    transcripts: tuple[TranscriptLine, ...]
    turns: tuple[TurnTiming, ...]
    events_dropped: int
    event_counts: dict[str, int]
    version: int

    @property
    def state(self) -> str:
        return self.states[-1].state if self.states else SessionState.IDLE

    @property
    def message(self) -> str:
        return self.states[-1].message if self.states else ""


@dataclass
class _Record:
    started_at: float | None = None
    states: deque[StateChange] = field(default_factory=lambda: deque(maxlen=MAX_STATE_CHANGES))
    events: deque[EventRecord] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    transcripts: dict[str, TranscriptLine] = field(default_factory=dict)
    turns: deque[TurnTiming] = field(default_factory=lambda: deque(maxlen=MAX_TURNS))
    event_counts: dict[str, int] = field(default_factory=dict)
    version: int = 0


class SessionLog:
    """What happened in a session, safe to read from any thread."""

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self._lock = threading.Lock()
        self._max_events = max_events
        self._record = self._fresh()

    def _fresh(self) -> _Record:
        record = _Record()
        record.events = deque(maxlen=self._max_events)
        return record

    def reset(self) -> None:
        with self._lock:
            version = self._record.version
            self._record = self._fresh()
            self._record.started_at = time.monotonic()
            self._record.version = version + 1

    @property
    def version(self) -> int:
        """Grows with every change: compare it before taking a (copying) snapshot."""
        return self._record.version

    def _now(self) -> float:
        started = self._record.started_at
        return 0.0 if started is None else time.monotonic() - started

    def state(self, state: str, message: str) -> None:
        with self._lock:
            self._record.states.append(StateChange(self._now(), state, message))
            self._record.version += 1

    def event(self, event_type: str, detail: str = "", response_id: str | None = None) -> None:
        with self._lock:
            record = self._record
            now = self._now()
            record.events.append(EventRecord(now, event_type, detail))
            record.event_counts[event_type] = record.event_counts.get(event_type, 0) + 1
            self._time_turns(record, event_type, detail, response_id, now)
            record.version += 1

    @staticmethod
    def _time_turns(record: _Record, event_type: str, detail: str, response_id: str | None, now: float) -> None:
        """A turn starts when the user stops speaking; its reply is the next response created after that."""
        turns = record.turns
        if event_type == "input_audio_buffer.speech_stopped":
            turns.append(TurnTiming(now))
            return
        if response_id is None:
            return
        if event_type == "response.created":
            answered = [i for i in range(len(turns)) if turns[i].response_id is not None]
            waiting = answered[-1] + 1 if answered else 0  # the first turn after the last answered one
            if waiting < len(turns):
                turns[waiting] = replace(turns[waiting], response_id=response_id)
            return
        index = next((i for i in reversed(range(len(turns))) if turns[i].response_id == response_id), None)
        if index is None:
            return
        turn = turns[index]
        if event_type == "response.audio.delta" and turn.first_audio_at is None:
            turns[index] = replace(turn, first_audio_at=now)
        elif event_type == "response.done" and turn.done_at is None:
            turns[index] = replace(turn, done_at=now, status=detail.removeprefix("status="))

    def transcript(self, role: str, item_id: str, text: str, final: bool, interrupted: bool) -> None:
        with self._lock:
            lines = self._record.transcripts
            started = lines[item_id].at if item_id in lines else self._now()
            lines[item_id] = TranscriptLine(role, item_id, text, started, final, interrupted)
            while len(lines) > MAX_TRANSCRIPT_LINES:
                del lines[next(iter(lines))]
            self._record.version += 1

    def snapshot(self) -> SessionSnapshot:
        with self._lock:
            record = self._record
            return SessionSnapshot(
                started_at=record.started_at,
                states=tuple(record.states),
                events=tuple(record.events),
                transcripts=tuple(record.transcripts.values()),
                turns=tuple(record.turns),
                events_dropped=sum(record.event_counts.values()) - len(record.events),
                event_counts=dict(record.event_counts),
                version=record.version,
            )


def response_id_of(event: Any) -> str | None:
    """The response an event belongs to, if any."""
    if str(event.type) in ("response.created", "response.done"):
        return getattr(event.response, "id", None)
    return getattr(event, "response_id", None) if str(event.type).startswith("response.") else None


def describe_event(event: Any) -> str:
    """A short, deterministic detail for an event log row (no ids, no audio bytes)."""
    kind = str(event.type)
    if kind == "response.done":
        status = event.response.status
        return f"status={getattr(status, 'value', status)}"  # the SDK's enum, as its plain value
    if kind == "input_audio_buffer.speech_started":
        return f"audio_start_ms={event.audio_start_ms}"
    if kind == "input_audio_buffer.speech_stopped":
        return f"audio_end_ms={event.audio_end_ms}"
    if kind == "response.audio.delta":
        return f"{len(event.delta or b'')} bytes"
    if kind in ("response.audio_transcript.delta", "response.text.delta"):
        return repr(event.delta)
    if kind == "conversation.item.input_audio_transcription.completed":
        return repr(event.transcript)
    if kind == "error":
        return f"{event.error.code or event.error.type}: {event.error.message}"
    return ""

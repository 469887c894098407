"""Hold a scripted conversation with an assistant class and return what a test asserts on.

``talk_to(BasicVoiceAssistant, "pyramids.wav", talk_over("interrupt.wav"))`` runs the class (the kit's, or a
learner's own in the lab's shape) in a real session against a private practice server (a
:class:`~voicelive_lab.check_harness.PracticeRun`): it speaks each recording as one turn and waits for the reply,
or talks over the reply when the next step says so. The result, a :class:`VoiceSession`, holds what a user would
notice: the states the class showed, the events the service sent in order, what the service heard, each reply
(how it ended, what it said, how soon its first audio came, how much of it reached the speaker).

What happened is read from both ends, never from the class's own reports alone: the practice server records every
event it sent and when, and a spying speaker records when audio reached it. By default the server leaves barge-in
to the client (``server_barge_in=False``), so a test sees what *the class* does when the user talks over it.
Every wait has a deadline: a conversation that goes wrong returns what happened, with the problems named.
"""

from __future__ import annotations

import base64
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audio.samples import sample
from .check_harness import HeardSpeaker, OutOfTime, PracticeRun
from .mock.hearing import warm_up
from .states import SessionState

#: The practice server sends reply audio this many times faster than real time (a test needs no real pauses).
TEST_SPEED = 12.0
CONVERSATION_TIMEOUT_S = 15.0
STEP_TIMEOUT_S = 8.0  # a reply must come this soon after a recording was spoken
SETTLE_S = 1.0  # after a reply, the class gets this long to return to "ready"
BYTES_PER_MS = 48  # 24 kHz mono PCM16, the lab's output format
ENDED = (SessionState.ERROR, SessionState.STOPPED)


@dataclass(frozen=True)
class TalkOver:
    """A step of a conversation: say ``utterance`` while the assistant is answering the step before."""

    utterance: str | os.PathLike[str]

    def __str__(self) -> str:
        return f"talk over the reply: {Path(self.utterance).name}"


def talk_over(utterance: str | os.PathLike[str]) -> TalkOver:
    """Say ``utterance`` (a sample name or a WAV path) as soon as the previous reply's audio has started."""
    return TalkOver(utterance)


Step = str | os.PathLike[str] | TalkOver


@dataclass(frozen=True)
class Reply:
    """One reply of the assistant, as the service sent it and as the speaker got it."""

    status: str  # "completed", "cancelled", "incomplete", "failed", or "unfinished" if it never ended
    text: str  # its transcript as far as the service sent it
    audio_ms: float  # audio the service sent
    played_ms: float  # audio that reached the speaker
    #: From the end of the user's turn to the reply's first audio, on the practice server's clock.
    first_audio_ms: float | None
    talked_over: bool  # the user started speaking while it was being sent
    #: Audio of this reply that still reached the speaker after the user started talking over it.
    kept_talking_ms: float | None

    def __repr__(self) -> str:
        """Without timings, so that pytest's explanation of a failed assert is the same on every run."""
        return f"Reply({self.status}{', talked over' if self.talked_over else ''}, {self.text!r})"


@dataclass(frozen=True)
class VoiceSession:
    """What one scripted conversation with an assistant class did: what tests assert on."""

    steps: tuple[str, ...]
    states: tuple[str, ...]  # the states shown, in order, between "starting" and "stopped"
    events: tuple[str, ...]  # the type of every event the service sent, in order
    heard: tuple[str, ...]  # what the service heard of each user turn
    replies: tuple[Reply, ...]
    turns: int  # user turns the service detected (speech stopped)
    played_ms: float  # all the reply audio that reached the speaker
    problems: tuple[str, ...] = ()  # steps that did not happen in time
    error: str | None = None  # the session's error state, if it ended in one

    @property
    def said(self) -> tuple[str, ...]:
        return tuple(reply.text for reply in self.replies)

    @property
    def interruptions(self) -> int:
        """Replies the user talked over."""
        return sum(reply.talked_over for reply in self.replies)

    @property
    def interruptions_handled(self) -> int:
        """Replies the user talked over that stopped (were cancelled) instead of playing to the end."""
        return sum(reply.talked_over and reply.status == "cancelled" for reply in self.replies)

    @property
    def first_audio_ms(self) -> tuple[float, ...]:
        return tuple(r.first_audio_ms for r in self.replies if r.first_audio_ms is not None)

    @property
    def median_first_audio_ms(self) -> float | None:
        return statistics.median(self.first_audio_ms) if self.first_audio_ms else None

    def not_in_order(self, *event_types: str) -> list[str]:
        """The event types of ``event_types`` that did not come in this order (an empty list when they all did).

        ``session.not_in_order("input_audio_buffer.speech_stopped", "response.created")`` is ``[]`` when a
        response was created after the speech stopped, and ``["response.created"]`` when it never was.
        """
        position = 0
        for index, wanted in enumerate(event_types):
            try:
                position = self.events.index(wanted, position) + 1
            except ValueError:
                return list(event_types[index:])
        return []

    def report(self) -> str:
        """Deterministic text (no timings, no ids, no words of a reply that was cut off) for a notebook."""
        lines = [f"Conversation: {', then '.join(self.steps)}", "States:  " + " → ".join(self.states)]
        lines += [f"Heard:   {text!r}" for text in self.heard]
        for number, reply in enumerate(self.replies, 1):
            if reply.talked_over:
                lines.append(f"Reply {number}: {reply.status}, talked over")
            else:
                lines.append(f"Reply {number}: {reply.status} {reply.text!r}")
        lines.append(f"Turns: {self.turns}; audio reached the speaker: {'yes' if self.played_ms else 'no'}")
        lines += [f"Problem: {problem}" for problem in self.problems]
        if self.error:
            lines.append(f"Error:   {self.error}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        """One line, for pytest's explanations: ``<VoiceSession hello.wav: 1 turn, 1 reply>``."""
        return f"<VoiceSession {', '.join(self.steps)}: {self.turns} turns, {len(self.replies)} replies>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """A notebook cell that ends with a session shows its report."""
        printer.text(self.report())


def talk_to(
    assistant_class: type,
    *steps: Step,
    timeout_s: float = CONVERSATION_TIMEOUT_S,
    speed: float = TEST_SPEED,
    first_audio_delay_ms: float = 100.0,
    server_barge_in: bool = False,
    voice: str = "en-US-JennyNeural",
) -> VoiceSession:
    """Run ``assistant_class`` through ``steps`` (sample names, WAV paths or :func:`talk_over`) and report.

    Each plain step is one user turn: it is spoken, its reply waited for (``STEP_TIMEOUT_S``) and heard out. A
    :func:`talk_over` step is spoken as soon as the previous reply's audio has started. The conversation has its
    own practice server and ends within ``timeout_s`` (what did not happen in time is listed in ``problems``).
    """
    if steps and isinstance(steps[0], TalkOver):
        raise ValueError("talk_over(...) talks over a reply, so it needs a step before it that gets one.")
    paths = [_path(step.utterance if isinstance(step, TalkOver) else step) for step in steps]
    warm_up(None)  # the practice recogniser and voice load once per process, not inside the first reply's latency
    deadline = time.monotonic() + timeout_s
    problems: list[str] = []
    run = _TimedRun(
        assistant_class,
        deadline,
        voice,
        speed=speed,
        first_audio_delay_ms=first_audio_delay_ms,
        server_barge_in=server_barge_in,
    )
    with run:
        try:
            _converse(run, steps, paths, problems)
        except OutOfTime as late:
            problems.append(f"the conversation ran out of its {timeout_s:g} s while waiting for {late.what}")
    return _summarize(run, steps, problems)


def _path(step: str | os.PathLike[str]) -> Path:
    """A sample's name (``"hello.wav"``) or a WAV file's path."""
    path = Path(step)
    return path if path.is_file() else sample(str(step))


class _TimedSpeaker(HeardSpeaker):
    """A recording speaker that also notes when each piece of audio reached it (time.monotonic())."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, int]] = []

    def write(self, pcm: bytes) -> None:
        self.writes.append((time.monotonic(), len(pcm)))
        super().write(pcm)


class _TimedRun(PracticeRun):
    """A PracticeRun that also notes when the practice server sent each event (time.monotonic())."""

    def __init__(self, assistant_class: type, deadline: float, voice: str, **server: Any) -> None:
        self.sent_at: list[float] = []
        super().__init__(assistant_class, deadline, voice, **server)
        self.speaker = _TimedSpeaker()

    def _observe(self, event: dict[str, Any], due: float) -> None:
        with self._lock:
            self.sent.append(event)
            self.sent_at.append(time.monotonic())

    def timed(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(zip(self.sent_at, self.sent, strict=True))


def _converse(run: _TimedRun, steps: tuple[Step, ...], paths: list[Path], problems: list[str]) -> None:
    runner = run.runner
    if not run.wait(lambda: runner.state == SessionState.READY, "the session to be ready", STEP_TIMEOUT_S):
        problems.append("the assistant never showed 'ready', so nothing was said to it")
        return
    for index, (step, path) in enumerate(zip(steps, paths, strict=True)):
        mark = len(run.events())
        run.microphone.say(path)
        name = str(step) if isinstance(step, TalkOver) else path.name
        talked_over_next = index + 1 < len(steps) and isinstance(steps[index + 1], TalkOver)
        if talked_over_next:
            started = run.wait(lambda m=mark: _audio_after(run, m), f"the reply to {name}", STEP_TIMEOUT_S)
            if not started:
                problems.append(f"no reply audio came after {name}, so it could not be talked over")
            continue
        if not run.wait(lambda m=mark: _answered(run, m), f"the reply to {name}", STEP_TIMEOUT_S):
            problems.append(f"no finished reply to {name} within {STEP_TIMEOUT_S:g} s")
        run.wait(lambda: runner.state in (SessionState.READY, *ENDED), "the assistant to be ready again", SETTLE_S)
        if run.ended():
            break


def _audio_after(run: PracticeRun, mark: int) -> bool:
    return any(event["type"] == "response.audio.delta" for event in run.events()[mark:])


def _answered(run: PracticeRun, mark: int) -> bool:
    """The turns spoken since ``mark`` have replies, and every reply created has ended."""
    events = run.events()
    since = events[mark:]
    turns = sum(e["type"] == "input_audio_buffer.speech_stopped" for e in since)
    replies = sum(e["type"] == "response.created" for e in since)
    created = sum(e["type"] == "response.created" for e in events)
    done = sum(e["type"] == "response.done" for e in events)
    return turns >= 1 and replies >= turns and done >= created


def _summarize(run: _TimedRun, steps: tuple[Step, ...], problems: list[str]) -> VoiceSession:
    timed = run.timed()
    summary = run.runner.summary()
    states = [str(state) for state in summary.states]
    while states and states[0] == SessionState.STARTING:
        states.pop(0)
    while states and states[-1] == SessionState.STOPPED:
        states.pop()
    heard = tuple(
        e.get("transcript", "")
        for _, e in timed
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    replies = _replies(timed, run.speaker.writes if isinstance(run.speaker, _TimedSpeaker) else [])
    return VoiceSession(
        steps=tuple(str(s) if isinstance(s, TalkOver) else Path(s).name for s in steps),
        states=tuple(states),
        events=tuple(e["type"] for _, e in timed),
        heard=heard,
        replies=replies,
        turns=sum(e["type"] == "input_audio_buffer.speech_stopped" for _, e in timed),
        played_ms=sum(size for _, size in run.speaker.writes) / BYTES_PER_MS
        if isinstance(run.speaker, _TimedSpeaker)
        else 0.0,
        problems=tuple(problems),
        error=summary.error,
    )


def _replies(timed: list[tuple[float, dict[str, Any]]], writes: list[tuple[float, int]]) -> tuple[Reply, ...]:
    """Each reply in the order it was created, paired with the user turn it answers (the n-th reply answers the
    n-th turn that ended, as the service queues them), and the speaker's audio by when it arrived."""
    turn_ends = [at for at, e in timed if e["type"] == "input_audio_buffer.speech_stopped"]
    order: list[str] = []
    info: dict[str, dict[str, Any]] = {}
    active: str | None = None
    for at, event in timed:
        kind = event["type"]
        if kind == "response.created":
            rid = event["response"]["id"]
            order.append(rid)
            info[rid] = {"created": at, "status": "unfinished", "text": [], "final": None, "audio": 0, "first": None}
            info[rid]["talked_over_at"] = None
            active = rid
        elif kind == "input_audio_buffer.speech_started" and active is not None:
            info[active]["talked_over_at"] = info[active]["talked_over_at"] or at
        elif kind == "response.done":
            rid = event["response"]["id"]
            if rid in info:
                info[rid]["status"] = str(event["response"].get("status") or "completed")
            active = None if active == rid else active
        elif kind in ("response.audio.delta", "response.audio_transcript.delta", "response.text.delta"):
            entry = info.get(event.get("response_id", ""))
            if entry is None:
                continue
            if kind == "response.audio.delta":
                entry["audio"] += len(base64.b64decode(event.get("delta", "")))
                entry["first"] = entry["first"] or at
            else:
                entry["text"].append(event.get("delta", ""))
        elif kind in ("response.audio_transcript.done", "response.text.done"):
            entry = info.get(event.get("response_id", ""))
            if entry is not None:
                entry["final"] = event.get("transcript", event.get("text"))
    replies = []
    for number, rid in enumerate(order):
        entry = info[rid]
        following = info[order[number + 1]] if number + 1 < len(order) else None
        # The speaker's audio belongs to this reply until the next reply's audio was sent.
        until = (following["first"] or following["created"]) if following is not None else float("inf")
        played = [(at, size) for at, size in writes if entry["created"] <= at < until]
        over = entry["talked_over_at"]
        first = entry["first"]
        answered = turn_ends[number] if number < len(turn_ends) else None
        replies.append(
            Reply(
                status=entry["status"],
                text=entry["final"] if entry["final"] is not None else "".join(entry["text"]),
                audio_ms=entry["audio"] / BYTES_PER_MS,
                played_ms=sum(size for _, size in played) / BYTES_PER_MS,
                first_audio_ms=(first - answered) * 1000 if first is not None and answered is not None else None,
                talked_over=over is not None,
                kept_talking_ms=None if over is None else sum(s for at, s in played if at > over) / BYTES_PER_MS,
            )
        )
    return tuple(replies)

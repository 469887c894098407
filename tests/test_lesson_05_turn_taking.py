"""Lesson 05 (turn-taking): the turn timeline reads the service's own turn events; the check of ONE_TURN and
TWO_TURNS passes right settings and fails every wrong one with the turns it saw and the knob to move; the
exercise stops at its check."""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path
from typing import Any

import pytest
from azure.ai.voicelive.models import RequestSession, ServerVad
from support import run_exercise, settings_for

from voicelive_lab.lesson_checks.turn_taking import PAUSE_BETWEEN_MS, PAUSE_IN_HELLO_MS, check_turn_settings
from voicelive_lab.mock import MockServer
from voicelive_lab.recordings import utterance
from voicelive_lab.turn_timeline import hear_turns, plot_turns
from voicelive_lab.verdicts import CheckFailed

EXERCISE = Path(__file__).resolve().parent.parent / "notebooks" / "exercises" / "05_turn_taking.ipynb"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.slow
def test_a_pause_longer_than_silence_duration_ends_a_turn_and_a_shorter_one_does_not() -> None:
    """two_phrases.wav: "Good morning.", 900 ms of digital silence, "How are you?"."""
    recording = utterance("two_phrases.wav", 1500)
    with MockServer(speed=math.inf, first_audio_delay_ms=0) as server:
        settings = settings_for(server)

        async def turns(**vad: Any) -> Any:
            return await hear_turns(
                settings, recording, RequestSession(turn_detection=ServerVad(create_response=False, **vad))
            )

        short, long = asyncio.run(turns(silence_duration_ms=500)), asyncio.run(turns(silence_duration_ms=1200))
    assert len(short.turns) == 2 and len(long.turns) == 1, (short.describe(), long.describe())
    (_, first_end), (second, _) = short.turns
    assert first_end < second + 300 + 500, "the first turn ends in the pause, before the second begins"
    assert short.describe(words=True).splitlines()[0].endswith("'Good morning.'"), "the words of each turn, in order"
    figure = plot_turns(recording, {"500 ms": short, "1200 ms": long})
    assert [label.get_text() for label in figure.axes[1].get_yticklabels()] == ["500 ms", "1200 ms"]
    assert len(figure.axes[1].collections) == 3, "one span per turn"


def vad(silence_duration_ms: int) -> ServerVad:
    return ServerVad(silence_duration_ms=silence_duration_ms)


@pytest.mark.slow
def test_right_settings_pass() -> None:
    passed = check_turn_settings(ServerVad(silence_duration_ms=1600), ServerVad(silence_duration_ms=800))
    assert passed.message.startswith("✅ Exercise 05") and "ONE_TURN one" in passed.message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("one_turn", "two_turns", "happened", "hint"),
    [
        (1600, 800, "ServerVad", "is of type int, not a ServerVad"),
        (
            ServerVad(silence_duration_ms=1600),
            ServerVad(silence_duration_ms=300),
            "TWO_TURNS made 3 turns",
            f"pause of {PAUSE_IN_HELLO_MS} ms",
        ),
        (
            ServerVad(silence_duration_ms=1000),
            ServerVad(silence_duration_ms=800),
            "ONE_TURN made 2 turns",
            f"pause of {PAUSE_BETWEEN_MS} ms",
        ),
        (
            ServerVad(silence_duration_ms=3500),
            ServerVad(silence_duration_ms=800),
            "ONE_TURN made 1 turn (0-… ms)",
            "never ended",
        ),
        (ServerVad(threshold=0.99, silence_duration_ms=1600), ServerVad(), "made no turn at all", "threshold 0.99"),
        (
            ServerVad(silence_duration_ms=1600),
            ServerVad(threshold=3),
            "the service refused TWO_TURNS",
            "threshold 0 to 1",
        ),
        (NotImplementedError("Exercise 05: set ONE_TURN"), ServerVad(), "a stub is still there", "replace the stub"),
    ],
    ids=["not-a-vad", "two-too-short", "one-too-short", "one-never-ends", "deaf", "refused", "stub"],
)
def test_wrong_settings_fail_with_the_turns_and_the_knob(
    one_turn: Any, two_turns: Any, happened: str, hint: str
) -> None:
    with pytest.raises(CheckFailed) as failure:
        check_turn_settings(one_turn, two_turns)
    message = str(failure.value)
    assert message.startswith("Exercise 05 (one turn, then two) is not there yet.")
    assert happened in message and hint in message, message


@pytest.mark.slow
def test_the_exercise_stops_at_its_check_and_the_cells_below_wait() -> None:
    _, errors = run_exercise(EXERCISE)
    first_cell, first = errors[0]
    assert "check_turn_settings()" in first_cell.source and first.ename == "CheckFailed"
    shown = [ANSI.sub("", line) for line in first.traceback]
    assert shown[0] == "❌ Exercise 05 (one turn, then two) is not there yet."
    assert "a stub is still there: Exercise 05: set TWO_TURNS" in shown[2]
    below = [o for _, o in errors[1:]]
    assert len(below) == 1 and below[0].ename == "SectionNotDone" and len(below[0].traceback) == 1

"""Lesson 05 (turn-taking): the turn timeline reads the service's own turn events; the kit says phrases no sample
holds, the same every time, and the practice service hears them; the check of one_turn() and two_turns() passes
right settings and fails every wrong one with the turns it saw and the knob to move; the exercise stops at its
check."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from azure.ai.voicelive.models import (
    AzureSemanticDetection,
    AzureSemanticVad,
    RequestSession,
    ServerVad,
)
from support import MANIFEST, run_exercise, settings_for, shown_lines

from voicelive_lab.lesson_checks.turn_taking import (
    PAUSE_BETWEEN_MS,
    PAUSE_INSIDE_MS,
    QUIET_AFTER_MS,
    check_turn_settings,
)
from voicelive_lab.mock import MockServer
from voicelive_lab.mock.hearing import Hearing
from voicelive_lab.mock.replies import ReplyScript
from voicelive_lab.mock.utterance_end import TURN_HINT_SENTENCES
from voicelive_lab.recordings import silence, utterance
from voicelive_lab.spoken_phrases import _made, spoken
from voicelive_lab.turn_timeline import hear_turns, plot_talk_over, plot_turns, speech_spans
from voicelive_lab.verdicts import CheckFailed

EXERCISE = Path(__file__).resolve().parent.parent / "notebooks" / "exercises" / "05_turn_taking.ipynb"


# ----------------------------------------------------------------------------- the turn timeline


@pytest.mark.slow
def test_a_pause_longer_than_silence_duration_ends_a_turn_and_a_shorter_one_does_not() -> None:
    """two_phrases.wav: "Good morning.", 900 ms of digital silence, "How are you?"."""
    recording = utterance("two_phrases.wav", 1500)
    with MockServer(speed=math.inf, first_audio_delay_ms=0) as server:
        settings = settings_for(server)

        async def turns(**vad: Any) -> Any:
            return await hear_turns(
                settings, recording, RequestSession(turn_detection=ServerVad(create_response=False, **vad)), words=True
            )

        short, long = asyncio.run(turns(silence_duration_ms=500)), asyncio.run(turns(silence_duration_ms=1200))
    assert len(short.turns) == 2 and len(long.turns) == 1, (short.describe(), long.describe())
    (_, first_end), (second, _) = short.turns
    assert first_end < second + 300 + 500, "the first turn ends in the pause, before the second begins"
    assert short.describe(words=True).splitlines()[0].endswith("'Good morning.'"), "the words of each turn, in order"
    figure = plot_turns(recording, {"500 ms": short, "1200 ms": long}, words=True)
    assert [label.get_text() for label in figure.axes[1].get_yticklabels()] == ["500 ms", "1200 ms"]
    assert len(figure.axes[1].collections) == 3, "one span per turn"
    assert "Good morning." in [text.get_text() for text in figure.axes[1].texts], "each turn labelled with its words"


def test_speech_spans_find_the_pause_the_manifest_measured() -> None:
    entry = MANIFEST["two_phrases.wav"]
    spans = speech_spans(utterance("two_phrases.wav"))
    assert len(spans) == 2, spans
    (start, first_end), (second_start, end) = spans
    assert (start, end) == (entry["speech_start_ms"], entry["speech_end_ms"])
    # the gap is digital silence; the frames around it are quieter than speech as the voice fades in and out
    assert entry["gap_start_ms"] <= first_end <= entry["gap_start_ms"] + 40
    assert entry["gap_end_ms"] <= second_start <= entry["gap_end_ms"] + 40
    assert speech_spans(silence(1000)) == []


def test_the_talk_over_picture_plays_the_reply_until_the_stop_and_no_further() -> None:
    reply = (np.sin(np.arange(24000 * 3) / 5) * 8000).astype("<i2").tobytes()
    microphone = utterance("hello.wav", 2000)
    figure = plot_talk_over(microphone, reply, playback_start_ms=2300, stopped_ms=3100, kept="Hello ")
    speaker = figure.axes[1]
    played, unplayed = (line.get_xdata() for line in speaker.get_lines()[:2])
    assert played[0] == pytest.approx(2.3) and played[-1] <= 3.1 < unplayed[0]
    assert unplayed[-1] == pytest.approx(2.3 + 3, abs=0.01), "the rest of the reply, sent but never played"
    assert "'Hello '" in speaker.get_title(loc="left")


# ----------------------------------------------------------------------------- phrases the kit says


@pytest.mark.slow
def test_a_spoken_phrase_is_the_same_every_time_and_shaped_like_the_samples() -> None:
    first = spoken("Tell me about the Roman Empire and")
    _made.cache_clear()  # made again by a fresh process
    assert spoken("Tell me about the Roman Empire and") == first
    assert spoken("Julius Caesar.") != first
    samples = np.frombuffer(first, dtype="<i2")
    assert not samples[: 24000 * 250 // 1000].any() and not samples[-24000 * 300 // 1000 :].any()
    assert samples[24000 * 250 // 1000] != 0, "the speech starts right after 250 ms of silence"
    assert 20 * math.log10(np.abs(samples).max() / 32768) == pytest.approx(-3.0, abs=0.05)
    with pytest.raises(ValueError, match="needs words"):
        spoken("  ")


@pytest.mark.slow
def test_the_practice_service_hears_a_spoken_phrase_and_semantic_vad_waits_after_its_and() -> None:
    unfinished = spoken("Tell me about the Roman Empire and") + silence(300) + spoken("Julius Caesar.") + silence(2000)
    semantic = AzureSemanticVad(create_response=False, end_of_utterance_detection=AzureSemanticDetection())
    with MockServer(speed=math.inf, first_audio_delay_ms=0) as server:
        settings = settings_for(server)
        server_vad = asyncio.run(
            hear_turns(
                settings, unfinished, RequestSession(turn_detection=ServerVad(create_response=False)), words=True
            )
        )
        judged = asyncio.run(hear_turns(settings, unfinished, RequestSession(turn_detection=semantic), words=True))
    assert len(server_vad.turns) == 2, server_vad.describe(words=True)
    assert server_vad.words_of(1) == "Julius Caesar."
    assert len(judged.turns) == 1, judged.describe(words=True)
    assert judged.words_of(0) == "Tell me about the Roman Empire and Julius Caesar."


def hints_for(turn_detection: dict[str, Any] | None) -> tuple[str, ...]:
    session = {"turn_detection": turn_detection, "tools": []}

    async def send(*_: Any, **__: Any) -> None:
        return None

    return Hearing(send, None, ReplyScript(), lambda: session).hints().sentences


def test_transcripts_of_a_session_that_judges_words_can_hold_the_words_it_judged() -> None:
    """Fillers and dangling words are taught to the recogniser only where turn detection judges words, so a
    server VAD session's transcripts are what they were."""
    plain = hints_for({"type": "server_vad"})
    assert plain == hints_for(None) and "Um." not in plain and "And." not in plain
    for detection in (
        {"type": "azure_semantic_vad", "end_of_utterance_detection": {"model": "semantic_detection_v1"}},
        {"type": "azure_semantic_vad", "remove_filler_words": True},
        {"type": "semantic_vad", "eagerness": "auto"},
    ):
        assert hints_for(detection) == plain + TURN_HINT_SENTENCES, detection
    assert hints_for(None) == plain


# ----------------------------------------------------------------------------- the check of the exercise


def one_turn_right() -> ServerVad:
    return ServerVad(silence_duration_ms=1600)


def two_turns_right() -> ServerVad:
    return ServerVad(silence_duration_ms=800)


def too_short_for_the_pause_after_hello() -> ServerVad:
    return ServerVad(silence_duration_ms=300)


def too_short_for_the_pause_between() -> ServerVad:
    return ServerVad(silence_duration_ms=1000)


def longer_than_the_quiet_at_the_end() -> ServerVad:
    return ServerVad(silence_duration_ms=3500)


def deaf() -> ServerVad:
    return ServerVad(threshold=0.99, silence_duration_ms=1600)


def out_of_range() -> ServerVad:
    return ServerVad(threshold=3)


def milliseconds_as_text() -> ServerVad:
    return ServerVad(silence_duration_ms="1600")


def only_the_number() -> int:
    return 1600


def forgot_the_return() -> None:
    ServerVad(silence_duration_ms=1600)


def semantic_instead() -> AzureSemanticVad:
    return AzureSemanticVad()


def typo() -> ServerVad:
    return ServerVad(silence_duration=1600)  # type: ignore[call-overload]


def still_a_stub() -> ServerVad:
    raise NotImplementedError("Exercise 05: return a ServerVad(...) that makes the recording one turn.")


def hangs() -> ServerVad:
    time.sleep(60)
    return ServerVad()


@pytest.mark.slow
def test_right_settings_pass() -> None:
    passed = check_turn_settings(one_turn_right, two_turns_right)
    assert passed.message.startswith("✅ Exercise 05") and "one_turn() made one turn" in passed.message
    assert check_turn_settings(one_turn_right, ServerVad).message.startswith("✅"), "the default makes two turns"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("one_turn", "two_turns", "happened", "hint", "where"),
    [
        (
            one_turn_right,
            too_short_for_the_pause_after_hello,
            "two_turns() made 3 turns",
            f"ends a turn in the {PAUSE_INSIDE_MS} ms pause after 'Hello!'",
            "def too_short_for_the_pause_after_hello",
        ),
        (
            too_short_for_the_pause_between,
            two_turns_right,
            "one_turn() made 2 turns",
            f"make it longer than {PAUSE_BETWEEN_MS} and shorter than the {QUIET_AFTER_MS} ms",
            "def too_short_for_the_pause_between",
        ),
        (
            longer_than_the_quiet_at_the_end,
            two_turns_right,
            "one_turn() made 1 turn (0-… ms); speech never stopped",
            "never ended",
            "def longer_than_the_quiet_at_the_end",
        ),
        (deaf, two_turns_right, "one_turn() made no turn at all", "threshold 0.99 is above", "def deaf"),
        (
            one_turn_right,
            out_of_range,
            "the service refused two_turns()'s setting: threshold must be a number from 0.0 to 1.0",
            "threshold from 0 to 1",
            "def out_of_range",
        ),
        (
            milliseconds_as_text,
            two_turns_right,
            "(field session.turn_detection.silence_duration_ms)",
            "whole milliseconds",
            "def milliseconds_as_text",
        ),
        (only_the_number, two_turns_right, "returned 1600 (an int)", "not one value", "def only_the_number"),
        (forgot_the_return, two_turns_right, "returned None", "the return is missing", "def forgot_the_return"),
        (semantic_instead, two_turns_right, "returned an AzureSemanticVad", "tunes server VAD", "def semantic_instead"),
        (one_turn_right(), two_turns_right, "`one_turn` is a ServerVad, not a function", "def one_turn():", None),
        (typo, two_turns_right, "your code raised TypeError", "", "return ServerVad(silence_duration=1600)"),
        (still_a_stub, two_turns_right, "a stub is still there", "replace the stub", "raise NotImplementedError"),
        (hangs, two_turns_right, "had not returned after", "return promptly", "time.sleep(60)"),
    ],
    ids=[
        "two-too-short",
        "one-too-short",
        "one-never-ends",
        "deaf",
        "refused-range",
        "refused-type",
        "a-number",
        "no-return",
        "semantic",
        "a-value",
        "raises",
        "stub",
        "hangs",
    ],
)
def test_wrong_settings_fail_with_the_turns_and_the_knob(
    one_turn: Any, two_turns: Any, happened: str, hint: str, where: str | None
) -> None:
    started = time.monotonic()
    with pytest.raises(CheckFailed) as failure:
        check_turn_settings(one_turn, two_turns)
    assert time.monotonic() - started < 20 + 2, "every verdict within the check's budget"
    message = str(failure.value)
    assert message.startswith("Exercise 05 (one turn, then two) is not there yet.")
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1] for line in message.splitlines()[1:]}
    assert happened in lines["Happened"] and hint in lines["Hint"], message
    if where is None:
        assert "Where" not in lines, message
    else:
        assert "test_lesson_05_turn_taking.py" in lines["Where"] and where in lines["Where"], message


@pytest.mark.slow
def test_the_turns_of_a_failure_are_the_ones_the_service_made() -> None:
    """The message quotes the service's own speech_stopped times, not numbers the check made up."""
    with MockServer(speed=math.inf, first_audio_delay_ms=0) as server:
        from voicelive_lab.lesson_checks.turn_taking import recording

        truth = asyncio.run(
            hear_turns(
                settings_for(server),
                recording(),
                RequestSession(turn_detection=ServerVad(create_response=False, silence_duration_ms=1000)),
            )
        )
    with pytest.raises(CheckFailed) as failure:
        check_turn_settings(too_short_for_the_pause_between, two_turns_right)
    stops = ", ".join(f"{end} ms" for _, end in truth.turns)
    assert f"speech_stopped at {stops}" in str(failure.value)


# ----------------------------------------------------------------------------- the exercise notebook


@pytest.mark.slow
def test_the_exercise_stops_at_its_check_and_the_cells_below_wait() -> None:
    _, errors = run_exercise(EXERCISE)
    first_cell, first = errors[0]
    assert "check_turn_settings()" in first_cell.source and first.ename == "CheckFailed"
    shown = shown_lines(first)
    assert shown[0] == "❌ Exercise 05 (one turn, then two) is not there yet."
    assert "a stub is still there: Exercise 05: return a ServerVad(...) that makes the recording one turn." in shown[2]
    assert shown[3].startswith("  Where:    Cell In[") and "raise NotImplementedError" in shown[3]
    below = [o for _, o in errors[1:]]
    assert len(below) == 1 and below[0].ename == "SectionNotDone" and len(below[0].traceback) == 1


def test_the_stored_lesson_names_no_path_of_this_machine_and_its_exercise_has_a_stub() -> None:
    lesson = Path(__file__).resolve().parent.parent / "notebooks" / "05_turn_taking.ipynb"
    text = lesson.read_text(encoding="utf-8")
    assert "/work/" not in text and "/home/" not in text
    cells = json.loads(text)["cells"]
    exercise = next(cell for cell in cells if "# BEGIN EXERCISE" in "".join(cell["source"]))
    assert "raise NotImplementedError" in exercise["metadata"]["voicelive_lab"]["stub"]

"""Lesson 08 (testing your voice agent): conversations held with a class report what a user would notice; notebook
tests run with pytest in-process and report each outcome with the learner's line; the check of
test_stops_talking_when_interrupted passes a test that catches the barge-in bug and fails every other one with the
reason; the evaluation's table; the exercise stops at its check."""

from __future__ import annotations

import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import lesson_08_learner_tests as tests
import pytest
from support import eventually, run_exercise, shown_lines

from voicelive_lab.agent_testing import Reply, VoiceSession, talk_over, talk_to
from voicelive_lab.assistant import BasicVoiceAssistant
from voicelive_lab.audio.errors import AudioFileNotFound
from voicelive_lab.broken_assistants import DropsAudio, LabBargeInBug, NeverProcessing
from voicelive_lab.evaluation import Evaluation
from voicelive_lab.lesson_checks.testing import BUDGET_S, check_interruption_test
from voicelive_lab.notebook_tests import run_voice_tests
from voicelive_lab.verdicts import CheckFailed

EXERCISE = Path(__file__).resolve().parent.parent / "notebooks" / "exercises" / "08_testing.ipynb"
LAB_TURN = ("ready", "listening", "processing", "assistant_speaking", "ready")
INTERRUPTED = ("pyramids.wav", talk_over("interrupt.wav"))


def kit_threads() -> set[str]:
    """Threads of sessions, servers, microphones and tests (the recogniser's reader lives as long as the process)."""
    return {t.name for t in threading.enumerate() if not t.name.startswith(("Thread-", "MainThread", "pydevd"))}


# ----------------------------------------------------------------- conversations


@pytest.mark.slow
def test_a_greeting_shows_the_labs_states_the_words_and_a_prompt_first_audio() -> None:
    before = kit_threads()
    session = talk_to(BasicVoiceAssistant, "hello.wav")
    assert session.states == LAB_TURN
    assert session.heard == ("Hello can you hear me?",) and session.said == ("Hello! Yes, I can hear you.",)
    (reply,) = session.replies
    assert reply.status == "completed" and not reply.talked_over and reply.kept_talking_ms is None
    assert reply.played_ms == pytest.approx(reply.audio_ms) and reply.audio_ms > 1000, "the whole reply was played"
    assert reply.first_audio_ms is not None and 0 < reply.first_audio_ms < 5000
    assert session.not_in_order("input_audio_buffer.speech_stopped", "response.created", "response.done") == []
    assert session.problems == () and session.error is None
    eventually(lambda: kit_threads() <= before, 5, "the conversation's server and session ending")


@pytest.mark.slow
def test_talking_over_the_reply_stops_it_with_the_kits_class_and_not_with_the_labs_order() -> None:
    kit, bug = talk_to(BasicVoiceAssistant, *INTERRUPTED), talk_to(LabBargeInBug, *INTERRUPTED)
    for session in (kit, bug):
        assert session.turns == 2 and len(session.replies) == 2 and session.interruptions == 1
        assert session.heard[1].lower().startswith("sorry wait")
        assert session.replies[0].talked_over and not session.replies[1].talked_over
    assert kit.replies[0].status == "cancelled" and kit.interruptions_handled == 1
    assert bug.replies[0].status == "completed" and bug.interruptions_handled == 0
    assert kit.replies[0].kept_talking_ms < 500 < 2000 < bug.replies[0].kept_talking_ms, "the bug talks on"
    assert "Reply 1: cancelled, talked over" in kit.report() and "Reply 1: completed, talked over" in bug.report()


@pytest.mark.slow
def test_the_broken_classes_show_their_bug_in_the_conversation() -> None:
    never = talk_to(NeverProcessing, "hello.wav")
    assert never.states == ("ready", "listening", "assistant_speaking", "ready")
    silent = talk_to(DropsAudio, "hello.wav")
    assert silent.played_ms == 0 and silent.replies[0].audio_ms > 1000 and silent.said == never.said


@pytest.mark.slow
def test_a_class_that_never_gets_ready_returns_in_time_with_the_problem_named() -> None:
    class NeverReady(BasicVoiceAssistant):
        async def _handle_session_updated(self):
            pass

    started = time.monotonic()
    session = talk_to(NeverReady, "hello.wav", timeout_s=3)
    assert time.monotonic() - started < 6
    assert session.replies == () and session.turns == 0
    assert session.problems == ("the conversation ran out of its 3 s while waiting for the session to be ready",)
    assert "Problem: the conversation ran out" in session.report()


def test_a_conversation_must_start_with_a_turn_and_name_real_recordings() -> None:
    with pytest.raises(ValueError, match="needs a step before it"):
        talk_to(BasicVoiceAssistant, talk_over("interrupt.wav"))
    with pytest.raises(AudioFileNotFound, match=r"no sample called 'helo\.wav'"):
        talk_to(BasicVoiceAssistant, "helo.wav")


def session_of(events: tuple[str, ...] = (), replies: tuple[Reply, ...] = (), turns: int = 1) -> VoiceSession:
    return VoiceSession(("hello.wav",), LAB_TURN, events, ("hi",), replies, turns, 0.0)


def reply(status: str = "completed", first_ms: float | None = 200.0, over: bool = False) -> Reply:
    return Reply(status, "Hello!", 1000.0, 1000.0, first_ms, over, 0.0 if over else None)


def test_not_in_order_names_what_did_not_come_in_that_order() -> None:
    session = session_of(("a", "b", "a", "c"))
    assert session.not_in_order("a", "b", "c") == [] and session.not_in_order("b", "a", "c") == []
    assert session.not_in_order("c", "a") == ["a"], "'a' never came after 'c'"
    assert session.not_in_order("a", "d", "c") == ["d", "c"]


def test_a_sessions_report_and_repr_hold_no_timings() -> None:
    session = session_of(replies=(reply(first_ms=123.4), reply("cancelled", first_ms=456.7, over=True)))
    text = session.report() + repr(session) + repr(session.replies[0])
    assert "123" not in text and "456" not in text
    assert repr(session) == "<VoiceSession hello.wav: 1 turns, 2 replies>"
    assert repr(session.replies[0]) == "Reply(completed, 'Hello!')"
    assert session.median_first_audio_ms == pytest.approx(290.05)


# ----------------------------------------------------------------- tests run from a notebook


FIRST_AUDIO_BUDGET_MS = 5000  # read by test_within_budget below, as a notebook's test reads the notebook's names


@pytest.mark.slow
def test_notebook_tests_run_with_pytest_and_report_each_outcome_with_the_learners_line() -> None:
    before, modules, folders = (
        kit_threads(),
        set(sys.modules),
        set(Path(tempfile.gettempdir()).glob("voicelive-tests-*")),
    )
    cache_before = (Path.cwd() / ".pytest_cache").exists()
    result = run_voice_tests(
        tests.test_within_budget,
        tests.test_states_wrong,
        tests.test_raises,
        tests.test_misspelt_fixture,
        tests.test_prints_then_fails,
        tests.test_async_reply_heard,
        assistant=BasicVoiceAssistant,
    )
    by_name = {o.name: o for o in result.outcomes}
    assert {name: o.outcome for name, o in by_name.items()} == {
        "test_misspelt_fixture": "error",
        "test_within_budget": "passed",
        "test_states_wrong": "failed",
        "test_raises": "error",
        "test_prints_then_fails": "failed",
        "test_async_reply_heard": "passed",
    }, "each test has its own outcome"
    assert next(iter(by_name)) == "test_misspelt_fixture"
    wrong = by_name["test_states_wrong"]
    assert wrong.where is not None and wrong.where.text == 'assert session.states == ("ready", "stopped")'
    assert wrong.where.lineno == tests.test_states_wrong.__code__.co_firstlineno + 2, "the line in its own file"
    assert wrong.message.startswith("AssertionError: assert ('ready', 'listening'")
    assert "At index 1 diff: 'listening' != 'stopped'" in wrong.message
    raised = by_name["test_raises"]
    assert raised.error_type == "ZeroDivisionError" and raised.where.text == "return 1 / 0"
    assert by_name["test_misspelt_fixture"].message.startswith("fixture 'tlak' not found")
    assert "printed: the replies: 1" in by_name["test_prints_then_fails"].message
    report = result.report()
    assert report.splitlines()[-1] == "2 passed, 4 failed"
    assert "tmp" not in report and "voicelive-tests" not in report and not re.search(r"\d\.\d+ ?s\b", report)
    eventually(lambda: kit_threads() <= before, 5, "every conversation's threads ending")
    assert not any(name.startswith("test_run") for name in set(sys.modules) - modules), "the test files are forgotten"
    assert set(Path(tempfile.gettempdir()).glob("voicelive-tests-*")) <= folders, "the temporary folder is gone"
    assert (Path.cwd() / ".pytest_cache").exists() == cache_before, "no pytest cache written"


@pytest.mark.slow
def test_a_test_that_hangs_is_stopped_at_its_line_and_the_run_goes_on() -> None:
    started = time.monotonic()
    result = run_voice_tests(tests.test_hangs, tests.test_states_right, assistant=NeverProcessing, timeout_s=4)
    assert time.monotonic() - started < 15
    hung, states = result.outcomes
    assert hung.outcome == "timeout" and hung.where is not None and hung.where.text == "time.sleep(0.05)"
    assert "had not finished after 4 s" in hung.message
    assert states.outcome == "failed" and "'assistant_speaking' != 'processing'" in states.message


@pytest.mark.slow
def test_several_classes_run_each_test_once_per_class_and_share_a_conversation() -> None:
    classes = {"kit": BasicVoiceAssistant, "drops audio": DropsAudio}
    result = run_voice_tests(tests.test_states_right, tests.test_reply_heard, assistant=classes)
    assert [(o.name, o.outcome) for o in result.outcomes] == [
        ("test_states_right[kit]", "passed"),
        ("test_states_right[drops audio]", "passed"),
        ("test_reply_heard[kit]", "passed"),
        ("test_reply_heard[drops audio]", "failed"),
    ]
    assert [label for label, _ in result.conversations] == ["kit", "drops audio"], "one conversation per class"
    assert "no audio of the reply reached the speaker" in result.outcome("test_reply_heard[drops audio]").message


def test_only_test_functions_can_run() -> None:
    with pytest.raises(TypeError, match="is not a test function"):
        run_voice_tests(len, assistant=BasicVoiceAssistant)


# ----------------------------------------------------------------- the check


@pytest.mark.slow
@pytest.mark.parametrize("answer", [tests.test_reference, tests.test_little_played_after_you_spoke])
def test_a_test_that_catches_the_barge_in_bug_passes(answer: object) -> None:
    started = time.monotonic()
    passed = check_interruption_test(answer)
    assert time.monotonic() - started < BUDGET_S
    assert passed.message.startswith("✅ Exercise 08") and "fails on the lab's barge-in bug" in passed.message
    assert any("never plays the reply's audio" in tip for tip in passed.tips)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("answer", "happened", "where"),
    [
        (tests.test_asserts_nothing, "passes even on a broken assistant: it would not catch the lab's barge-in", None),
        (tests.test_catches_the_wrong_bug, "passes even on a broken assistant", None),
        (
            tests.test_never_talks_over,
            "fails on the kit's working assistant: AssertionError: assert 'completed' ==",
            "status",
        ),
        (tests.test_crashes_on_the_bug, "did not fail an assert: your test raised IndexError", "cancelled[0]"),
        (tests.test_misspelt_name, "raised NameError: name 'talk_ovr' is not defined", "talk_ovr("),
        (tests.test_misspelt_fixture, "pytest could not run your test: fixture 'tlak' not found", "def test_mis"),
        (tests.test_stub, "a stub is still there: NotImplementedError: Exercise 08", "raise NotImplementedError"),
        (tests.test_hangs, "on the kit's working assistant, the test had not finished after 8 s", "time.sleep"),
        (tests.test_hangs_on_the_bug, "on the broken assistant, the test had not finished after", "time.sleep"),
    ],
    ids=lambda value: getattr(value, "__name__", "") if callable(value) else "",
)
def test_a_test_that_does_not_catch_the_bug_fails_with_the_reason(answer: object, happened: str, where: str) -> None:
    started = time.monotonic()
    with pytest.raises(CheckFailed) as failure:
        check_interruption_test(answer)
    assert time.monotonic() - started < BUDGET_S + 2
    message = str(failure.value)
    assert happened in " ".join(message.split()), message
    if where is None:
        assert "Where:" not in message
    else:
        shown = next(line for line in message.splitlines() if line.startswith("  Where:"))
        assert "lesson_08_learner_tests.py, line" in shown and where in shown, message


@pytest.mark.slow
def test_a_conversation_with_the_broken_class_that_did_not_finish_is_never_taken_for_a_catch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import voicelive_lab.lesson_checks.testing as check
    from voicelive_lab.broken_assistants import Bug

    class NeverReady(BasicVoiceAssistant):
        async def _handle_session_updated(self):
            pass

    never_ready = Bug("barge-in bug", NeverReady, "a class that never gets ready")
    monkeypatch.setattr(check, "BUGS", (never_ready,))
    monkeypatch.setattr(check, "TARGET", never_ready)
    with pytest.raises(CheckFailed, match="conversation with the broken assistant did not finish"):
        check_interruption_test(tests.test_two_replies)


def test_no_test_in_the_notebook_fails_the_check_at_once() -> None:
    with pytest.raises(CheckFailed, match="there is no function called `test_stops_talking_when_interrupted`"):
        check_interruption_test()
    with pytest.raises(CheckFailed, match="is a str, not a test function"):
        check_interruption_test("assert True")  # type: ignore[arg-type]


# ----------------------------------------------------------------- the evaluation


def test_the_evaluation_table_counts_turns_replies_and_interruptions_handled() -> None:
    plain = session_of(replies=(reply(),))
    handled = session_of(replies=(reply("cancelled", over=True), reply()), turns=2)
    missed = session_of(replies=(reply("completed", over=True), reply(first_ms=900.0)), turns=2)
    evaluation = Evaluation(
        {"kit": {"hello": plain, "interrupted": handled}, "bug": {"hello": plain, "interrupted": missed}}
    )
    assert evaluation.table().splitlines() == [
        "recording     assistant  turns  replies  interruptions handled",
        "hello         kit            1        1                      -",
        "              bug            1        1                      -",
        "interrupted   kit            2        2                 1 of 1",
        "              bug            2        2                 0 of 1",
    ]
    assert "550 ms" in evaluation.latency_table()
    axes = evaluation.plot().axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["hello", "interrupted"]
    assert len(axes.patches) == 4, "a bar per recording and assistant"


# ----------------------------------------------------------------- the exercise notebook


@pytest.mark.slow
def test_the_exercise_stops_at_its_check_and_the_cell_below_waits() -> None:
    _, errors = run_exercise(EXERCISE)
    first_cell, first = errors[0]
    assert "check_interruption_test()" in first_cell.source and first.ename == "CheckFailed"
    shown = shown_lines(first)
    assert shown[0] == "❌ Exercise 08 (a test that catches the barge-in bug) is not there yet."
    assert "a stub is still there: NotImplementedError: Exercise 08: write the test here" in shown[2]
    assert shown[3].startswith("  Where:    Cell In[") and "raise NotImplementedError" in shown[3]
    waiting = [o for cell, o in errors[1:] if "require_check(TASK)" in cell.source]
    assert len(waiting) == 1 and waiting[0].ename == "SectionNotDone" and len(waiting[0].traceback) == 1
    assert len(errors) == 2, "the cells that do not need the exercise run"

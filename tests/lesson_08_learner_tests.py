"""Tests a learner might write in lesson 08, for tests/test_lesson_08_testing.py: answers to the exercise, right
and wrong, and tests a notebook might hold.

Each is a pytest test function (its name starts with ``test_``) that the lesson's check or ``run_voice_tests`` runs
itself, with pytest, against the kit's class and broken ones. They live in this module, which pytest does not
collect, so that the suite does not run them as tests of its own. Their names (``talk_over``…) come from the module
that runs them, as a notebook's tests get theirs from the notebook.
"""

# ruff: noqa: F821, B011
from __future__ import annotations

import time


def test_reference(talk):
    session = talk("pyramids.wav", talk_over("interrupt.wav"))
    assert session.replies[0].talked_over
    assert session.replies[0].status == "cancelled"


def test_little_played_after_you_spoke(talk):
    session = talk("pyramids.wav", talk_over("interrupt.wav"))
    assert session.replies[0].kept_talking_ms < 500


def test_asserts_nothing(talk):
    talk("pyramids.wav", talk_over("interrupt.wav"))
    assert True


def test_never_talks_over(talk):
    session = talk("pyramids.wav", "interrupt.wav")
    assert session.replies[0].status == "cancelled"


def test_catches_the_wrong_bug(talk):
    session = talk("hello.wav")
    assert session.states == ("ready", "listening", "processing", "assistant_speaking", "ready")


def test_crashes_on_the_bug(talk):
    session = talk("pyramids.wav", talk_over("interrupt.wav"))
    cancelled = [reply for reply in session.replies if reply.status == "cancelled"]
    assert cancelled[0].talked_over


def test_misspelt_name(talk):
    session = talk("pyramids.wav", talk_ovr("interrupt.wav"))
    assert session.replies[0].status == "cancelled"


def test_misspelt_fixture(tlak):
    assert tlak("pyramids.wav").replies


def test_two_replies(talk):
    session = talk("pyramids.wav", talk_over("interrupt.wav"))
    assert len(session.replies) == 2


def test_hangs(talk):
    while True:
        time.sleep(0.05)


def test_hangs_on_the_bug(talk):
    session = talk("pyramids.wav", talk_over("interrupt.wav"))
    while session.replies[0].status != "cancelled":
        time.sleep(0.05)


def test_stub(talk):
    raise NotImplementedError("Exercise 08: write the test here (the comment above says how).")


# ----------------------------------------------------------------- tests a notebook might hold


def test_within_budget(talk):
    assert talk("hello.wav").replies[0].first_audio_ms < FIRST_AUDIO_BUDGET_MS


def test_states_right(talk):
    session = talk("hello.wav")
    assert session.states == ("ready", "listening", "processing", "assistant_speaking", "ready")


def test_states_wrong(talk):
    session = talk("hello.wav")
    assert session.states == ("ready", "stopped")


def test_raises(talk):
    return 1 / 0


def test_prints_then_fails(talk):
    print("the replies:", len(talk("hello.wav").replies))
    assert False


async def test_async_reply_heard(talk):
    assert talk("hello.wav").played_ms > 0


def test_reply_heard(talk):
    reply = talk("hello.wav").replies[0]
    assert reply.played_ms > 0, "no audio of the reply reached the speaker"

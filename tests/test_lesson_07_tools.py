"""Lesson 07 (tools): the check of ``tool_output`` passes the lesson's answer and fails every wrong one with its
reason and the learner's line; the exercise stops at its check; the sequence diagram counts pieces."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.ai.voicelive.models import FunctionCallOutputItem
from support import run_exercise

from voicelive_lab.lesson_checks.tools import check_tool_output
from voicelive_lab.sequence_plot import EventSequence, plot_sequence
from voicelive_lab.verdicts import CheckFailed

EXERCISE = Path(__file__).resolve().parent.parent / "notebooks" / "exercises" / "07_tools.ipynb"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FORECASTS = {"London": (14, "light rain"), "Oslo": (4, "snow")}


def get_weather(city: str) -> dict[str, Any]:
    temperature, sky = FORECASTS.get(city, (20, "clear"))
    return {"city": city, "temperature_c": temperature, "sky": sky}


def answer(call: Any) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id=call.call_id, output=json.dumps(get_weather(**json.loads(call.arguments))))


def always_london(call: Any) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id=call.call_id, output=json.dumps(get_weather("London")))


def a_fixed_id(call: Any) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id="call_1", output=json.dumps(get_weather(**json.loads(call.arguments))))


def python_text(call: Any) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id=call.call_id, output=str(get_weather(**json.loads(call.arguments))))


def a_dict(call: Any) -> dict[str, Any]:
    return get_weather(**json.loads(call.arguments))


def no_return(call: Any) -> None:
    FunctionCallOutputItem(call_id=call.call_id, output="{}")


def the_arguments_as_text(call: Any) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id=call.call_id, output=json.dumps(get_weather(call.arguments)))


def waits_forever(call: Any) -> FunctionCallOutputItem:
    while True:
        time.sleep(0.05)


@pytest.mark.slow
def test_the_lessons_answer_passes() -> None:
    passed = check_tool_output(answer, get_weather)
    assert passed.message.startswith("✅ Exercise 07") and "spoken: London, typed: Oslo" in passed.message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("function", "happened"),
    [
        (always_london, "but get_weather(**arguments) gives"),
        (a_fixed_id, "names call_id 'call_1', but that call's id is"),
        (python_text, "the answer's output is not JSON"),
        (a_dict, "tool_output returned a dict"),
        (no_return, "tool_output returned None"),
        (the_arguments_as_text, "but get_weather(**arguments) gives"),
        (waits_forever, "had not returned after 3.0 s, so the check stopped it"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[:30],
)
def test_a_wrong_answer_fails_and_says_why(function: Callable[..., Any], happened: str) -> None:
    started = time.monotonic()
    with pytest.raises(CheckFailed) as failure:
        check_tool_output(function, get_weather)
    assert time.monotonic() - started < 20, "a verdict within the check's budget"
    message = str(failure.value)
    assert message.startswith("Exercise 07 (answer a tool call) is not there yet.")
    assert happened in message, message
    if function is waits_forever:
        assert "Where:" in message and "time.sleep(0.05)" in message, "the line it waits at"


@pytest.mark.slow
def test_an_exception_in_the_learners_code_names_its_line() -> None:
    def broken(call: Any) -> FunctionCallOutputItem:
        arguments = json.loads(call.arguments)
        return FunctionCallOutputItem(call_id=call.call_id, output=json.dumps(get_weather(arguments["town"])))

    with pytest.raises(CheckFailed) as failure:
        check_tool_output(broken, get_weather)
    message = str(failure.value)
    assert "your code raised KeyError: 'town'" in message
    assert 'json.dumps(get_weather(arguments["town"]' in message, "the learner's own line is quoted"


@pytest.mark.slow
def test_the_exercise_stops_at_its_check_and_the_cells_below_wait() -> None:
    _, errors = run_exercise(EXERCISE)
    first_cell, first = errors[0]
    assert "check_tool_output()" in first_cell.source and first.ename == "CheckFailed"
    shown = [ANSI.sub("", line) for line in first.traceback]
    assert shown[0] == "❌ Exercise 07 (answer a tool call) is not there yet."
    assert "a stub is still there: Exercise 07: write tool_output here" in shown[2]
    assert shown[3].startswith("  Where:    Cell In[") and "raise NotImplementedError" in shown[3]
    waiting = [o for cell, o in errors[1:] if "require_check(TASK)" in cell.source]
    assert len(waiting) == 2 and all(o.ename == "SectionNotDone" for o in waiting)
    assert [len(o.traceback) for o in waiting] == [1, 1], "one line each"
    assert len(errors) == 3, "the cells that do not need the exercise run"


def test_the_sequence_counts_a_run_of_pieces_as_one_arrow() -> None:
    sequence = EventSequence()
    sequence.sent("response.create")
    sequence.received(["response.created", *["response.audio.delta", "response.audio_transcript.delta"] * 3])
    sequence.received(["response.audio.delta", "response.done"])
    assert sequence.merged() == [
        ("client", "response.create"),
        ("service", "response.created"),
        ("service", "response.audio.delta (x4) + response.audio_transcript.delta (x3)"),
        ("service", "response.done"),
    ]
    axes = plot_sequence(sequence).axes[0]
    labels = [text.get_text() for text in axes.texts if text.get_text()]
    assert labels == ["your code", "Voice Live", *(label for _, label in sequence.merged())]

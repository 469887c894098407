"""Lesson 07 (tools): the check of ``tool_output`` passes the lesson's answer and fails every wrong one with its
reason and the learner's line; the exercise stops at its check; the sequence diagram counts pieces and names
items; agent mode's query and the ignored ``agent_config=``; the practice service's on/off arguments and
agent-mode instructions, which the lesson shows."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.ai.voicelive.models import (
    FunctionCallOutputItem,
    FunctionTool,
    InputTextContentPart,
    RequestSession,
    UserMessageItem,
)
from azure.core.credentials import AzureKeyCredential
from support import collect, is_type, run, run_exercise, session, shown_lines

from voicelive_lab.agent_mode import CONNECT_KEYWORDS, connect_strictly, connection_query, ignored_keywords
from voicelive_lab.lesson_checks.tools import check_tool_output
from voicelive_lab.mock import MockServer
from voicelive_lab.sequence_plot import EventSequence, plot_sequence
from voicelive_lab.verdicts import CheckFailed

EXERCISE = Path(__file__).resolve().parent.parent / "notebooks" / "exercises" / "07_tools.ipynb"
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


def the_items_id(call: Any) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id=call.id, output=json.dumps(get_weather(**json.loads(call.arguments))))


def output_not_dumped(call: Any) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id=call.call_id, output=get_weather(**json.loads(call.arguments)))


def the_arguments_echoed(call: Any) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id=call.call_id, output=call.arguments)


def the_item_as_a_dict(call: Any) -> dict[str, Any]:  # the SDK's item.create raises TypeError on it
    result = get_weather(**json.loads(call.arguments))
    return {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps(result)}


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
        (the_items_id, "the id of the call's item (call.id), not the call's own id"),
        (output_not_dumped, "the answer's output is a dict, not text"),
        (the_arguments_echoed, "but get_weather(**arguments) gives"),
        (the_item_as_a_dict, "tool_output returned the item as a dict: conn.conversation.item.create(item=...) cannot"),
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


def test_an_async_handler_fails_at_once_because_the_lesson_calls_it_plainly() -> None:
    async def tool_output(call: Any) -> FunctionCallOutputItem:
        return answer(call)

    with pytest.raises(CheckFailed) as failure:
        check_tool_output(tool_output, get_weather)
    assert "tool_output is an `async def` function" in str(failure.value)
    assert "write it with a plain `def`" in str(failure.value)


@pytest.mark.slow
def test_a_handler_that_hands_back_a_coroutine_fails() -> None:
    async def answer_later(call: Any) -> FunctionCallOutputItem:
        return answer(call)

    def tool_output(call: Any) -> Any:
        return answer_later(call)

    with pytest.raises(CheckFailed) as failure:
        check_tool_output(tool_output, get_weather)
    assert "tool_output returned a coroutine for the spoken call" in str(failure.value)


def test_the_sdk_cannot_send_a_function_call_output_given_as_a_dict() -> None:
    """Why the check refuses the item as a dict: the lesson's next cell could not send it."""

    async def send_a_dict() -> None:
        with MockServer() as server:
            async with session(server) as conn:
                item = {"type": "function_call_output", "call_id": "call_1", "output": "{}"}
                await conn.conversation.item.create(item=item)

    with pytest.raises(TypeError, match="call_id"):
        run(send_a_dict())


def test_without_the_function_the_check_says_which_cell_to_run() -> None:
    with pytest.raises(CheckFailed) as failure:
        check_tool_output()  # this module has get_weather but no tool_output
    assert "there is no function called `tool_output` in this notebook yet" in str(failure.value)


@pytest.mark.slow
def test_the_exercise_stops_at_its_check_and_the_cells_below_wait() -> None:
    _, errors = run_exercise(EXERCISE)
    first_cell, first = errors[0]
    assert "check_tool_output()" in first_cell.source and first.ename == "CheckFailed"
    shown = shown_lines(first)
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


def test_audio_blocks_sent_are_one_counted_arrow_and_new_items_are_named() -> None:
    class Created:
        type = "conversation.item.created"

        def __init__(self, item_type: str) -> None:
            self.item = type("Item", (), {"type": item_type})()

    sequence = EventSequence()
    sequence.sent("input_audio_buffer.append", count=3)
    sequence.received(["input_audio_buffer.speech_started", Created("function_call")])
    sequence.sent("conversation.item.create (function_call_output)")
    sequence.sent("response.create")
    assert sequence.merged() == [
        ("client", "input_audio_buffer.append (x3)"),
        ("service", "input_audio_buffer.speech_started"),
        ("service", "conversation.item.created (function_call)"),
        ("client", "conversation.item.create (function_call_output)"),
        ("client", "response.create"),
    ]
    axes = plot_sequence(sequence, highlight=["response.create"]).axes[0]
    bold = [text.get_text() for text in axes.texts if text.get_fontweight() == "bold"]
    assert bold == ["your code", "Voice Live", "response.create"], "the lanes' names and the highlighted step"


# ----------------------------------------------------------------- agent mode

ENDPOINT = "http://127.0.0.1:9"
TUTOR = {"agent_name": "history-tutor", "project_name": "voicelive-lab"}
OLD_STYLE = {"agent_config": dict(TUTOR)}


def test_the_agent_travels_in_the_query_and_agent_config_leaves_no_trace() -> None:
    key = AzureKeyCredential("k")
    agent = connection_query(endpoint=ENDPOINT, credential=key, agent_version="3", conversation_id="conv_1", **TUTOR)
    assert agent["agent-name"] == "history-tutor" and agent["agent-project-name"] == "voicelive-lab"
    assert agent["agent-version"] == "3" and agent["conversation-id"] == "conv_1" and "model" not in agent
    old = connection_query(endpoint=ENDPOINT, credential=key, model="gpt-4o", **OLD_STYLE)
    assert old == {"api-version": agent["api-version"], "model": "gpt-4o"}, "no agent, and no machine details"


def test_connect_strictly_refuses_what_connect_would_ignore_and_says_the_fix() -> None:
    key = AzureKeyCredential("k")
    assert ignored_keywords({"model": "m", **TUTOR, **OLD_STYLE, "modle": "m"}) == ["agent_config", "modle"]
    assert {"agent_name", "project_name", "agent_version", "conversation_id", "model"} <= set(CONNECT_KEYWORDS)
    with pytest.raises(TypeError) as refused:
        connect_strictly(endpoint=ENDPOINT, credential=key, **OLD_STYLE)
    assert "ignores agent_config= without a word" in str(refused.value)
    assert "connect(..., agent_name='history-tutor', project_name='voicelive-lab')" in str(refused.value)
    with pytest.raises(TypeError, match=r"ignores agent_nmae= without a word \(did you mean agent_name=\?\)"):
        connect_strictly(endpoint=ENDPOINT, credential=key, agent_nmae="x", project_name="y")


def test_sdk_connect_ignores_agent_config_and_connect_strictly_reaches_the_agent() -> None:
    async def agents() -> tuple[Any, Any]:
        with MockServer() as server:
            async with session(server, **OLD_STYLE) as conn:  # with model="gpt-4o", as the lesson's trap
                ignored = (await collect(conn, is_type("session.created")))[-1].session.agent
            key = AzureKeyCredential(server.api_key)
            async with connect_strictly(endpoint=server.endpoint, credential=key, **TUTOR) as conn:
                agent = (await collect(conn, is_type("session.created")))[-1].session.agent
        return ignored, agent

    ignored, agent = run(agents())
    assert ignored is None, "SDK 1.3.x drops agent_config=: a plain model session (the lesson's trap)"
    assert agent.name == "history-tutor"


# ----------------------------------------------------------------- the practice service, as the lesson shows it

LAMP = FunctionTool(
    name="set_lamp",
    description="Switch the desk lamp on or off.",
    parameters={"type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"]},
)


async def typed_turn(conn: Any, text: str) -> list[Any]:
    await conn.conversation.item.create(item=UserMessageItem(content=[InputTextContentPart(text=text)]))
    await conn.response.create()
    return await collect(conn, is_type("response.done"))


@pytest.mark.parametrize(
    ("request_text", "on"), [("Please switch on the lamp.", True), ("Switch off the lamp.", False)]
)
def test_the_practice_model_reads_on_and_off_from_the_words(request_text: str, on: bool) -> None:
    async def call_arguments() -> dict[str, Any]:
        with MockServer(speed=float("inf")) as server:
            async with session(server) as conn:
                await conn.session.update(session=RequestSession(tools=[LAMP]))
                done = (await typed_turn(conn, request_text))[-1]
        call = next(item for item in done.response.output if item.type == "function_call")
        return json.loads(call.arguments)

    assert run(call_arguments()) == {"on": on}


def test_in_agent_mode_the_clients_instructions_are_warned_about_and_not_used() -> None:
    async def answers() -> list[tuple[list[str], str]]:
        found = []
        with MockServer(speed=float("inf")) as server:
            for keywords in ({"model": None, **TUTOR}, {"model": "gpt-4o"}):
                async with session(server, **keywords) as conn:
                    await conn.session.update(session=RequestSession(instructions="Answer in French."))
                    events = await typed_turn(conn, "Who built the pyramids of Giza?")
                warnings = [e.warning.code for e in events if e.type == "warning"]
                found.append(
                    (warnings, next(e.transcript for e in events if e.type == "response.audio_transcript.done"))
                )
        return found

    (agent_warnings, agent_said), (model_warnings, model_said) = run(answers())
    assert agent_warnings == ["instructions_ignored_in_agent_mode"] and model_warnings == []
    assert agent_said.startswith("history-tutor here. The pyramids of Giza were built"), "English: not the client's"
    assert model_said.startswith("Je "), "a model session follows the instructions (French)"

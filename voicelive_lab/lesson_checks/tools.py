"""Check of lesson 07's exercise: ``tool_output(call)``, the answer to one function call of the model.

The check holds a real session with a private practice server that offers the lesson's weather tool. It asks
for the weather twice, once spoken (London) and once typed (Oslo), hands each function
call to the learner's ``tool_output``, and sends what it returns. It passes only when both answers name their
own call, carry the tool's real result as JSON text, are accepted by the service and lead to a spoken reply.
Every call of the learner's function has a deadline; the whole check ends within 20 seconds.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import math
import time
from collections.abc import Callable
from typing import Any

from azure.ai.voicelive.aio import connect
from azure.ai.voicelive.models import (
    FunctionCallOutputItem,
    FunctionTool,
    InputTextContentPart,
    RequestSession,
    UserMessageItem,
)
from azure.core.credentials import AzureKeyCredential

from ..learner_calls import call_learner, failure_from
from ..mock import MockServer
from ..recordings import events_until, send_audio, utterance
from ..verdicts import CheckFailed, CheckPassed, caller_namespace, forget, mark_passed
from .own_loop import SessionTrouble, run_on_own_loop

TASK = "Exercise 07 (answer a tool call)"
FUNCTION = "tool_output"
TOOL = "get_weather"
BUDGET_S = 20.0
CALL_S = 3.0
EXPECTED = (
    "tool_output(call) returns FunctionCallOutputItem(call_id=call.call_id, output=<the JSON text of "
    "get_weather(**arguments)>), with the arguments read from call.arguments"
)
WEATHER_TOOL = FunctionTool(
    name=TOOL,
    description="Get the current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city, e.g. London"}},
        "required": ["city"],
    },
)
SPOKEN_QUESTION = "weather_london.wav"  # "What is the weather in London today?"
TYPED_QUESTION = "What is the weather in Oslo?"


def check_tool_output(
    function: Callable[..., Any] | None = None, tool: Callable[..., Any] | None = None
) -> CheckPassed:
    """Judge ``tool_output`` (the notebook's, or ``function``) on two weather calls in a real practice session."""
    forget(TASK)
    deadline = time.monotonic() + BUDGET_S
    namespace = caller_namespace()
    learner = function if function is not None else namespace.get(FUNCTION)
    weather = tool if tool is not None else namespace.get(TOOL)
    if not callable(learner):
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"there is no function called `{FUNCTION}` in this notebook yet",
            "run the exercise cell above (it defines tool_output), then this cell again.",
        )
    if not callable(weather):
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"there is no `{TOOL}` function in this notebook: the tool your answer runs",
            "run the cell that defines get_weather (above the exercise), then this cell again.",
        )
    if inspect.iscoroutinefunction(learner):
        raise CheckFailed(
            TASK,
            EXPECTED,
            "tool_output is an `async def` function: the cells below call it as tool_output(call), which then gives "
            "a coroutine, not an item",
            "write it with a plain `def` (nothing in it needs await).",
        )
    answered = _in_a_thread(_conversation(learner, weather, deadline), deadline)
    mark_passed(TASK, learner)
    return CheckPassed(
        TASK,
        f"tool_output answered both calls ({', '.join(answered)}) with their own call_id and get_weather's result "
        "as JSON; the service took each answer and replied with it.",
    )


def _in_a_thread(work: Any, deadline: float) -> list[str]:
    try:
        return list(run_on_own_loop(work, deadline, "tool-output"))
    except SessionTrouble as trouble:
        raise CheckFailed(
            TASK,
            f"{EXPECTED}, seen working within the check's {BUDGET_S:.0f} s",
            trouble.happened("your function answer both calls"),
            _RETRY,
        ) from None


async def _conversation(learner: Callable[..., Any], weather: Callable[..., Any], deadline: float) -> list[str]:
    def left() -> float:
        return max(0.1, deadline - time.monotonic())

    answered: list[str] = []
    with MockServer(speed=math.inf, first_audio_delay_ms=0) as server:
        credential = AzureKeyCredential(server.api_key)
        async with connect(endpoint=server.endpoint, credential=credential, model="gpt-4o") as conn:
            await conn.session.update(session=RequestSession(tools=[WEATHER_TOOL], tool_choice="auto"))
            await events_until(conn, "session.updated", timeout_s=left())
            await send_audio(conn, utterance(SPOKEN_QUESTION, 1000))  # then 1 s of quiet
            answered.append(await _answer_one_call(conn, learner, weather, "spoken", left))
            await conn.conversation.item.create(
                item=UserMessageItem(content=[InputTextContentPart(text=TYPED_QUESTION)])
            )
            await conn.response.create()
            answered.append(await _answer_one_call(conn, learner, weather, "typed", left))
    return answered


async def _answer_one_call(
    conn: Any, learner: Callable[..., Any], weather: Callable[..., Any], how: str, left: Callable[[], float]
) -> str:
    """Wait for the model's call, ask the learner's function for the answer, send it, and hear the reply."""
    done = (await events_until(conn, "response.done", timeout_s=left()))[-1]
    calls = [item for item in done.response.output or [] if item.type == "function_call"]
    if not calls:
        raise CheckFailed(TASK, EXPECTED, "the practice model answered without calling the tool", _RETRY)
    call = calls[0]
    plainly = _called_plainly(learner)
    answer = await asyncio.to_thread(call_learner, TASK, plainly, call, expected=EXPECTED, timeout_s=CALL_S)
    arguments = json.loads(call.arguments)
    _judge(answer, call, arguments, weather, how)
    await conn.conversation.item.create(item=answer)
    await conn.response.create()
    events = await events_until(conn, "response.done", timeout_s=left())
    refused = [event for event in events if event.type == "error"]
    if refused:
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"the service refused your answer to the {how} call: {refused[0].error.message}",
            "send exactly the FunctionCallOutputItem your function returns, for the call it was given.",
        )
    replies = [item for item in events[-1].response.output or [] if item.type == "message"]
    if not replies:
        raise CheckFailed(TASK, EXPECTED, f"no reply followed your answer to the {how} call", _RETRY)
    return f"{how}: {arguments.get('city')}"


class _Awaitable:
    """What a handler gave back that must be awaited: the lesson's cells call tool_output(call) and send the result."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


def _called_plainly(learner: Callable[..., Any]) -> Callable[..., Any]:
    """``learner`` as the lesson's cells call it: an awaitable result is not awaited (call_learner would)."""

    @functools.wraps(learner)
    def tool_output(call: Any) -> Any:
        result = learner(call)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited: no "coroutine was never awaited" warning
            return _Awaitable(type(result).__name__)
        return result

    return tool_output


def _judge(answer: Any, call: Any, arguments: dict[str, Any], weather: Callable[..., Any], how: str) -> None:
    """Whether ``answer`` is the right FunctionCallOutputItem for ``call``; a CheckFailed that says why not."""
    if answer is None:
        raise CheckFailed(
            TASK, EXPECTED, f"tool_output returned None for the {how} call", "end the function with `return item`."
        )
    if isinstance(answer, _Awaitable):
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"tool_output returned a {answer.kind} for the {how} call, which must be awaited before it is an item",
            "return the FunctionCallOutputItem itself: the cells below send tool_output(call) as it is.",
        )
    if type(answer) is dict and answer.get("type") == "function_call_output":
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"tool_output returned the item as a {type(answer).__name__}: conn.conversation.item.create(item=...) "
            "cannot send that (the SDK rebuilds a dict as a plain ConversationRequestItem, which has no call_id, "
            "and raises TypeError)",
            "return FunctionCallOutputItem(call_id=call.call_id, output=json.dumps(result)) "
            "(from azure.ai.voicelive.models).",
        )
    if not isinstance(answer, FunctionCallOutputItem):
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"tool_output returned a {type(answer).__name__} for the {how} call",
            "return FunctionCallOutputItem(call_id=call.call_id, output=json.dumps(result)) "
            "(from azure.ai.voicelive.models).",
        )
    if answer.call_id != call.call_id and answer.call_id == call.id:
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"the answer to the {how} call names {answer.call_id!r}, the id of the call's item (call.id), "
            f"not the call's own id {call.call_id!r}",
            "use call.call_id: an item's id names the item in the conversation, call_id names the call.",
        )
    if answer.call_id != call.call_id:
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"the answer to the {how} call names call_id {answer.call_id!r}, but that call's id is {call.call_id!r}",
            "use call.call_id: the service matches the answer to its call by that id, and each call has its own.",
        )
    output = answer.get("output")  # as it goes on the wire: reading answer.output would turn a dict into text
    if not isinstance(output, str):
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"the answer's output is a {type(output).__name__}, not text",
            "output is text: write output=json.dumps(result).",
        )
    try:
        said = json.loads(output)
    except ValueError:
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"the answer's output is not JSON: {output[:80]!r}",
            "write output=json.dumps(result), so the model can read the result's fields.",
        ) from None
    try:
        truth = json.loads(json.dumps(weather(**arguments)))
    except Exception as error:
        raise failure_from(TASK, f"get_weather(**{arguments}) runs", error) from None
    if said != truth:
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"for the {how} call (arguments {call.arguments}) the output says {output[:120]}, "
            f"but get_weather(**arguments) gives {json.dumps(truth)[:120]}",
            "read the arguments with json.loads(call.arguments) and call get_weather(**arguments): "
            "each call asks about its own city.",
        )


_RETRY = "run the check again; if it happens every time, restart the kernel and run the notebook from the top."

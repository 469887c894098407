"""Client input that used to end a session (a 1011 close, or a crash at the next turn) now gets an ``error`` event
naming the field, and the session goes on: it still answers a question, with the tools it had before."""

from __future__ import annotations

import json
import math
from typing import Any

import aiohttp
import pytest
from support import collect, is_type, run, session

from voicelive_lab.mock import MockServer
from voicelive_lab.mock.client_events import MAX_AUDIO_CHARS, MAX_CONTENT_PARTS, MAX_FUNCTION_CHARS, MAX_NESTING
from voicelive_lab.mock.recognizer import PlaceholderRecognizer

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "The city"}},
        "required": ["location"],
    },
}
QUESTION = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "What is the weather in Paris?"}],
    },
}


def user_item(**fields: Any) -> dict[str, Any]:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}], **fields}
    return {"type": "conversation.item.create", "item": item}


def user_audio(audio: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": audio}]},
    }


def weather_with(parameters: dict[str, Any]) -> dict[str, Any]:
    return {**WEATHER, "parameters": {"type": "object", **parameters}}


def session_tools(*tools: dict[str, Any], **session_fields: Any) -> dict[str, Any]:
    return {"type": "session.update", "session": {"tools": list(tools), **session_fields}}


def response_with(**response: Any) -> dict[str, Any]:
    return {"type": "response.create", "response": response}


#: Each event closed the session with 1011, crashed a handler, or let a bad tool schema in (which crashed the
#: first turn that called it); the ``param`` the error must name.
BROKEN = {
    "invalid base64 audio": (user_audio("abc"), "invalid_value", "item.content[0].audio"),
    "non-ASCII audio": (user_audio("é"), "invalid_value", "item.content[0].audio"),
    "a list as item.id": (user_item(id=["item_1"]), "invalid_type", "item.id"),
    "an object as item.id": (user_item(id={"a": 1}), "invalid_type", "item.id"),
    "a list as previous_item_id": ({**user_item(), "previous_item_id": ["root"]}, "invalid_type", "previous_item_id"),
    "an object as previous_item_id": ({**user_item(), "previous_item_id": {}}, "invalid_type", "previous_item_id"),
    "a list as output_audio_format": (
        {"type": "session.update", "session": {"output_audio_format": ["pcm16"]}},
        "invalid_value",
        "session.output_audio_format",
    ),
    "an object as response.output_audio_format": (
        response_with(output_audio_format={"rate": 16000}),
        "invalid_value",
        "response.output_audio_format",
    ),
    "a list as tool_choice.name": (
        session_tools(WEATHER, tool_choice={"type": "function", "name": ["get_weather"]}),
        "invalid_type",
        "session.tool_choice.name",
    ),
    "an object as response.tool_choice.name": (
        response_with(tool_choice={"type": "function", "name": {"n": 1}}),
        "invalid_type",
        "response.tool_choice.name",
    ),
    "response.modalities 1": (response_with(modalities=1), "invalid_type", "response.modalities"),
    "response.tools null": (response_with(tools=None), "invalid_type", "response.tools"),
    "response.tools a string": (response_with(tools="get_weather"), "invalid_type", "response.tools"),
    "a function tool without a name": (
        response_with(tools=[{"type": "function"}]),
        "invalid_value",
        "response.tools[0].name",
    ),
    "a property schema that is a string": (
        session_tools(weather_with({"properties": {"city": "string"}})),
        "invalid_value",
        "session.tools[0].parameters.properties.city",
    ),
    "a minimum that is a string": (
        session_tools(weather_with({"properties": {"days": {"type": "integer", "minimum": "0"}}})),
        "invalid_value",
        "session.tools[0].parameters.properties.days.minimum",
    ),
    "items that is a string": (
        session_tools(weather_with({"properties": {"days": {"type": "array", "items": "string"}}})),
        "invalid_value",
        "session.tools[0].parameters.properties.days.items",
    ),
    "properties that is a list": (
        session_tools(weather_with({"properties": [], "required": ["city"]})),
        "invalid_value",
        "session.tools[0].parameters.properties",
    ),
    "two million minItems": (
        session_tools(
            weather_with(
                {
                    "properties": {"names": {"type": "array", "items": {"type": "string"}, "minItems": 2_000_000}},
                    "required": ["names"],
                }
            )
        ),
        "invalid_value",
        "session.tools[0].parameters.properties.names.minItems",
    ),
    "a bad schema in response.tools": (
        response_with(tools=[weather_with({"properties": {"city": "string"}})]),
        "invalid_value",
        "response.tools[0].parameters.properties.city",
    ),
    "an audio append over 15 MiB": (
        {"type": "input_audio_buffer.append", "audio": "A" * (MAX_AUDIO_CHARS + 4)},
        "invalid_value",
        "audio",
    ),
    "too many content parts": (
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi"}] * (MAX_CONTENT_PARTS + 1),
            },
        },
        "invalid_value",
        "item.content",
    ),
    "a function output over 64 KiB": (
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "call_1", "output": "x" * (MAX_FUNCTION_CHARS + 1)},
        },
        "invalid_value",
        "item.output",
    ),
    "a number as a metadata value": (
        {"type": "session.update", "session": {"metadata": {"lesson": 7}}},
        "invalid_type",
        "session.metadata.lesson",
    ),
    "a number as interim_response.triggers": (
        {"type": "session.update", "session": {"interim_response": {"type": "static_interim_response", "triggers": 5}}},
        "invalid_type",
        "session.interim_response.triggers",
    ),
    "an unknown include option": (
        {"type": "session.update", "session": {"include": ["everything"]}},
        "invalid_value",
        "session.include[0]",
    ),
    "a string as parallel_tool_calls": (
        {"type": "session.update", "session": {"parallel_tool_calls": "yes"}},
        "invalid_type",
        "session.parallel_tool_calls",
    ),
    "an unknown reasoning_effort": (
        response_with(reasoning_effort="extreme"),
        "invalid_value",
        "response.reasoning_effort",
    ),
    "a list as max_output_tokens": (response_with(max_output_tokens=[5]), "invalid_type", "response.max_output_tokens"),
    "an unknown response.conversation": (
        response_with(conversation="sometimes"),
        "invalid_value",
        "response.conversation",
    ),
    "a number as a typed delta": ({"type": "input_text.delta", "id": "typed_1", "delta": 5}, "invalid_type", "delta"),
    "a string as audio_end_ms": (
        {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": "10"},
        "invalid_type",
        "audio_end_ms",
    ),
    "a bad item in append_input_items": (
        response_with(append_input_items=[user_item()["item"], {"type": "message", "role": "user", "content": 3}]),
        "invalid_type",
        "response.append_input_items[1].content",
    ),
}


@pytest.fixture
def server(make_server) -> MockServer:
    return make_server(speed=math.inf, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())


def assert_the_session_still_answers_with_its_tools(events: list) -> None:
    """The probe question was answered as before: a call of the weather tool for Paris, completed."""
    done = events[-1].response
    assert done.status == "completed"
    call = done.output[0]
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", "get_weather", {"location": "Paris"})


@pytest.mark.parametrize(("event", "code", "param"), list(BROKEN.values()), ids=list(BROKEN))
def test_a_broken_event_gets_an_error_naming_the_field_and_the_session_goes_on(
    server: MockServer, event: dict[str, Any], code: str, param: str
) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send(session_tools(WEATHER, modalities=["text"]))
            await conn.send({**event, "event_id": "evt_bad"})
            await conn.send(QUESTION)
            await conn.send({"type": "response.create"})
            return await collect(conn, is_type("response.done"))

    events = run(scenario())
    errors = [e.error for e in events if e.type == "error"]
    assert [(e.type, e.code, e.param, e.event_id) for e in errors] == [
        ("invalid_request_error", code, param, "evt_bad")
    ]
    assert errors[0].message
    assert_the_session_still_answers_with_its_tools(events)


async def raw_exchange(server: MockServer, frames: list[str]) -> list[dict[str, Any]]:
    """Send text frames as they are (the SDK only sends JSON it made), then the probe question; events until done."""
    url = server.endpoint.replace("http", "ws") + "/voice-live/realtime"
    setup = json.dumps(session_tools(WEATHER, modalities=["text"]))
    probe = [json.dumps(QUESTION), json.dumps({"type": "response.create"})]
    async with aiohttp.ClientSession() as client, client.ws_connect(url, headers={"api-key": server.api_key}) as ws:
        for frame in [setup, *frames, *probe]:
            await ws.send_str(frame)
        received: list[dict[str, Any]] = []
        while not received or received[-1]["type"] != "response.done":
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, f"the session ended: {message}"
            received.append(json.loads(message.data))
        return received


def nested(depth: int) -> str:
    """An event whose extra field nests lists so that the whole frame is ``depth`` containers deep."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return '{"type": "conversation.item.retrieve", "item_id": "item_none", "extra": ' + inner + "}"


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"type": "session.update", "session": {"temperature": ' + "9" * 4301 + "}}",
        '{"type": "session.update", "session": {"temperature": 1e999}}',
        '{"type": "session.update", "session": {"temperature": NaN}}',
        nested(MAX_NESTING + 1),
    ],
    ids=["nested 100,000 deep", "a 4,301-digit integer", "1e999", "NaN", f"nested {MAX_NESTING + 1} deep"],
)
def test_a_frame_too_deep_or_with_unreadable_numbers_is_refused_and_the_session_goes_on(
    server: MockServer, frame: str
) -> None:
    received = run(raw_exchange(server, [frame]))
    errors = [event["error"] for event in received if event["type"] == "error"]
    assert [(e["type"], e["code"], e["param"]) for e in errors] == [("invalid_request_error", "invalid_json", None)]
    call = received[-1]["response"]["output"][0]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"location": "Paris"})


def test_a_frame_nested_as_deep_as_allowed_is_handled_as_usual(server: MockServer) -> None:
    received = run(raw_exchange(server, [nested(MAX_NESTING)]))
    errors = [event["error"] for event in received if event["type"] == "error"]
    assert [(e["code"], e["param"]) for e in errors] == [("item_not_found", "item_id")]


def test_arguments_a_schema_asks_for_are_bounded_and_a_fitting_schema_still_gets_them(server: MockServer) -> None:
    def names_tool(min_items: int) -> dict[str, Any]:
        names = {"type": "array", "items": {"type": "string", "minLength": 5}, "minItems": min_items}
        return weather_with(
            {
                "properties": {"location": WEATHER["parameters"]["properties"]["location"], "names": names},
                "required": ["location", "names"],
            }
        )

    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            await conn.send(session_tools(names_tool(9000), modalities=["text"]))  # about a megabyte of arguments
            await conn.send(session_tools(names_tool(3)))
            refused = await collect(conn, is_type("session.updated"))
            await conn.send(QUESTION)
            await conn.send({"type": "response.create"})
            return refused, await collect(conn, is_type("response.done"))

    refused, answered = run(scenario())
    assert [(e.error.code, e.error.param) for e in refused if e.type == "error"] == [
        ("invalid_value", "session.tools[0].parameters")
    ]
    arguments = json.loads(answered[-1].response.output[0].arguments)
    assert arguments["location"] == "Paris"
    assert len(arguments["names"]) == 3 and all(len(name) >= 5 for name in arguments["names"])


def test_a_number_too_long_for_a_float_is_no_argument(server: MockServer) -> None:
    volume = {
        "type": "function",
        "name": "set_volume",
        "description": "Set the speaker volume level.",
        "parameters": {"type": "object", "properties": {"level": {"type": "integer"}}, "required": ["level"]},
    }

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send(session_tools(volume, modalities=["text"]))
            text = "Set the volume level to " + "9" * 400
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
            await conn.send({"type": "conversation.item.create", "item": item})
            await conn.send({"type": "response.create"})
            return await collect(conn, is_type("response.done"))

    done = run(scenario())[-1].response
    assert done.status == "completed"
    assert done.output[0].name == "set_volume"
    assert json.loads(done.output[0].arguments) == {"level": 1}

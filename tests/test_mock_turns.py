"""Text turns, manual turns, barge-in (both paths), cancel, truncate and function calls, via the SDK."""

from __future__ import annotations

import json

from azure.ai.voicelive.models import (
    FunctionCallOutputItem,
    FunctionTool,
    InputTextContentPart,
    RequestSession,
    ResponseStatus,
    ServerVad,
    UserMessageItem,
)
from support import RESPONSE_WITH_AUDIO, append, barrier, collect, is_type, run, session, speech, squash, types

from voicelive_lab.mock import MockServer


def user_text(text: str) -> UserMessageItem:
    return UserMessageItem(content=[InputTextContentPart(text=text)])


def test_a_typed_message_gets_a_reply_that_refers_to_it(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.conversation.item.create(item=user_text("Who was the first Roman emperor?"))
            await conn.response.create()
            return await collect(conn, is_type("response.done"))

    events = run(scenario())
    assert squash(types(events)) == ["session.created", "conversation.item.created", *RESPONSE_WITH_AUDIO]
    created = events[1]
    assert created.item.role == "user" and created.item.content[0].text == "Who was the first Roman emperor?"
    reply = events[-1].response.output[0].content[0].transcript
    assert "Who was the first Roman emperor?" in reply


def test_text_only_modality_streams_text_instead_of_audio(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(modalities=["text"]))
            await conn.conversation.item.create(item=user_text("Hello there"))
            await conn.response.create()
            return await collect(conn, is_type("response.done"))

    events = run(scenario())
    names = types(events)
    assert not any("audio" in name for name in names)
    deltas = [e.delta for e in events if e.type == "response.text.delta"]
    assert len(deltas) > 3
    text_done = next(e for e in events if e.type == "response.text.done")
    assert "".join(deltas) == text_done.text == events[-1].response.output[0].content[0].text
    assert names.index("response.text.done") < names.index("response.content_part.done")


def test_manual_turns_commit_create_and_clear(server: MockServer) -> None:
    async def scenario() -> tuple[list, list, list, list]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(turn_detection=None))
            await conn.input_audio_buffer.commit()
            empty = await collect(conn, is_type("error"))
            await append(conn, speech("rome.wav"))
            no_vad = await barrier(conn)
            await conn.input_audio_buffer.commit()
            await conn.response.create()
            turn = await collect(conn, is_type("response.done"))
            await append(conn, speech("hello.wav"))
            await conn.input_audio_buffer.clear()
            await conn.input_audio_buffer.commit()
            cleared = await collect(conn, is_type("error"))
            return empty, no_vad, turn, cleared

    empty, no_vad, turn, cleared = run(scenario())
    assert empty[1].session.turn_detection is None
    assert empty[-1].error.code == "input_audio_buffer_commit_empty"
    assert not any(name.startswith("input_audio_buffer.speech") for name in types(no_vad))
    assert squash(types(turn)) == [
        "input_audio_buffer.committed",
        "conversation.item.created",
        "<transcription deltas>",
        "conversation.item.input_audio_transcription.completed",
        *RESPONSE_WITH_AUDIO,
    ]
    heard = next(e for e in turn if e.type == "conversation.item.input_audio_transcription.completed")
    assert "Roman Empire" in heard.transcript
    assert types(cleared) == ["input_audio_buffer.cleared", "error"]
    assert cleared[-1].error.code == "input_audio_buffer_commit_empty"


def test_speaking_over_the_assistant_cancels_its_reply(make_server) -> None:
    server = make_server(speed=4)

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(turn_detection=ServerVad(auto_truncate=True)))
            await append(conn, speech("pyramids.wav"))
            before = await collect(conn, is_type("response.audio.delta"))
            await append(conn, speech("interrupt.wav"))
            return before + await collect(
                conn, lambda e: e.type == "response.done" and e.response.status == "completed"
            )

    events = run(scenario())
    names = types(events)
    barge_in = names.index("input_audio_buffer.speech_started", names.index("response.audio.delta"))
    first_done = names.index("response.done")
    assert barge_in < first_done
    assert "response.audio.delta" not in names[barge_in:first_done], "no audio after the user starts speaking"
    assert names[barge_in + 1 : first_done + 2] == [
        "response.audio.done",
        "response.audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
        "conversation.item.truncated",
    ]
    cancelled = events[first_done].response
    assert cancelled.status == ResponseStatus.CANCELLED
    assert cancelled.status_details.reason == "turn_detected"
    assert cancelled.output[0].status == "incomplete"
    heard_ms = sum(len(e.delta) for e in events[:barge_in] if e.type == "response.audio.delta") / 48
    assert 0 <= events[first_done + 1].audio_end_ms <= heard_ms
    partial = "".join(e.delta for e in events[:barge_in] if e.type == "response.audio_transcript.delta")
    assert cancelled.output[0].content[0].transcript == partial
    second = events[-1].response
    assert second.id != cancelled.id and second.status == ResponseStatus.COMPLETED
    assert names.index("input_audio_buffer.speech_stopped", first_done) < names.index("response.created", first_done)


def test_with_interrupt_response_off_the_reply_plays_on(make_server) -> None:
    server = make_server(speed=4)

    async def scenario() -> list:
        async with session(server) as conn:
            detection = ServerVad(interrupt_response=False, create_response=True)
            await conn.session.update(session=RequestSession(turn_detection=detection))
            await append(conn, speech("pyramids.wav"))
            before = await collect(conn, is_type("response.audio.delta"))
            await append(conn, speech("hello.wav", tail_ms=600))
            return before + await collect(conn, is_type("response.done"))

    events = run(scenario())
    assert "input_audio_buffer.speech_started" in types(events)[3:]
    assert events[-1].response.status == ResponseStatus.COMPLETED


def test_client_cancel_and_cancel_with_nothing_active(make_server) -> None:
    server = make_server(speed=2)

    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            await conn.conversation.item.create(item=user_text("Tell me a long story"))
            await conn.response.create()
            await collect(conn, is_type("response.audio.delta"))
            await conn.response.cancel()
            cancelled = await collect(conn, is_type("response.done"))
            await conn.response.cancel()
            error = await collect(conn, is_type("error"))
            return cancelled, error + await barrier(conn)

    cancelled, after = run(scenario())
    assert cancelled[-1].response.status == ResponseStatus.CANCELLED
    assert cancelled[-1].response.status_details.reason == "client_cancelled"
    error = after[0].error
    assert (error.type, error.code) == ("invalid_request_error", "response_cancel_not_active")
    assert error.message == "Cancellation failed: no active response found."
    assert types(after) == ["error"], "the session goes on after the harmless error"


def test_truncating_an_assistant_item(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.conversation.item.create(item=user_text("Hi"))
            await conn.response.create()
            done = (await collect(conn, is_type("response.done")))[-1]
            item_id = done.response.output[0].id
            await conn.conversation.item.truncate(item_id=item_id, audio_end_ms=700, content_index=0)
            await conn.send({"type": "conversation.item.retrieve", "item_id": item_id})
            return await collect(conn, is_type("conversation.item.retrieved"))

    events = run(scenario())
    truncated = events[-2]
    assert truncated.type == "conversation.item.truncated" and truncated.audio_end_ms == 700
    heard = events[-1].item.content[0].transcript
    assert heard and "Hi" not in heard and len(heard.split()) <= 3


WEATHER = FunctionTool(
    name="get_weather",
    description="Current weather for a city",
    parameters={
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["location", "unit"],
    },
)


def test_a_function_call_round_trip(server: MockServer) -> None:
    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(tools=[WEATHER], tool_choice="auto"))
            await conn.conversation.item.create(item=user_text("Can you get weather in Paris for me?"))
            await conn.response.create()
            call = await collect(conn, is_type("response.done"))
            done = next(e for e in call if e.type == "response.function_call_arguments.done")
            output = FunctionCallOutputItem(call_id=done.call_id, output=json.dumps({"temperature_c": 21}))
            await conn.conversation.item.create(item=output, previous_item_id=done.item_id)
            await conn.response.create()
            return call, await collect(conn, is_type("response.done"))

    call, answer = run(scenario())
    names = types(call)
    start = names.index("response.created")
    assert squash(names[start:]) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.created",
        *["response.function_call_arguments.delta"] * names.count("response.function_call_arguments.delta"),
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.done",
    ]
    done = next(e for e in call if e.type == "response.function_call_arguments.done")
    arguments = json.loads(done.arguments)
    assert done.name == "get_weather"
    assert arguments == {"location": "Paris", "unit": "celsius"}
    streamed = "".join(e.delta for e in call if e.type == "response.function_call_arguments.delta")
    assert streamed == done.arguments
    assert call[-1].response.output[0].type == "function_call"
    assert call[-1].response.output[0].call_id == done.call_id

    assert answer[0].type == "conversation.item.created" and answer[0].item.type == "function_call_output"
    reply = answer[-1].response.output[0].content[0].transcript
    assert "temperature c is 21" in reply


def test_tool_choice_required_calls_a_tool_even_for_speech(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(tools=[WEATHER], tool_choice="required"))
            await append(conn, speech("weather_paris.wav"))
            return await collect(conn, is_type("response.done"))

    events = run(scenario())
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments)["unit"] == "celsius"
    assert "response.audio.delta" not in types(events)

"""What a response can change for itself, streamed typed text, clearing the output buffer, and agent mode."""

from __future__ import annotations

import base64
import math
import time

import pytest
from azure.ai.voicelive.models import ServerEventResponseDone

from tests.support import barrier, collect, is_type, run, session, types
from voicelive_lab.mock import MockServer
from voicelive_lab.mock.recognizer import PlaceholderRecognizer

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def server():
    with MockServer(speed=math.inf, recognizer=PlaceholderRecognizer()) as running:
        yield running


@pytest.fixture
def paced_server():
    with MockServer(speed=1.0, chunk_ms=40, recognizer=PlaceholderRecognizer()) as running:
        yield running


async def ask(conn, text: str = QUESTION, **response) -> list:
    await conn.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        }
    )
    await conn.send({"type": "response.create", **({"response": response} if response else {})})
    return await collect(conn, is_type("response.done"))


def audio_bytes(events: list) -> int:
    return sum(len(event.delta) for event in events if event.type == "response.audio.delta")


def test_a_response_can_answer_in_text_with_its_own_voice_format_and_metadata(server: MockServer) -> None:
    async def scenario():
        async with session(server) as conn:
            spoken = await ask(conn)
            voice = {"type": "azure-standard", "name": "en-US-AndrewNeural"}
            texted = await ask(conn, modalities=["text"], metadata={"lesson": "07"}, voice=voice)
            narrow = await ask(conn, output_audio_format="pcm16_16000hz")
            return spoken, texted, narrow

    spoken, texted, narrow = run(scenario())
    done = texted[-1].response
    assert "response.text.delta" in types(texted) and "response.audio.delta" not in types(texted)
    assert done.modalities == ["text"] and done.metadata == {"lesson": "07"}
    assert done.voice["name"] == "en-US-AndrewNeural"
    assert "Paris" in done.output[0].content[0].text
    # The same answer at 16 kHz is two thirds of the bytes of the 24 kHz one.
    assert audio_bytes(narrow) == pytest.approx(audio_bytes(spoken) * 2 / 3, rel=0.02)
    assert narrow[-1].response.output_audio_format == "pcm16_16000hz"


def test_a_token_limit_cuts_the_reply_and_the_response_ends_incomplete(server: MockServer) -> None:
    async def scenario():
        async with session(server) as conn:
            return await ask(conn, "Tell me about the pyramids of Giza.", max_output_tokens=5)

    done = run(scenario())[-1].response
    assert done.status == "incomplete"
    assert done.status_details.reason == "max_output_tokens"
    assert 0 < len(done.output[0].content[0].transcript) <= 20


def test_an_out_of_band_response_stays_out_of_the_conversation(server: MockServer) -> None:
    async def scenario():
        async with session(server) as conn:
            events = await ask(conn, conversation="none")
            item_id = events[-1].response.output[0].id
            await conn.send({"type": "conversation.item.retrieve", "item_id": item_id})
            return events, await collect(conn, is_type("error", "conversation.item.retrieved"))

    events, after = run(scenario())
    created = [e for e in events if e.type == "conversation.item.created"]
    assert [e.item.role for e in created] == ["user"], "only the user's message joins the conversation"
    assert events[-1].response.conversation_id is None
    assert after[-1].type == "error" and after[-1].error.code == "item_not_found"


def test_a_response_can_add_items_and_say_a_message_it_was_given(server: MockServer) -> None:
    async def scenario():
        async with session(server) as conn:
            await conn.send(
                {
                    "type": "response.create",
                    "response": {
                        "append_input_items": [
                            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]}
                        ]
                    },
                }
            )
            appended = await collect(conn, is_type("response.done"))
            given = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Welcome back!"}]}
            await conn.send({"type": "response.create", "response": {"pre_generated_assistant_message": given}})
            return appended, await collect(conn, is_type("response.done"))

    appended, pre_generated = run(scenario())
    assert next(name for name in types(appended) if name != "session.created") == "conversation.item.created"
    assert "Paris" in appended[-1].response.output[0].content[0].transcript
    assert pre_generated[-1].response.output[0].content[0].transcript == "Welcome back!"


def test_additional_instructions_shape_the_reply(server: MockServer) -> None:
    async def scenario():
        async with session(server) as conn:
            long = await ask(conn, "What can you do?")
            await conn.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "What can you do?"}],
                    },
                }
            )
            await conn.send({"type": "response.create", "additional_instructions": "Keep answers short."})
            return long, await collect(conn, is_type("response.done"))

    long, short = run(scenario())
    said = [events[-1].response.output[0].content[0].transcript for events in (long, short)]
    assert len(said[1]) < len(said[0])


@pytest.mark.parametrize(
    ("response", "param"),
    [
        ({"voice": "robot"}, "response.voice"),
        ({"output_audio_format": "mp3"}, "response.output_audio_format"),
        ({"max_output_tokens": 0}, "response.max_output_tokens"),
        ({"modalities": ["audio"]}, "response.modalities"),
    ],
)
def test_a_bad_override_is_refused_by_name_and_the_session_goes_on(server: MockServer, response, param) -> None:
    async def scenario():
        async with session(server) as conn:
            await conn.send({"type": "response.create", "response": response})
            refused = await collect(conn, is_type("error", "response.created"))
            return refused, await ask(conn)

    refused, answered = run(scenario())
    assert refused[-1].type == "error" and refused[-1].error.param == param
    assert answered[-1].response.status == "completed"


def test_an_interim_response_speaks_while_a_tool_is_called(server: MockServer) -> None:
    weather = {
        "type": "function",
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    interim = {"type": "static_interim_response", "triggers": ["tool"], "texts": ["Let me look that up."]}

    async def scenario():
        async with session(server) as conn:
            await conn.session.update(session={"tools": [weather], "interim_response": interim})
            await collect(conn, is_type("session.updated"))
            return await ask(conn, "What's the weather in Paris?")

    done = run(scenario())[-1]
    assert isinstance(done, ServerEventResponseDone)
    first, second = done.response.output
    assert first.type == "message" and first.content[0].transcript == "Let me look that up."
    assert second.type == "function_call" and second.name == "get_weather"


def test_streamed_typed_text_becomes_a_user_message_that_is_answered(server: MockServer) -> None:
    async def scenario():
        async with session(server) as conn:
            for piece in ("What is the capital ", "of France?"):
                await conn.send({"type": "input_text.delta", "id": "item_typed", "delta": piece})
            await conn.send({"type": "input_text.done", "id": "item_typed"})
            events = await collect(conn, is_type("response.done"))
            await conn.send({"type": "input_text.done", "id": "item_unknown"})
            return events, await collect(conn, is_type("error"))

    events, refused = run(scenario())
    created = next(event for event in events if event.type != "session.created")
    assert created.type == "conversation.item.created" and created.item.id == "item_typed"
    assert created.item.content[0].text == QUESTION
    assert "Paris" in events[-1].response.output[0].content[0].transcript
    assert refused[-1].error.param == "id"


def test_clearing_the_output_buffer_stops_the_reply_where_it_was(paced_server: MockServer) -> None:
    async def scenario():
        async with session(paced_server) as conn:
            await conn.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "Tell me about the pyramids of Giza."}],
                    },
                }
            )
            await conn.send({"type": "response.create"})
            before = await collect(conn, is_type("response.audio.delta"))
            await conn.send({"type": "output_audio_buffer.clear"})
            after = await collect(conn, is_type("output_audio_buffer.cleared"))
            return before, after

    before, after = run(scenario())
    names = types(after)
    done = next(e for e in after if e.type == "response.done")
    assert done.response.status == "cancelled" and done.response.status_details.reason == "client_cancelled"
    assert (
        names.index("response.done")
        < names.index("conversation.item.truncated")
        < names.index("output_audio_buffer.cleared")
    )
    sent_ms = sum(len(e.delta) for e in before + after if e.type == "response.audio.delta") / 48
    truncated = next(e for e in after if e.type == "conversation.item.truncated")
    assert 0 < truncated.audio_end_ms <= sent_ms + 1


def test_agent_mode_shows_the_agent_and_its_first_answer_names_it(server: MockServer) -> None:
    async def scenario():
        async with session(server, agent_name="trip-planner", project_name="contoso") as conn:
            created = await collect(conn, is_type("session.created"))
            await conn.session.update(session={"instructions": "Be a pirate."})
            warned = await collect(conn, is_type("warning"))
            return created, warned, await ask(conn)

    created, warned, answered = run(scenario())
    assert created[-1].session.agent.name == "trip-planner"
    assert warned[-1].warning.param == "session.instructions"
    assert answered[-1].response.output[0].content[0].transcript.startswith("trip-planner here.")


def test_append_audio_keeps_no_audio_in_the_conversation(server: MockServer) -> None:
    """An item's audio is heard, not stored: retrieving it shows the words' place, not megabytes of base64."""

    async def scenario():
        async with session(server) as conn:
            audio = base64.b64encode(bytes(48_000)).decode()
            content = [{"type": "input_audio", "audio": audio}]
            await conn.send(
                {
                    "type": "conversation.item.create",
                    "item": {"id": "item_a", "type": "message", "role": "user", "content": content},
                }
            )
            await conn.send({"type": "conversation.item.retrieve", "item_id": "item_a"})
            return await barrier(conn)

    events = run(scenario())
    retrieved = next(e for e in events if e.type == "conversation.item.retrieved")
    assert "audio" not in retrieved.item.content[0]


def test_a_session_expires_with_the_service_error_and_a_normal_close() -> None:
    with MockServer(speed=math.inf, recognizer=PlaceholderRecognizer(), session_lifetime_s=1.0) as short_lived:

        async def scenario():
            async with session(short_lived) as conn:
                created = await collect(conn, is_type("session.created"))
                events = [event async for event in conn]
                return created[-1], events, conn._connection.close_code  # the SDK hides it (protocol doc §3.4)

        created, events, close_code = run(scenario(), timeout=10)
    assert created.session.expires_at.timestamp() == pytest.approx(time.time(), abs=3)
    assert [(e.type, e.error.code) for e in events] == [("error", "session_expired")]
    assert close_code == 1000

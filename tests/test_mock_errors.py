"""Bad client input gets a specific ``error`` event and the session goes on; invalid updates change nothing."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from azure.ai.voicelive.models import RequestSession
from support import barrier, collect, is_type, run, session, types

from voicelive_lab.mock import MockServer


@pytest.mark.parametrize(
    ("update", "param"),
    [
        ({"voice": {"type": "azure-neural", "name": "en-US-AvaNeural"}}, "session.voice.type"),
        ({"voice": "en-US-AvaNeural"}, "session.voice"),
        ({"voice": {"type": "azure-standard"}}, "session.voice.name"),
        ({"input_audio_format": "mp3"}, "session.input_audio_format"),
        ({"output_audio_format": "pcm24"}, "session.output_audio_format"),
        ({"input_audio_sampling_rate": 11025}, "session.input_audio_sampling_rate"),
        ({"turn_detection": {"type": "server_vad", "threshold": 1.5}}, "session.turn_detection.threshold"),
        (
            {"turn_detection": {"type": "server_vad", "silence_duration_ms": -1}},
            "session.turn_detection.silence_duration_ms",
        ),
        ({"turn_detection": {"type": "push_to_talk"}}, "session.turn_detection.type"),
        ({"modalities": ["audio"]}, "session.modalities"),
        ({"temperature": "warm"}, "session.temperature"),
        ({"tool_choice": {"type": "function", "name": "not_configured"}}, "session.tool_choice"),
        ({"instructions": "Be brief.", "voicee": "alloy"}, "session.voicee"),
    ],
)
def test_an_invalid_session_update_is_refused_and_changes_nothing(
    server: MockServer, update: dict[str, Any], param: str
) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(instructions="Keep it short."))
            await conn.send({"type": "session.update", "session": update, "event_id": "evt_bad"})
            events = await collect(conn, is_type("error"))
            await conn.session.update(session={})
            return events + await collect(conn, is_type("session.updated"))

    events = run(scenario())
    assert types(events) == ["session.created", "session.updated", "error", "session.updated"]
    error = events[2].error
    assert (error.type, error.param, error.event_id) == ("invalid_request_error", param, "evt_bad")
    assert error.message
    assert events[3].session.as_dict() == events[1].session.as_dict()


def test_a_valid_update_merges_into_the_whole_session(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session={"instructions": "Be brief.", "voice": "alloy"})
            await conn.session.update(session={"turn_detection": {"type": "server_vad", "threshold": 0.7}})
            first = await collect(conn, is_type("session.updated"))
            return first + await collect(conn, is_type("session.updated"))

    events = run(scenario())
    created, final = events[0].session, events[-1].session
    assert types(events) == ["session.created", "session.updated", "session.updated"]
    assert final.id == created.id and final.instructions == "Be brief." and final.voice == "alloy"
    detection = final.turn_detection
    assert (detection.type, detection.threshold, detection.silence_duration_ms) == ("server_vad", 0.7, 500)
    assert final.expires_at is not None and final.input_audio_format == "pcm16"


def test_unknown_events_and_missing_fields_are_errors_not_crashes(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send({"type": "rate_limits.update"})
            await conn.send({"type": "conversation.item.truncate", "content_index": 0, "audio_end_ms": 10})
            await conn.send({"type": "input_audio_buffer.append", "audio": "not base64!"})
            await conn.send({"type": "conversation.item.create", "item": {"type": "message", "role": "robot"}})
            await conn.send({"type": "input_audio.turn.start"})
            await conn.send(
                {
                    "type": "conversation.item.create",
                    "item": {"type": "function_call_output", "call_id": "x", "output": "{}"},
                }
            )
            return await barrier(conn)

    errors = [event.error for event in run(scenario())[1:]]
    assert [(e.code, e.param) for e in errors] == [
        ("unknown_event_type", "type"),
        ("missing_required_parameter", "item_id"),
        ("invalid_value", "audio"),
        ("invalid_value", "item.role"),
        ("missing_required_parameter", "turn_id"),
        ("invalid_value", "item.call_id"),
    ]
    assert all(e.type == "invalid_request_error" and e.message for e in errors)


def test_malformed_frames_get_errors_and_the_session_goes_on(server: MockServer) -> None:
    async def scenario() -> list[dict[str, Any]]:
        url = server.endpoint.replace("http", "ws") + "/voice-live/realtime"
        async with aiohttp.ClientSession() as client, client.ws_connect(url, headers={"api-key": server.api_key}) as ws:
            for frame in ("{not json", "[1, 2, 3]", '{"no_type": true}', '"just a string"'):
                await ws.send_str(frame)
            await ws.send_bytes(b"\x00\x01")
            await ws.send_str(json.dumps({"type": "session.update", "session": {"instructions": "still here"}}))
            received = []
            while not received or received[-1]["type"] != "session.updated":
                received.append(json.loads((await ws.receive()).data))
            return received

    received = run(scenario())
    assert [event["type"] for event in received] == ["session.created", *["error"] * 5, "session.updated"]
    assert [event["error"]["code"] for event in received[1:6]] == [
        "invalid_json",
        "invalid_event",
        "invalid_event",
        "invalid_event",
        "invalid_frame",
    ]
    assert received[-1]["session"]["instructions"] == "still here"


def test_response_create_while_one_is_active_is_refused(make_server) -> None:
    server = make_server(speed=2)

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send(
                {
                    "type": "conversation.item.create",
                    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
                }
            )
            await conn.response.create()
            await collect(conn, is_type("response.created"))
            await conn.response.create()
            return await collect(conn, is_type("error"))

    assert run(scenario())[-1].error.code == "conversation_already_has_active_response"

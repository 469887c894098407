"""BasicVoiceAssistant, the kit's lab-shaped class, against the practice server: the lab's states, its fixed
bugs, and clear failures. It reports through state_callback and the lab's _broadcast, bound here to a channel."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import AzureKeyCredential
from support import level_db, run, speech

from voicelive_lab.assistant import BasicVoiceAssistant
from voicelive_lab.lab_app import SessionChannel, bound_channel
from voicelive_lab.mock import Faults, MockServer

LAB_TURN = ["ready", "listening", "processing", "assistant_speaking", "ready"]


@dataclass
class Heard:
    """Everything the assistant reported: states, audio, logs, and the events its loop passed on."""

    states: list[tuple[str, str]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    flushes: int = 0
    logs: list[tuple[str, str]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)

    @property
    def state_names(self) -> list[str]:
        names: list[str] = []
        for state, _ in self.states:
            if not names or names[-1] != state:
                names.append(state)
        return names

    def types(self) -> list[str]:
        return [str(event.type) for event in self.events]

    def done(self) -> list[Any]:
        return [event.response for event in self.events if event.type == "response.done"]


def make_assistant(server: MockServer, heard: Heard, key: str | None = None, voice: str = "en-US-JennyNeural"):
    return BasicVoiceAssistant(
        server.endpoint,
        AzureKeyCredential(key or server.api_key),
        "gpt-4o",
        voice,
        "You are a friendly history tutor.",
        state_callback=lambda state, message: heard.states.append((state, message)),
    )


def channel_for(heard: Heard) -> SessionChannel:
    return SessionChannel(
        on_audio=heard.audio.extend,
        on_stop_playback=lambda: setattr(heard, "flushes", heard.flushes + 1),
        on_log=lambda level, text: heard.logs.append((level, text)),
        on_event=heard.events.append,
    )


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def drive(server: MockServer, heard: Heard, script: Callable[[BasicVoiceAssistant], Awaitable[None]], **kw: Any):
    """Run the assistant with its channel bound on this thread while ``script`` talks to it, then stop it."""
    assistant = make_assistant(server, heard, **kw)
    channel = channel_for(heard)

    def state_callback(state: str, message: str) -> None:  # as the runner's: the channel's state follows
        heard.states.append((state, message))
        channel.set_state(state, message)

    assistant.state_callback = state_callback

    async def main() -> None:
        session = asyncio.create_task(assistant.start())
        try:
            await until(lambda: channel.state["state"] in ("ready", "error"))
            await script(assistant)
        finally:
            assistant.request_stop()
            if assistant.connection is not None:
                await assistant.connection.close()
            await asyncio.wait_for(session, 5)

    with bound_channel(channel):
        run(main())
    return assistant


async def speak(assistant: BasicVoiceAssistant, pcm: bytes) -> None:
    import base64

    for offset in range(0, len(pcm), 960):
        await assistant.append_audio(base64.b64encode(pcm[offset : offset + 960]).decode())


def test_a_spoken_turn_walks_the_labs_states_and_plays_the_reply(server: MockServer) -> None:
    heard = Heard()

    async def turn(assistant: BasicVoiceAssistant) -> None:
        await speak(assistant, speech("pyramids.wav"))
        await until(lambda: "response.done" in heard.types())

    drive(server, heard, turn)
    assert heard.state_names == LAB_TURN
    assert len(heard.audio) > 48000 and len(heard.audio) % 2 == 0
    assert level_db(bytes(heard.audio)) > -30, "what reached the speaker is the reply's audible PCM"
    assert heard.flushes == 1, "speech_started flushed playback (nothing was playing yet)"
    assert heard.types()[:2] == ["session.created", "session.updated"], "the loop passes every event on"


def test_barge_in_cancels_from_the_client_because_it_decides_before_changing_state(make_server) -> None:
    server = make_server(speed=2, server_barge_in=False)  # only the assistant's own cancel can stop a reply
    heard = Heard()

    async def barge_in(assistant: BasicVoiceAssistant) -> None:
        await speak(assistant, speech("pyramids.wav"))
        await until(lambda: heard.state_names[-1] == "assistant_speaking")
        await speak(assistant, speech("interrupt.wav"))
        await until(lambda: len(heard.done()) >= 2, timeout=20)

    drive(server, heard, barge_in)
    first, second = heard.done()[:2]
    assert first.status == "cancelled" and first.status_details.reason == "client_cancelled"
    assert second.status == "completed", "the new reply is not cancelled with the old one"
    assert heard.state_names == [*LAB_TURN[:-1], "listening", "processing", "assistant_speaking", "ready"]


def test_the_harmless_cancel_error_after_a_server_barge_in_is_ignored(make_server) -> None:
    server = make_server(speed=2)  # interrupt_response defaults to true: the server cancels first
    heard = Heard()

    async def barge_in(assistant: BasicVoiceAssistant) -> None:
        await speak(assistant, speech("pyramids.wav"))
        await until(lambda: heard.state_names[-1] == "assistant_speaking")
        await speak(assistant, speech("interrupt.wav"))
        await until(lambda: len(heard.done()) >= 2, timeout=20)

    drive(server, heard, barge_in)
    errors = [e.error.code for e in heard.events if e.type == "error"]
    assert errors == ["response_cancel_not_active"], "the late cancel was answered with the harmless error"
    assert "error" not in heard.state_names
    assert [r.status for r in heard.done()[:2]] == ["cancelled", "completed"]


def test_a_refused_request_is_logged_and_the_session_goes_on(server: MockServer) -> None:
    heard = Heard()

    async def bad_update(assistant: BasicVoiceAssistant) -> None:
        assert assistant.connection is not None
        await assistant.connection.session.update(session={"voice": {"type": "azure-neural", "name": "x"}})
        await until(lambda: any(level == "warning" for level, _ in heard.logs))
        await speak(assistant, speech("hello.wav"))
        await until(lambda: "response.done" in heard.types())

    drive(server, heard, bad_update)
    assert "error" not in heard.state_names and heard.state_names[-1] == "ready"
    assert any("azure-neural" in text for _, text in heard.logs)


def test_a_fatal_server_error_ends_the_session_in_error_and_closes_it(make_server) -> None:
    server = make_server(faults=Faults(error_after_events=2))
    heard = Heard()
    began = time.monotonic()
    drive(server, heard, lambda assistant: until(lambda: heard.state_names[-1] == "error"))
    assert time.monotonic() - began < 3
    assert heard.state_names == ["ready", "error"]
    assert "fault injection" in heard.states[-1][1]


def test_the_voice_rule_of_the_lab(server: MockServer) -> None:
    for voice, expected in (
        ("en-US-AvaNeural", {"name": "en-US-AvaNeural", "type": "azure-standard"}),
        ("alloy", "alloy"),
    ):
        heard = Heard()
        drive(server, heard, lambda assistant: asyncio.sleep(0), voice=voice)
        (updated,) = [e.session for e in heard.events if e.type == "session.updated"]
        wire = updated.as_dict()
        assert wire["voice"] == expected
        assert sorted(wire["modalities"]) == ["audio", "text"]
        assert (wire["input_audio_format"], wire["output_audio_format"]) == ("pcm16", "pcm16")
        vad = wire["turn_detection"]
        assert (vad["type"], vad["threshold"], vad["prefix_padding_ms"], vad["silence_duration_ms"]) == (
            "server_vad",
            0.5,
            300,
            500,
        )


def test_a_wrong_key_ends_in_error_with_the_reason(server: MockServer) -> None:
    heard = Heard()
    with bound_channel(channel_for(heard)):
        run(make_assistant(server, heard, key="k3y-not-this-one").start())
    assert heard.state_names == ["error"]
    assert "401" in heard.states[-1][1] and "AZURE_VOICE_LIVE_API_KEY" in heard.states[-1][1]
    assert "k3y-not-this-one" not in heard.states[-1][1]


def test_a_refused_connection_ends_in_error_with_the_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    states: list[tuple[str, str]] = []
    assistant = BasicVoiceAssistant(
        f"http://127.0.0.1:{port}", AzureKeyCredential("k"), "gpt-4o", "alloy", "", lambda *s: states.append(s)
    )
    run(assistant.start())
    assert states[-1][0] == "error" and "refused" in states[-1][1]

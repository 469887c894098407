"""VoiceAssistant against the practice server: the lab's states, its fixed bugs, and clear failures."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from azure.ai.voicelive.models import AzureStandardVoice, ServerVad
from azure.core.credentials import AzureKeyCredential
from support import run, speech

from voicelive_lab.assistant import TranscriptUpdate, VoiceAssistant, voice_config
from voicelive_lab.mock import Faults, MockServer

LAB_TURN = ["starting", "ready", "listening", "processing", "assistant_speaking", "ready"]


@dataclass
class Heard:
    """Everything the assistant reported through its callbacks."""

    states: list[tuple[str, str]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    interrupts: int = 0
    transcripts: list[TranscriptUpdate] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def state_names(self) -> list[str]:
        names: list[str] = []
        for state, _ in self.states:
            if not names or names[-1] != state:
                names.append(state)
        return names

    def finals(self, role: str) -> list[TranscriptUpdate]:
        return [t for t in self.transcripts if t.role == role and t.final]


def make_assistant(server: MockServer, heard: Heard, key: str | None = None, **kwargs: Any) -> VoiceAssistant:
    def interrupt() -> None:
        heard.interrupts += 1

    return VoiceAssistant(
        server.endpoint,
        AzureKeyCredential(key or server.api_key),
        "gpt-4o",
        "en-US-JennyNeural",
        "You are a friendly history tutor.",
        on_state=lambda state, message: heard.states.append((state, message)),
        on_audio=heard.audio.extend,
        on_interrupt=interrupt,
        on_transcript=heard.transcripts.append,
        on_event=lambda event: heard.events.append(str(event.type)),
        **kwargs,
    )


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def drive(assistant: VoiceAssistant, script: Callable[[], Awaitable[None]]) -> None:
    """Run the assistant while ``script`` talks to it, then stop it."""
    session = asyncio.create_task(assistant.start())
    try:
        await until(lambda: assistant.state in ("ready", "error"))
        await script()
    finally:
        await assistant.stop()
        await asyncio.wait_for(session, 5)


async def speak(assistant: VoiceAssistant, pcm: bytes) -> None:
    for offset in range(0, len(pcm), 960):
        await assistant.append_audio(pcm[offset : offset + 960])


def test_a_spoken_turn_visits_the_labs_states_and_reports_audio_and_transcripts(server: MockServer) -> None:
    heard = Heard()
    assistant = make_assistant(server, heard)

    async def turn() -> None:
        await speak(assistant, speech("pyramids.wav"))
        await until(lambda: "response.done" in heard.events)

    run(drive(assistant, turn))
    assert heard.state_names == [*LAB_TURN, "stopped"]
    assert len(heard.audio) > 48000 and len(heard.audio) % 2 == 0
    assert [t.text for t in heard.finals("user")] == ["(1.7 s of speech)"]
    (reply,) = heard.finals("assistant")
    assert reply.text.startswith("Hello! I heard 1.7 seconds") and not reply.interrupted
    growing = [t.text for t in heard.transcripts if t.role == "assistant" and not t.final]
    assert len(growing) > 3 and all(b.startswith(a) for a, b in itertools.pairwise(growing))


def test_barge_in_cancels_from_the_client_because_it_decides_before_changing_state(make_server) -> None:
    server = make_server(speed=2)  # the server itself will not cancel: only the assistant can
    heard = Heard()
    assistant = make_assistant(server, heard, turn_detection=ServerVad(interrupt_response=False))

    async def barge_in() -> None:
        await speak(assistant, speech("pyramids.wav"))
        await until(lambda: assistant.state == "assistant_speaking")
        await speak(assistant, speech("interrupt.wav"))
        await until(lambda: heard.events.count("response.done") >= 1)

    run(drive(assistant, barge_in))
    (cut,) = heard.finals("assistant")[:1]
    assert cut.interrupted, "the reply was cancelled by the assistant's own response.cancel"
    assert heard.interrupts >= 1
    assert "error" not in heard.state_names


def test_the_harmless_cancel_error_after_a_server_barge_in_is_ignored(make_server) -> None:
    server = make_server(speed=2)  # interrupt_response defaults to true: the server cancels first
    heard = Heard()
    assistant = make_assistant(server, heard)

    async def barge_in() -> None:
        await speak(assistant, speech("pyramids.wav"))
        await until(lambda: assistant.state == "assistant_speaking")
        await speak(assistant, speech("interrupt.wav"))
        await until(lambda: heard.events.count("response.done") >= 2)

    run(drive(assistant, barge_in))
    assert "error" in heard.events, "the server answered the late cancel with response_cancel_not_active"
    assert "error" not in heard.state_names and assistant.last_error is None
    assert [t.interrupted for t in heard.finals("assistant")] == [True, False]


def test_stop_closes_the_session_at_once_even_when_nothing_happens(server: MockServer) -> None:
    heard = Heard()
    assistant = make_assistant(server, heard)

    async def scenario() -> float:
        session = asyncio.create_task(assistant.start())
        await until(lambda: assistant.state == "ready")
        began = time.monotonic()
        await assistant.stop()
        await asyncio.wait_for(session, 2)
        elapsed = time.monotonic() - began
        await until(lambda: server.active_sessions == 0, timeout=1)  # the server saw the socket close
        return elapsed

    assert run(scenario()) < 0.2
    assert heard.state_names[-1] == "stopped"


def test_a_non_fatal_error_is_reported_and_the_session_goes_on(server: MockServer) -> None:
    heard = Heard()
    assistant = make_assistant(server, heard)

    async def bad_update() -> None:
        assert assistant.connection is not None
        await assistant.connection.session.update(session={"voice": {"type": "azure-neural", "name": "x"}})
        await until(lambda: assistant.last_error is not None)
        await assistant.send_text("Still there?")
        await until(lambda: "response.done" in heard.events)

    run(drive(assistant, bad_update))
    assert "session.voice.type" in (assistant.last_error or "")
    assert "error" not in heard.state_names
    assert heard.finals("assistant")[0].text.startswith('You wrote: "Still there?"')


def test_a_wrong_key_ends_in_error_with_the_reason(server: MockServer) -> None:
    heard = Heard()
    run(make_assistant(server, heard, key="k3y-not-this-one").start())
    assert heard.state_names == ["starting", "error"]
    assert "401" in heard.states[-1][1] and "AZURE_VOICE_LIVE_API_KEY" in heard.states[-1][1]
    assert "k3y-not-this-one" not in heard.states[-1][1]


def test_a_refused_connection_ends_in_error_with_the_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    heard = Heard()
    assistant = VoiceAssistant(
        f"http://127.0.0.1:{port}",
        AzureKeyCredential("k"),
        "gpt-4o",
        "alloy",
        "",
        on_state=lambda s, m: heard.states.append((s, m)),
    )
    run(assistant.start())
    assert heard.states[-1][0] == "error" and "refused" in heard.states[-1][1]


def test_the_server_closing_the_session_is_an_error_not_a_silent_end(make_server) -> None:
    server = make_server(faults=Faults(close_after_events=2, close_code=1011))
    heard = Heard()
    run(make_assistant(server, heard).start())
    assert heard.state_names == ["starting", "ready", "error"]
    assert "1011" in heard.states[-1][1]


def test_the_voice_rule_of_the_lab() -> None:
    assert voice_config("en-US-AvaNeural") == AzureStandardVoice(name="en-US-AvaNeural")
    assert voice_config("alloy") == "alloy"
    session = VoiceAssistant("http://x", AzureKeyCredential("k"), "gpt-4o", "alloy", "Be brief.").build_session()
    wire = session.as_dict()
    assert wire["modalities"] == ["text", "audio"] and wire["voice"] == "alloy"
    assert wire["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
    }
    assert (wire["input_audio_format"], wire["output_audio_format"]) == ("pcm16", "pcm16")


def test_a_fatal_server_error_ends_the_session_in_error(make_server) -> None:
    server = make_server(faults=Faults(error_after_events=2))
    heard = Heard()
    run(make_assistant(server, heard).start())
    assert heard.state_names == ["starting", "ready", "error"]
    assert "fault injection" in heard.states[-1][1] and "internal_server_error" in heard.states[-1][1]

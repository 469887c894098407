"""The practice agent hears words, answers in intelligible speech and calls tools from speech (real SDK, ws://).

The questions are spoken by eSpeak NG here, with known text, several voices and speeds, so what the recognizer
should hear is known.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from azure.ai.voicelive.models import (
    AudioInputTranscriptionOptions,
    AzureStandardVoice,
    FunctionCallOutputItem,
    FunctionTool,
    RequestSession,
)
from support import MANIFEST, append, collect, is_type, run, session, silence, speech

from voicelive_lab.mock import MockServer
from voicelive_lab.mock.brain import known_sentences, words_of
from voicelive_lab.mock.espeak import EspeakSettings
from voicelive_lab.mock.pcm import resample
from voicelive_lab.mock.recognizer import PlaceholderRecognizer, RecognitionHints, loaded_recognizer
from voicelive_lab.mock.speech import loaded_espeak

pytestmark = pytest.mark.skipif(loaded_espeak() is None, reason="eSpeak NG is needed to speak the test questions")

WEATHER_TOOL = FunctionTool(
    name="get_weather",
    description="Get the current weather for a location.",
    parameters={
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
)


def spoken(text: str, voice: str = "en-us+f3", words_per_minute: int = 160) -> bytes:
    """``text`` said by eSpeak NG, as the 24 kHz PCM16 a microphone would send, with silence around it."""
    espeak = loaded_espeak()
    assert espeak is not None
    output = espeak.speak(text, EspeakSettings(voice, words_per_minute))
    samples = resample(output.samples / 32768.0, output.sample_rate, 24000)
    return silence(300) + (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes() + silence(1000)


async def ask(conn, pcm: bytes) -> list:
    await append(conn, pcm)
    return await collect(conn, is_type("response.done"))


def heard_in(events: list) -> str:
    return next(e.transcript for e in events if e.type == "conversation.item.input_audio_transcription.completed")


def reply_in(events: list) -> str:
    return events[-1].response.output[0].content[0].transcript


@pytest.mark.parametrize(
    ("text", "voice", "words_per_minute", "key_words", "answer_word"),
    [
        ("What is the capital of Japan?", "en-us+f3", 160, {"capital", "japan"}, "Tokyo"),
        ("Who was Julius Caesar?", "en-us+m3", 175, {"julius", "caesar"}, "general"),
        ("What time is it?", "en+f2", 150, {"time"}, "clock"),
        ("Who built the pyramids of Giza?", "en-us+m1", 140, {"pyramids", "giza"}, "pharaohs"),
    ],
)
def test_a_spoken_question_is_heard_and_answered(
    server: MockServer, text: str, voice: str, words_per_minute: int, key_words: set[str], answer_word: str
) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            return await ask(conn, spoken(text, voice, words_per_minute))

    events = run(scenario())
    assert key_words <= set(words_of(heard_in(events))), heard_in(events)
    assert answer_word in reply_in(events)


def test_the_transcript_streams_as_deltas_then_completes(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(
                session=RequestSession(input_audio_transcription=AudioInputTranscriptionOptions(model="whisper-1"))
            )
            return await ask(conn, speech("rome.wav"))

    events = run(scenario())
    kinds = [e.type for e in events]
    committed = kinds.index("input_audio_buffer.committed")
    completed = kinds.index("conversation.item.input_audio_transcription.completed")
    deltas = [e for e in events if e.type == "conversation.item.input_audio_transcription.delta"]
    assert committed < kinds.index("conversation.item.input_audio_transcription.delta") < completed
    assert "".join(d.delta for d in deltas) == events[completed].transcript
    assert {d.item_id for d in deltas} == {events[completed].item_id, events[committed].item_id}
    assert "Roman Empire" in events[completed].transcript


def test_a_spoken_weather_question_calls_the_tool_with_the_place_and_the_reply_uses_its_output(
    server: MockServer,
) -> None:
    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(tools=[WEATHER_TOOL], tool_choice="auto"))
            call = await ask(conn, spoken("What's the weather in Seattle?", "en-us+m3", 175))
            call_id = next(e.call_id for e in call if e.type == "response.function_call_arguments.done")
            output = json.dumps({"temperature": "12 C", "condition": "light rain"})
            await conn.conversation.item.create(item=FunctionCallOutputItem(call_id=call_id, output=output))
            await conn.response.create()
            return call, await collect(conn, is_type("response.done"))

    call, answer = run(scenario())
    done = next(e for e in call if e.type == "response.function_call_arguments.done")
    assert done.name == "get_weather"
    assert done.arguments == '{"location":"Seattle"}', "required place filled from the words, optional unit left out"
    assert "12 C" in reply_in(answer) and "light rain" in reply_in(answer)


def test_a_spoken_request_calls_the_demo_mcp_server_and_the_answer_says_the_result(server: MockServer) -> None:
    mcp_tool = {
        "type": "mcp",
        "server_label": "practice",
        "server_url": "http://practice-mcp.local/mcp",
        "require_approval": "never",
    }

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session={"tools": [mcp_tool]})
            await collect(conn, is_type("mcp_list_tools.completed"))
            return await ask(conn, spoken("What time is it?", "en+f2", 150))

    events = run(scenario())
    calls = [e for e in events if e.type == "response.mcp_call_arguments.done"]
    assert calls, f"no MCP call for the words heard: {heard_in(events)!r}; events {[e.type for e in events]}"
    call_item = next(e.item for e in events if e.type == "response.output_item.added" and e.item.type == "mcp_call")
    assert call_item.name == "get_current_time"
    assert re.search(r"\b\d\d:\d\d\b", events[-1].response.output[-1].content[0].transcript), "the answer says the time"


def test_a_question_without_a_matching_tool_gets_a_spoken_answer(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(tools=[WEATHER_TOOL], tool_choice="auto"))
            return await ask(conn, spoken("What is the capital of Japan?"))

    events = run(scenario())
    assert not any(e.type.startswith("response.function_call") for e in events)
    assert "Tokyo" in reply_in(events)


def test_the_reply_voice_is_intelligible(server: MockServer) -> None:
    """The reply's own audio, fed back through the recognizer, holds the reply's key words."""

    async def scenario() -> list:
        async with session(server) as conn:
            return await ask(conn, spoken("What is the capital of Japan?"))

    events = run(scenario())
    audio = b"".join(base64.b64decode(e.delta) if isinstance(e.delta, str) else e.delta for e in events
                     if e.type == "response.audio.delta")  # fmt: skip
    samples = np.frombuffer(audio, dtype="<i2") / 32768.0
    heard_back = loaded_recognizer().transcribe(samples, 24000, RecognitionHints(sentences=known_sentences()))
    assert reply_in(events) == "The capital of Japan is Tokyo."
    assert {"capital", "japan", "tokyo"} <= set(words_of(heard_back)), heard_back


def test_a_phrase_list_helps_on_a_hard_phrase(server: MockServer) -> None:
    question = spoken("Who was Ada Lovelace?")

    async def scenario(phrases: list[str] | None) -> str:
        async with session(server) as conn:
            options = AudioInputTranscriptionOptions(model="azure-speech", language="en-US", phrase_list=phrases)
            await conn.session.update(session=RequestSession(input_audio_transcription=options))
            return heard_in(await ask(conn, question))

    without, with_phrases = run(scenario(None)), run(scenario(["Ada Lovelace"]))
    assert not {"ada", "lovelace"} <= set(words_of(without)), without
    assert "Ada Lovelace" in with_phrases


def test_word_timestamps_and_visemes_follow_the_audio(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send(
                {
                    "type": "session.update",
                    "session": {"output_audio_timestamp_types": ["word"], "animation": {"outputs": ["viseme_id"]}},
                }
            )
            return await ask(conn, spoken("What is the capital of Japan?"))

    events = run(scenario())
    words = [e for e in events if e.type == "response.audio_timestamp.delta"]
    visemes = [e for e in events if e.type == "response.animation_viseme.delta"]
    audio_ms = sum(len(base64.b64decode(e.delta) if isinstance(e.delta, str) else e.delta) for e in events
                   if e.type == "response.audio.delta") / 48  # fmt: skip
    assert " ".join(w.text for w in words) == reply_in(events)
    assert all(w.timestamp_type == "word" for w in words)
    offsets = [w.audio_offset_ms for w in words]
    assert offsets == sorted(offsets) and offsets[-1] + words[-1].audio_duration_ms <= audio_ms
    assert len({v.viseme_id for v in visemes}) > 5 and all(0 <= v.viseme_id <= 21 for v in visemes)
    assert [v.audio_offset_ms for v in visemes] == sorted(v.audio_offset_ms for v in visemes)
    kinds = [e.type for e in events]
    audio_done = kinds.index("response.audio.done")
    assert audio_done < kinds.index("response.audio_timestamp.done")
    assert audio_done < kinds.index("response.animation_viseme.done")


def test_timestamps_and_visemes_are_only_sent_when_asked_for(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            return await ask(conn, speech("hello.wav"))

    kinds = {e.type for e in run(scenario())}
    assert not any("timestamp" in kind or "viseme" in kind for kind in kinds)


def test_a_german_voice_answers_in_german_and_rate_changes_the_pace(server: MockServer) -> None:
    async def reply_with(voice: AzureStandardVoice) -> tuple[str, int]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(voice=voice))
            events = await ask(conn, speech("hello.wav"))
            audio = [e for e in events if e.type == "response.audio.delta"]
            return reply_in(events), sum(len(e.delta) for e in audio)

    german, normal = run(reply_with(AzureStandardVoice(name="de-DE-KatjaNeural")))
    _, faster = run(reply_with(AzureStandardVoice(name="de-DE-KatjaNeural", rate="1.5")))
    assert "Übungsserver" in german
    assert faster < normal * 0.8


def test_an_invalid_voice_rate_is_refused_with_the_field_named(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send({"type": "session.update", "session": {"voice": {"type": "azure-standard",
                             "name": "en-US-AvaNeural", "rate": "very quick"}}})  # fmt: skip
            return await collect(conn, is_type("error"))

    error = run(scenario())[-1].error
    assert error.param == "session.voice.rate" and "'+20%'" in error.message


def test_an_unknown_transcription_model_is_refused(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send(
                {"type": "session.update", "session": {"input_audio_transcription": {"model": "whisper-9"}}}
            )
            return await collect(conn, is_type("error"))

    error = run(scenario())[-1].error
    assert error.param == "session.input_audio_transcription.model" and "gpt-4o-transcribe" in error.message


def test_a_non_english_transcription_language_gets_one_warning(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            options = AudioInputTranscriptionOptions(model="azure-speech", language="de-DE")
            await conn.session.update(session=RequestSession(input_audio_transcription=options))
            return await ask(conn, speech("hello.wav")) + await ask(conn, speech("rome.wav"))

    warnings = [e for e in run(scenario()) if e.type == "warning"]
    assert len(warnings) == 1 and "de-DE" in warnings[0].warning.message


def test_same_audio_same_words_same_reply_audio(make_server) -> None:
    async def scenario(server: MockServer) -> tuple[str, str, bytes]:
        async with session(server) as conn:
            await ask(conn, speech("hello.wav"))  # an earlier turn must not change what the next one hears
            events = await ask(conn, speech("pyramids.wav"))
            audio = b"".join(e.delta for e in events if e.type == "response.audio.delta")
            return heard_in(events), reply_in(events), audio

    first = run(scenario(make_server(speed=float("inf"), first_audio_delay_ms=0)))
    second = run(scenario(make_server(speed=float("inf"), first_audio_delay_ms=0)))
    assert first == second


def test_without_a_recognizer_the_session_still_works_and_says_why(make_server, caplog) -> None:
    server = make_server(speed=float("inf"), first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())

    async def scenario() -> list:
        async with session(server) as conn:
            return await ask(conn, speech("pyramids.wav"))

    events = run(scenario())
    expected = MANIFEST["pyramids.wav"]
    assert heard_in(events) == f"({(expected['speech_end_ms'] - expected['speech_start_ms']) / 1000:.1f} s of speech)"
    warning = next(e.warning for e in events if e.type == "warning")
    assert "no speech recognizer" in warning.message
    assert "pocketsphinx" in reply_in(events)


def test_an_instructors_script_answers_a_matching_phrase(make_server, tmp_path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"user": "the capital of Japan", "assistant": "Tokyo, of course."}]}))
    server = make_server(speed=float("inf"), first_audio_delay_ms=0, script=str(script))

    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            return await ask(conn, speech("hello.wav")), await ask(conn, spoken("What is the capital of Japan?"))

    greeting, scripted = run(scenario())
    assert reply_in(scripted) == "Tokyo, of course."
    assert "hear you" in reply_in(greeting), "turns the script does not match go to the practice brain"


def test_doctor_says_which_recognizer_and_voice_the_practice_server_uses(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "VOICE_LIVE"))}
    result = subprocess.run(
        [sys.executable, "-m", "voicelive_lab.cli", "doctor"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Practice recognizer: pocketsphinx" in result.stdout
    assert "Endpoint:     starts when first used" in result.stdout, "doctor starts no server"
    assert "Practice voice: eSpeak NG" in result.stdout and "GPL-3.0" in result.stdout

"""Turn taking as the service does it, through the real SDK: turn-detection settings, end-of-utterance detection,
filler words, barge-in options, and turns the client marks itself (``input_audio.turn.*``)."""

from __future__ import annotations

import base64
import importlib.util
import math

import numpy as np
import pytest
from azure.ai.voicelive.models import (
    AzureSemanticDetection,
    AzureSemanticDetectionEn,
    AzureSemanticDetectionMultilingual,
    AzureSemanticVad,
    AzureSemanticVadEn,
    AzureSemanticVadMultilingual,
    InputTextContentPart,
    RequestSession,
    ResponseStatus,
    ServerVad,
    UserMessageItem,
)
from support import append, barrier, collect, is_type, run, session, silence, types

from voicelive_lab.mock import MockServer
from voicelive_lab.mock.recognizer import PlaceholderRecognizer
from voicelive_lab.mock.replies import ReplyScript, ScriptedTurn
from voicelive_lab.mock.speech import loaded_espeak, synthesize

needs_words = pytest.mark.skipif(
    loaded_espeak() is None or importlib.util.find_spec("pocketsphinx") is None,
    reason="eSpeak NG (to speak) and pocketsphinx (to hear words) are needed",
)
EOU = AzureSemanticDetection()
TRANSCRIBED = "conversation.item.input_audio_transcription.completed"


def said(text: str) -> bytes:
    """``text`` in the practice voice, as the 24 kHz PCM16 a microphone sends."""
    return (np.clip(synthesize(text).samples, -1, 1) * 32767).astype("<i2").tobytes()


WAIT_THEN_ROME = silence(300) + said("Wait, stop.") + silence(300) + said("Tell me about Rome.") + silence(1500)


async def turns_heard(server: MockServer, detection: object, audio: bytes, chunk_ms: int = 20) -> list:
    """Every event while ``audio`` is heard with ``detection`` (no replies), and until its transcripts are in."""
    async with session(server) as conn:
        await conn.session.update(session=RequestSession(turn_detection=detection))
        await append(conn, audio, chunk_ms)
        events = await barrier(conn)
        for _ in range(types(events).count("input_audio_buffer.committed") - types(events).count(TRANSCRIBED)):
            events += await collect(conn, is_type(TRANSCRIBED))
        return events


def of_type(events: list, name: str) -> list:
    return [event for event in events if event.type == name]


# ----------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("detection", "expected"),
    [
        (ServerVad(), {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500, "auto_truncate": False}),
        (
            AzureSemanticVad(end_of_utterance_detection=EOU),
            {
                "type": "azure_semantic_vad",
                "remove_filler_words": False,
                "interrupt_response": True,
                "end_of_utterance_detection": {
                    "model": "semantic_detection_v1",
                    "threshold_level": "default",
                    "timeout_ms": 1000,
                },
            },
        ),
        (
            AzureSemanticVadEn(remove_filler_words=True, end_of_utterance_detection=AzureSemanticDetectionEn()),
            {"type": "azure_semantic_vad_en", "remove_filler_words": True, "prefix_padding_ms": 300},
        ),
        (
            AzureSemanticVadMultilingual(
                languages=["en-US", "es-ES"],
                end_of_utterance_detection=AzureSemanticDetectionMultilingual(threshold_level="high", timeout_ms=2500),
            ),
            {
                "languages": ["en-US", "es-ES"],
                "end_of_utterance_detection": {
                    "model": "semantic_detection_v1_multilingual",
                    "threshold_level": "high",
                    "timeout_ms": 2500,
                },
            },
        ),
        (
            {"type": "server_vad", "end_of_utterance_detection": {"model": "semantic_detection_v1", "timeout": 1.5}},
            {
                "end_of_utterance_detection": {
                    "model": "semantic_detection_v1",
                    "timeout": 1.5,
                    "timeout_ms": 1500,
                    "threshold_level": "default",
                }
            },
        ),
        (
            {"type": "semantic_vad", "eagerness": "low"},
            {"type": "semantic_vad", "eagerness": "low", "create_response": True, "interrupt_response": True},
        ),
    ],
)
def test_each_turn_detection_type_is_echoed_with_its_defaults(
    server: MockServer, detection: object, expected: dict
) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(turn_detection=detection))
            return await collect(conn, is_type("session.updated"))

    echoed = run(scenario())[-1].session.turn_detection
    assert {key: echoed.as_dict()[key] for key in expected} == expected
    if expected.get("type") == "semantic_vad":
        assert "silence_duration_ms" not in echoed.as_dict()


EOU_PARAM = "session.turn_detection.end_of_utterance_detection"


@pytest.mark.parametrize(
    ("detection", "code", "param"),
    [
        ({"type": "azure_semantic_vad", "end_of_utterance_detection": {"model": "v2"}}, "invalid_value",
         f"{EOU_PARAM}.model"),
        ({"type": "azure_semantic_vad", "end_of_utterance_detection": {"model": "semantic_detection_v1",
          "threshold_level": "extreme"}}, "invalid_value", f"{EOU_PARAM}.threshold_level"),
        ({"type": "azure_semantic_vad", "end_of_utterance_detection": {"model": "semantic_detection_v1",
          "timeout_ms": 60_000}}, "invalid_value", f"{EOU_PARAM}.timeout_ms"),
        ({"type": "server_vad", "end_of_utterance_detection": {"model": "semantic_detection_v1",
          "timeout_ms": "1000"}}, "invalid_value", f"{EOU_PARAM}.timeout_ms"),
        ({"type": "server_vad", "end_of_utterance_detection": {"model": "semantic_detection_v1", "patience": 3}},
         "unknown_parameter", f"{EOU_PARAM}.patience"),
        ({"type": "server_vad", "end_of_utterance_detection": "semantic_detection_v1"}, "invalid_value", EOU_PARAM),
        ({"type": "server_vad", "remove_filler_words": True}, "unknown_parameter",
         "session.turn_detection.remove_filler_words"),
        ({"type": "azure_semantic_vad", "remove_filler_words": "yes"}, "invalid_value",
         "session.turn_detection.remove_filler_words"),
        ({"type": "azure_semantic_vad", "languages": "en-US"}, "invalid_value", "session.turn_detection.languages"),
        ({"type": "azure_semantic_vad", "languages": ["en-US", "english!"]}, "invalid_value",
         "session.turn_detection.languages[1]"),
        ({"type": "azure_semantic_vad_en", "languages": ["en-US"]}, "unknown_parameter",
         "session.turn_detection.languages"),
        ({"type": "semantic_vad", "eagerness": "eager"}, "invalid_value", "session.turn_detection.eagerness"),
        ({"type": "semantic_vad", "silence_duration_ms": 200}, "unknown_parameter",
         "session.turn_detection.silence_duration_ms"),
    ],
)  # fmt: skip
def test_a_wrong_turn_detection_value_is_refused_with_the_field_named(
    server: MockServer, detection: dict, code: str, param: str
) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send({"type": "session.update", "session": {"turn_detection": detection}})
            error = await collect(conn, is_type("error"))
            await conn.session.update(session=RequestSession(temperature=0.7))
            return error + await collect(conn, is_type("session.updated"))

    events = run(scenario())
    error = of_type(events, "error")[0].error
    assert (error.type, error.code, error.param) == ("invalid_request_error", code, param)
    assert error.message
    assert events[-1].session.turn_detection.type == "server_vad", "the refused update changed nothing"


# ----------------------------------------------------------------- end of utterance


@needs_words
def test_energy_vad_splits_at_a_pause_where_end_of_utterance_detection_waits(server: MockServer) -> None:
    energy = run(turns_heard(server, ServerVad(silence_duration_ms=200, create_response=False), WAIT_THEN_ROME))
    semantic = AzureSemanticVad(silence_duration_ms=200, create_response=False, end_of_utterance_detection=EOU)
    eou = run(turns_heard(server, semantic, WAIT_THEN_ROME))

    assert len(of_type(energy, "input_audio_buffer.committed")) == 2
    assert len(of_type(eou, "input_audio_buffer.committed")) == 1
    assert len(of_type(eou, "input_audio_buffer.speech_started")) == 1
    transcript = of_type(eou, TRANSCRIBED)[0].transcript
    assert "stop" in transcript.lower() and "Rome" in transcript, transcript
    # the one turn ends where the energy VAD's second turn ends: after "Rome", not after "stop"
    last_stop = of_type(energy, "input_audio_buffer.speech_stopped")[-1].audio_end_ms
    assert of_type(eou, "input_audio_buffer.speech_stopped")[0].audio_end_ms == last_stop


@needs_words
@pytest.mark.parametrize("timeout_ms", [1000, 2000])
def test_an_unfinished_phrase_before_a_long_silence_ends_at_the_timeout(server: MockServer, timeout_ms: int) -> None:
    audio = silence(300) + said("Wait, stop.") + silence(4000)
    energy = run(turns_heard(server, ServerVad(silence_duration_ms=200, create_response=False), audio))
    eou_detection = AzureSemanticDetection(timeout_ms=timeout_ms)
    semantic = AzureSemanticVad(
        silence_duration_ms=200, create_response=False, end_of_utterance_detection=eou_detection
    )
    eou = run(turns_heard(server, semantic, audio))

    speech_end = of_type(energy, "input_audio_buffer.speech_stopped")[0].audio_end_ms - 200
    stopped = of_type(eou, "input_audio_buffer.speech_stopped")
    assert len(stopped) == 1
    assert abs(stopped[0].audio_end_ms - (speech_end + timeout_ms)) <= 40


@needs_words
def test_a_finished_phrase_ends_at_the_silence_as_with_energy_vad(server: MockServer) -> None:
    audio = silence(300) + said("Tell me about Rome.") + silence(2000)
    energy = run(turns_heard(server, ServerVad(silence_duration_ms=200, create_response=False), audio))
    semantic = AzureSemanticVad(silence_duration_ms=200, create_response=False, end_of_utterance_detection=EOU)
    eou = run(turns_heard(server, semantic, audio))

    ends = [of_type(events, "input_audio_buffer.speech_stopped")[0].audio_end_ms for events in (energy, eou)]
    assert ends[0] == ends[1]


@needs_words
def test_the_decision_depends_on_the_audio_not_on_how_fast_or_in_what_pieces_it_arrives(make_server) -> None:
    server = make_server(speed=math.inf, first_audio_delay_ms=0, seed=3)
    semantic = AzureSemanticVad(silence_duration_ms=200, create_response=False, end_of_utterance_detection=EOU)

    def timeline(chunk_ms: int) -> list[tuple[str, int | None]]:
        events = run(turns_heard(server, semantic, WAIT_THEN_ROME, chunk_ms))
        return [(e.type, e.get("audio_start_ms", e.get("audio_end_ms"))) for e in events if "speech_" in e.type]

    small, large = timeline(20), timeline(500)
    assert small == large and len(small) == 2


def test_without_words_a_short_first_stretch_waits_for_more(make_server) -> None:
    """The placeholder recognizer hears no words: length decides (under 600 ms is unfinished)."""
    server = make_server(speed=math.inf, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())
    audio = silence(300) + said("Um.") + silence(300) + said("Tell me about Rome.") + silence(1500)
    energy = run(turns_heard(server, ServerVad(silence_duration_ms=200, create_response=False), audio))
    semantic = AzureSemanticVad(silence_duration_ms=200, create_response=False, end_of_utterance_detection=EOU)
    eou = run(turns_heard(server, semantic, audio))

    assert len(of_type(energy, "input_audio_buffer.committed")) == 2
    assert len(of_type(eou, "input_audio_buffer.committed")) == 1


def test_openai_semantic_vad_waits_by_its_eagerness(make_server) -> None:
    server = make_server(speed=math.inf, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())
    audio = silence(300) + said("Um.") + silence(6000)

    def end_after_speech(eagerness: str) -> int:
        detection = {"type": "semantic_vad", "eagerness": eagerness, "create_response": False}
        events = run(turns_heard(server, detection, audio))
        return of_type(events, "input_audio_buffer.speech_stopped")[0].audio_end_ms

    assert end_after_speech("high") < end_after_speech("medium")


# ----------------------------------------------------------------- filler words


def filler_script_server(make_server) -> MockServer:
    script = ReplyScript([ScriptedTurn(assistant="Rome has seven hills.", user="Um, tell me about, uh, Rome.")])
    return make_server(speed=math.inf, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer(), script=script)


@pytest.mark.parametrize(
    ("remove", "expected"), [(True, "Tell me about Rome."), (False, "Um, tell me about, uh, Rome.")]
)
def test_filler_words_are_dropped_from_the_user_transcript_when_asked(make_server, remove: bool, expected: str):
    server = filler_script_server(make_server)

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(
                session=RequestSession(turn_detection=AzureSemanticVad(remove_filler_words=remove))
            )
            await append(conn, silence(300) + said("Um, tell me about Rome.") + silence(800))
            events = await collect(conn, is_type(TRANSCRIBED))
            await conn.conversation.item.retrieve(item_id=events[-1].item_id)
            return events + await collect(conn, is_type("conversation.item.retrieved"))

    events = run(scenario())
    assert of_type(events, TRANSCRIBED)[0].transcript == expected
    assert events[-1].item.content[0].transcript == expected


async def speak_over_a_reply(conn, detection: object, audio: bytes) -> list:
    """Ask by text, then send ``audio`` while the spoken reply plays; events until that reply is done."""
    await conn.session.update(session=RequestSession(turn_detection=detection))
    await conn.conversation.item.create(
        item=UserMessageItem(content=[InputTextContentPart(text="Tell me a long story about Rome")])
    )
    await conn.response.create()
    events = await collect(conn, is_type("response.audio.delta"))
    await append(conn, audio)
    return events + await collect(conn, is_type("response.done"))


@pytest.mark.parametrize("words", [False, pytest.param(True, marks=needs_words)], ids=["by-length", "by-words"])
def test_a_lone_um_over_a_reply_does_not_barge_in(make_server, words: bool) -> None:
    recognizer = None if words else PlaceholderRecognizer()
    server = make_server(speed=2, first_audio_delay_ms=0, recognizer=recognizer)
    detection = AzureSemanticVad(remove_filler_words=True)

    async def scenario() -> list:
        async with session(server) as conn:
            return await speak_over_a_reply(conn, detection, silence(200) + said("Um.") + silence(1000))

    events = run(scenario())
    assert events[-1].response.status == ResponseStatus.COMPLETED
    assert "input_audio_buffer.speech_started" not in types(events)
    assert "input_audio_buffer.committed" not in types(events)


def test_without_remove_filler_words_the_same_um_barges_in(make_server) -> None:
    server = make_server(speed=2, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())

    async def scenario() -> list:
        async with session(server) as conn:
            return await speak_over_a_reply(conn, AzureSemanticVad(), silence(200) + said("Um.") + silence(1000))

    events = run(scenario())
    assert events[-1].response.status == ResponseStatus.CANCELLED


def test_real_words_over_a_reply_barge_in_with_remove_filler_words_on(make_server) -> None:
    server = make_server(speed=2, first_audio_delay_ms=0)
    audio = silence(200) + said("stop please tell me about Paris") + silence(1000)

    async def scenario() -> list:
        async with session(server) as conn:
            return await speak_over_a_reply(conn, AzureSemanticVad(remove_filler_words=True), audio)

    events = run(scenario())
    names = types(events)
    cancelled = events[-1].response
    assert cancelled.status == ResponseStatus.CANCELLED and cancelled.status_details.reason == "turn_detected"
    assert "response.audio.delta" not in names[names.index("input_audio_buffer.speech_started") :]
    started = of_type(events, "input_audio_buffer.speech_started")[0]
    assert started.audio_start_ms <= 200, "the speech starts where it was heard, not where it was judged"


# ----------------------------------------------------------------- barge-in options


def test_interrupt_response_false_lets_the_reply_finish(make_server) -> None:
    server = make_server(speed=2, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())
    detection = AzureSemanticVad(interrupt_response=False, create_response=False)

    async def scenario() -> list:
        async with session(server) as conn:
            return await speak_over_a_reply(conn, detection, silence(200) + said("Tell me about Rome.") + silence(800))

    events = run(scenario())
    assert "input_audio_buffer.speech_started" in types(events)
    assert events[-1].response.status == ResponseStatus.COMPLETED


def test_create_response_false_commits_the_turn_and_waits_for_response_create(server: MockServer) -> None:
    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            detection = AzureSemanticVad(create_response=False, end_of_utterance_detection=EOU)
            await conn.session.update(session=RequestSession(turn_detection=detection))
            await append(conn, silence(300) + said("Tell me about Rome.") + silence(1500))
            quiet = await barrier(conn)
            await conn.response.create()
            return quiet, await collect(conn, is_type("response.done"))

    quiet, answer = run(scenario())
    assert "input_audio_buffer.committed" in types(quiet)
    assert not any(name.startswith("response.") for name in types(quiet))
    assert answer[-1].response.status == ResponseStatus.COMPLETED


def test_auto_truncate_cuts_the_interrupted_reply_where_the_user_came_in(make_server) -> None:
    server = make_server(speed=2, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())
    detection = AzureSemanticVad(auto_truncate=True, create_response=False)

    async def scenario() -> list:
        async with session(server) as conn:
            events = await speak_over_a_reply(
                conn, detection, silence(200) + said("Tell me about Rome.") + silence(800)
            )
            events += await collect(conn, is_type("conversation.item.truncated"))
            await conn.conversation.item.retrieve(item_id=events[-1].item_id)
            return events + await collect(conn, is_type("conversation.item.retrieved"))

    events = run(scenario())
    done = of_type(events, "response.done")[0].response
    truncated = of_type(events, "conversation.item.truncated")[0]
    sent_ms = sum(len(e.delta) for e in events if e.type == "response.audio.delta") / 48
    assert done.status == ResponseStatus.CANCELLED
    assert truncated.item_id == done.output[0].id and 0 <= truncated.audio_end_ms <= sent_ms
    full = "".join(e.delta for e in events if e.type == "response.audio_transcript.delta")
    kept = events[-1].item.content[0].transcript
    assert full.startswith(kept) and len(kept) <= len(full)


# ----------------------------------------------------------------- turns the client marks


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


async def client_turn(conn, turn_id: str, pcm: bytes, chunk_ms: int = 100) -> None:
    await conn.send({"type": "input_audio.turn.start", "turn_id": turn_id})
    step = chunk_ms * 48
    for start in range(0, len(pcm), step):
        await conn.send(
            {"type": "input_audio.turn.append", "turn_id": turn_id, "audio": b64(pcm[start : start + step])}
        )


def test_a_client_marked_turn_becomes_a_user_item_and_gets_an_answer(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(turn_detection=None))
            await client_turn(conn, "t1", said("Tell me about Rome."))
            await conn.send({"type": "input_audio.turn.end", "turn_id": "t1"})
            return await collect(conn, is_type("response.done"))

    events = run(scenario())
    names = types(events)
    assert "error" not in names
    assert not any(name.startswith("input_audio_buffer.speech") for name in names)
    created = next(e for e in events if e.type == "conversation.item.created")
    assert created.item.role == "user" and created.item.content[0].type == "input_audio"
    assert names.index("input_audio_buffer.committed") < names.index("response.created")
    assert events[-1].response.status == ResponseStatus.COMPLETED


def test_a_client_turn_with_create_response_off_waits_and_a_cancelled_turn_leaves_nothing(server: MockServer):
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(turn_detection=ServerVad(create_response=False)))
            await client_turn(conn, "dropped", said("Tell me about Rome."))
            await conn.send({"type": "input_audio.turn.cancel", "turn_id": "dropped"})
            await client_turn(conn, "kept", said("Tell me about Rome."))
            await conn.send({"type": "input_audio.turn.end", "turn_id": "kept"})
            return await barrier(conn)

    names = types(run(scenario()))
    assert names.count("input_audio_buffer.committed") == 1 and names.count("conversation.item.created") == 1
    assert "error" not in names and "response.created" not in names


def test_client_turn_mistakes_are_errors_that_name_the_field(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.send({"type": "input_audio.turn.append", "turn_id": "t9", "audio": b64(silence(100))})
            await conn.send({"type": "input_audio.turn.end", "turn_id": "t9"})
            await conn.send({"type": "input_audio.turn.start", "turn_id": "t1"})
            await conn.send({"type": "input_audio.turn.start", "turn_id": "t2"})
            await conn.send({"type": "input_audio.turn.append", "turn_id": "t1", "audio": "not base64!"})
            await conn.send({"type": "input_audio.turn.append", "turn_id": "t1"})
            await conn.send({"type": "input_audio.turn.end", "turn_id": "t1"})
            await conn.send({"type": "input_audio.turn.cancel", "turn_id": 7})
            await conn.send({"type": "input_audio.clear"})
            await conn.send({"type": "input_audio.turn.end", "turn_id": "t1"})
            return await barrier(conn)

    events = run(scenario())[1:]
    assert types(events) == ["error"] * 7 + ["input_audio_buffer.cleared", "error"]
    found = [(e.error.code, e.error.param) for e in events if e.type == "error"]
    assert found == [
        ("input_audio_turn_not_found", "turn_id"),
        ("input_audio_turn_not_found", "turn_id"),
        ("input_audio_turn_already_started", "turn_id"),
        ("invalid_value", "audio"),
        ("missing_required_parameter", "audio"),
        ("input_audio_turn_empty", "turn_id"),
        ("invalid_type", "turn_id"),
        ("input_audio_turn_not_found", "turn_id"),
    ]
    assert all(e.error.type == "invalid_request_error" and e.error.message for e in events if e.type == "error")

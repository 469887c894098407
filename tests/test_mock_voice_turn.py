"""A spoken turn through the real SDK: server VAD, event order, fields, Python types, the reply audio."""

from __future__ import annotations

import numpy as np
import pytest
from azure.ai.voicelive.models import (
    AzureSemanticVad,
    AzureStandardVoice,
    RequestSession,
    ResponseStatus,
    ServerEventType,
    ServerVad,
)
from support import (
    MANIFEST,
    RESPONSE_WITH_AUDIO,
    append,
    barrier,
    collect,
    is_type,
    level_db,
    noise,
    run,
    session,
    silence,
    speech,
    squash,
    types,
)

from voicelive_lab.mock import MockServer, pcm

FULL_TURN = [
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.created",
    "<transcription deltas>",
    "conversation.item.input_audio_transcription.completed",
    *RESPONSE_WITH_AUDIO,
]
LAB_SESSION = RequestSession(
    modalities=["text", "audio"],
    instructions="You are a friendly history tutor.",
    voice=AzureStandardVoice(name="en-US-JennyNeural"),
    input_audio_format="pcm16",
    output_audio_format="pcm16",
    turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500),
)


async def spoken_turn(server: MockServer, pcm: bytes, config: RequestSession = LAB_SESSION) -> list:
    async with session(server) as conn:
        await conn.session.update(session=config)
        await append(conn, pcm)
        return await collect(conn, is_type("response.done"))


def test_a_spoken_question_gets_a_complete_reply_in_protocol_order(server: MockServer) -> None:
    events = run(spoken_turn(server, speech("pyramids.wav", lead_ms=1000)))

    assert types(events)[:2] == ["session.created", "session.updated"]
    assert squash(types(events)[2:]) == FULL_TURN
    assert all(event.event_id for event in events)
    by_type = {str(event.type): event for event in events}

    started = by_type["input_audio_buffer.speech_started"]
    stopped = by_type["input_audio_buffer.speech_stopped"]
    expected = MANIFEST["pyramids.wav"]
    onset = 1000 + expected["speech_start_ms"]
    assert onset - 300 - 40 <= started.audio_start_ms <= onset - 300 + 40  # prefix padding included
    assert abs(stopped.audio_end_ms - (1000 + expected["speech_end_ms"] + 500)) <= 60
    assert started.item_id == stopped.item_id == by_type["input_audio_buffer.committed"].item_id

    transcription = by_type["conversation.item.input_audio_transcription.completed"]
    assert transcription.transcript == "Who built the pyramids of Giza?"
    assert "pharaohs" in by_type["response.audio_transcript.done"].transcript

    deltas = [e for e in events if e.type == ServerEventType.RESPONSE_AUDIO_DELTA]
    assert deltas and all(isinstance(e.delta, bytes) and len(e.delta) % 2 == 0 for e in deltas)
    assert {len(e.delta) for e in deltas[:-1]} == {80 * 48}  # 80 ms chunks
    text = "".join(e.delta for e in events if e.type == ServerEventType.RESPONSE_AUDIO_TRANSCRIPT_DELTA)
    assert all(isinstance(e.delta, str) for e in events if e.type == "response.audio_transcript.delta")
    done = by_type["response.done"]
    assert done.response.status == ResponseStatus.COMPLETED
    assert text == by_type["response.audio_transcript.done"].transcript
    assert text == by_type["response.output_item.done"].item.content[0].transcript
    assert text == done.response.output[0].content[0].transcript
    assert done.response.usage.output_tokens > 0


def test_the_reply_sounds_like_a_voice(server: MockServer) -> None:
    events = run(spoken_turn(server, speech("hello.wav")))
    audio = b"".join(e.delta for e in events if e.type == "response.audio.delta")
    samples = np.frombuffer(audio, dtype="<i2").astype(np.float64) / 32768

    assert len(samples) / 24000 > 2.0
    assert level_db(audio) > -30  # clearly audible
    frames = samples[: len(samples) // 480 * 480].reshape(-1, 480)
    loud = frames[np.sqrt((frames**2).mean(axis=1)) > 0.02]
    spectra = np.abs(np.fft.rfft(loud * np.hanning(480), axis=1))
    centroids = (spectra * np.fft.rfftfreq(480, 1 / 24000)).sum(axis=1) / spectra.sum(axis=1)
    pitches = [_pitch_hz(frame) for frame in loud[::5]]
    assert np.std(centroids) > 150, "a voice changes its timbre from sound to sound; a tone does not"
    assert 80 < np.median(pitches) < 300, "the pitch of a speaking voice"
    assert np.sqrt((frames**2).mean(axis=1)).min() < 0.005 < np.sqrt((frames**2).mean(axis=1)).max() / 4, (
        "speech has pauses between words"
    )


def _pitch_hz(frame: np.ndarray) -> float:
    correlation = np.correlate(frame, frame, "full")[len(frame) - 1 :]
    low, high = 24000 // 400, 24000 // 60
    return 24000 / (low + int(np.argmax(correlation[low:high])))


def test_silence_and_low_noise_are_not_speech(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=LAB_SESSION)
            await append(conn, silence(3000) + noise(3000, dbfs=-60) + silence(1000))
            return await barrier(conn)

    assert types(run(scenario())) == ["session.created", "session.updated"]


@pytest.mark.parametrize(("threshold", "heard"), [(0.5, False), (0.2, True)])
def test_the_vad_threshold_decides_what_counts_as_speech(server: MockServer, threshold: float, heard: bool) -> None:
    quiet = speech("rome.wav", gain=10 ** (-27 / 20))  # about -48 dBFS: a distant talker
    assert -52 < level_db(quiet[: len(quiet) - 48000]) < -44

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(turn_detection=ServerVad(threshold=threshold)))
            await append(conn, quiet)
            return await barrier(conn)

    assert ("input_audio_buffer.speech_started" in types(run(scenario()))) is heard


@pytest.mark.parametrize(("silence_ms", "turns"), [(500, 2), (1200, 1)])
def test_silence_duration_decides_where_a_turn_ends(server: MockServer, silence_ms: int, turns: int) -> None:
    gap = MANIFEST["two_phrases.wav"]["gap_end_ms"] - MANIFEST["two_phrases.wav"]["gap_start_ms"]
    assert gap == 900

    async def scenario() -> list:
        async with session(server) as conn:
            detection = ServerVad(silence_duration_ms=silence_ms, create_response=False)
            await conn.session.update(session=RequestSession(turn_detection=detection))
            await append(conn, speech("two_phrases.wav", tail_ms=1500))
            return await barrier(conn)

    assert types(run(scenario())).count("input_audio_buffer.speech_stopped") == turns


def test_semantic_vad_is_accepted_and_detects_turns(server: MockServer) -> None:
    config = RequestSession(turn_detection=AzureSemanticVad(silence_duration_ms=500))
    events = run(spoken_turn(server, speech("rome.wav"), config))
    assert events[1].session.turn_detection.type == "azure_semantic_vad"
    assert squash(types(events)[2:]) == FULL_TURN


def test_a_whole_recording_in_one_large_frame_is_accepted(server: MockServer) -> None:
    pcm = (speech("rome.wav", tail_ms=600) * 40)[: 8 * 1024 * 1024]  # 8 MiB: ~11 MiB of base64 in one frame

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(turn_detection=ServerVad(create_response=False)))
            await append(conn, pcm, chunk_ms=10**6)
            return await barrier(conn)

    assert types(run(scenario(), timeout=60)).count("input_audio_buffer.speech_stopped") >= 39


def test_the_same_seed_gives_the_same_ids_and_audio(make_server) -> None:
    def fingerprint(seed: int) -> tuple[list[str], bytes]:
        server = make_server(seed=seed, speed=float("inf"), first_audio_delay_ms=0)
        events = run(spoken_turn(server, speech("hello.wav")))
        audio = b"".join(e.delta for e in events if e.type == "response.audio.delta")
        return [e.event_id for e in events] + [e.item_id for e in events if e.get("item_id")], audio

    first, second, other = fingerprint(7), fingerprint(7), fingerprint(8)
    assert first == second
    assert first[0] != other[0] and first[1] == other[1]


@pytest.mark.parametrize(("output_format", "bytes_per_chunk"), [("pcm16_16000hz", 2560), ("g711_ulaw", 640)])
def test_other_output_formats_stream_at_their_own_rate(server: MockServer, output_format: str, bytes_per_chunk: int):
    config = RequestSession(output_audio_format=output_format)
    events = run(spoken_turn(server, speech("hello.wav"), config))
    deltas = [e.delta for e in events if e.type == "response.audio.delta"]
    assert {len(delta) for delta in deltas[:-1]} == {bytes_per_chunk}  # 80 ms each


def test_16_khz_and_g711_input_are_heard_on_the_same_clock(server: MockServer) -> None:
    pcm24 = np.frombuffer(speech("rome.wav", lead_ms=1000), dtype="<i2").astype(np.float64)
    pcm16 = np.interp(np.arange(0, len(pcm24), 1.5), np.arange(len(pcm24)), pcm24).astype("<i2").tobytes()
    ulaw = pcm.encode_output(np.interp(np.arange(0, len(pcm24), 3), np.arange(len(pcm24)), pcm24) / 32768, "g711_ulaw")

    async def starts(config: dict, audio: bytes, chunk: int) -> int:
        async with session(server) as conn:
            await conn.session.update(session=config)
            for offset in range(0, len(audio), chunk):
                await conn.input_audio_buffer.append(audio=audio[offset : offset + chunk])
            return next(e for e in await barrier(conn) if e.type == "input_audio_buffer.speech_started").audio_start_ms

    at_16k = run(starts({"input_audio_sampling_rate": 16000}, pcm16, 640))
    at_ulaw = run(starts({"input_audio_format": "g711_ulaw"}, ulaw, 160))
    expected = 1000 + MANIFEST["rome.wav"]["speech_start_ms"] - 300
    assert abs(at_16k - expected) <= 40 and abs(at_ulaw - expected) <= 40

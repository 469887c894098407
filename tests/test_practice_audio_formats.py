"""Every audio format and rate the service takes, a VAD that hears them all, noise reduction and echo cancellation.

Everything goes through the real SDK. Reply audio is checked by decoding it here (G.711 with this file's own
decoder), input audio is made from the sample WAVs and encoded here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from azure.ai.voicelive.models import (
    AudioEchoCancellation,
    AudioNoiseReduction,
    InputTextContentPart,
    RequestSession,
    ResponseStatus,
    ServerVad,
    UserMessageItem,
)
from support import MANIFEST, barrier, collect, is_type, noise, run, session, speech, types

from voicelive_lab.mock import MockServer, ReplyScript, ScriptedTurn
from voicelive_lab.mock.recognizer import PlaceholderRecognizer

QUESTION = "Who built the pyramids of Giza?"
LONG_REPLY = (
    "The great pyramids of Giza were built for three kings of the fourth dynasty, Khufu, Khafre and Menkaure, "
    "about four and a half thousand years ago. Teams of skilled workers quarried the limestone nearby, "
    "dragged the blocks on sledges, and lived in a town beside the building site."
)
OUTPUT_FORMATS = {
    "pcm16": 24000,
    "pcm16_8000hz": 8000,
    "pcm16_16000hz": 16000,
    "pcm16_22050hz": 22050,
    "pcm16_24000hz": 24000,
    "pcm16_44100hz": 44100,
    "pcm16_48000hz": 48000,
    "g711_ulaw": 8000,
    "g711_alaw": 8000,
}
FRAME_MS = 20


# ----------------------------------------------------------------- audio helpers


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 µ-law to floats, from the standard's segment table: |x| = (2m + 33)·2^e - 33 in 14-bit steps."""
    table = []
    for code in range(256):
        inverted = code ^ 0xFF
        exponent, mantissa = (inverted >> 4) & 7, inverted & 15
        magnitude = ((2 * mantissa + 33) << exponent) - 33
        table.append((-magnitude if inverted & 0x80 else magnitude) * 4 / 32768)
    return np.array(table)[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes) -> np.ndarray:
    """G.711 A-law to floats: even bits inverted; |x| = 2m + 1, or (2m + 33)·2^(e-1), in 13-bit steps."""
    table = []
    for code in range(256):
        value = code ^ 0x55
        exponent, mantissa = (value >> 4) & 7, value & 15
        magnitude = 2 * mantissa + 1 if exponent == 0 else (2 * mantissa + 33) << (exponent - 1)
        table.append((magnitude if value & 0x80 else -magnitude) * 8 / 32768)
    return np.array(table)[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: np.ndarray) -> bytes:
    """Floats to µ-law by searching this file's decoder table (nearest code): slow, but independent."""
    codes = np.arange(256, dtype=np.uint8).tobytes()
    levels = ulaw_decode(codes)
    order = np.argsort(levels)
    return _nearest(samples, levels[order], order)


def alaw_encode(samples: np.ndarray) -> bytes:
    levels = alaw_decode(np.arange(256, dtype=np.uint8).tobytes())
    order = np.argsort(levels)
    return _nearest(samples, levels[order], order)


def _nearest(samples: np.ndarray, sorted_levels: np.ndarray, codes: np.ndarray) -> bytes:
    right = np.clip(np.searchsorted(sorted_levels, samples), 1, len(sorted_levels) - 1)
    left = right - 1
    pick = np.where(np.abs(samples - sorted_levels[left]) <= np.abs(samples - sorted_levels[right]), left, right)
    return codes[pick].astype(np.uint8).tobytes()


def decode(data: bytes, audio_format: str) -> np.ndarray:
    if audio_format == "g711_ulaw":
        return ulaw_decode(data)
    if audio_format == "g711_alaw":
        return alaw_decode(data)
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768


def resample(samples: np.ndarray, source: int, target: int) -> np.ndarray:
    """Band-limited (FFT) resampling of a whole clip."""
    count = round(len(samples) * target / source)
    spectrum = np.fft.rfft(samples)
    kept = np.zeros(count // 2 + 1, dtype=complex)
    width = min(len(spectrum), len(kept))
    kept[:width] = spectrum[:width]
    return np.fft.irfft(kept, count) * (count / len(samples))


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 32767 / 32768) * 32768).round().astype("<i2").tobytes()


def question(rate: int = 24000) -> np.ndarray:
    """The spoken question (pyramids.wav) as floats at ``rate``, without extra silence."""
    samples = np.frombuffer(speech("pyramids.wav", tail_ms=0), dtype="<i2").astype(np.float64) / 32768
    return resample(samples, 24000, rate) if rate != 24000 else samples


def frame_levels_db(samples: np.ndarray, rate: int) -> np.ndarray:
    size = rate * FRAME_MS // 1000
    frames = samples[: len(samples) // size * size].reshape(-1, size)
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(frames * frames, axis=1)), 1e-6))


def rms_db(samples: np.ndarray) -> float:
    return 20 * math.log10(max(float(np.sqrt(np.mean(samples * samples))), 1e-9))


def low_band_centroid_hz(samples: np.ndarray, rate: int) -> float:
    """Where the power below 3.5 kHz sits: the voice's own band, which every format carries."""
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    hz = np.fft.rfftfreq(len(samples), 1 / rate)
    band = (hz > 80) & (hz < 3500)
    return float(np.sum(hz[band] * spectrum[band]) / np.sum(spectrum[band]))


def user_text(text: str) -> UserMessageItem:
    return UserMessageItem(content=[InputTextContentPart(text=text)])


async def append_bytes(conn: Any, data: bytes, chunk: int) -> None:
    for start in range(0, len(data), chunk):
        await conn.input_audio_buffer.append(audio=data[start : start + chunk])


def speech_events(events: list) -> list[str]:
    return [name for name in types(events) if name.startswith("input_audio_buffer.speech")]


@pytest.fixture
def quiet_server(make_server) -> MockServer:
    """Replies at once; turns are heard without a recognizer (the words do not matter here)."""
    return make_server(speed=math.inf, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())


# ----------------------------------------------------------------- output formats


async def typed_reply(server: MockServer, config: dict[str, Any]) -> tuple[list, list]:
    async with session(server) as conn:
        await conn.session.update(session=config)
        updated = await collect(conn, is_type("session.updated"))
        await conn.conversation.item.create(item=user_text(QUESTION))
        await conn.response.create()
        return updated, await collect(conn, is_type("response.done"))


@pytest.fixture(scope="module")
def reference_replies() -> dict[str, np.ndarray]:
    """The reply to QUESTION as the client hears it in 24 kHz and in 8 kHz PCM16, by format."""
    server = MockServer(speed=math.inf, first_audio_delay_ms=0).start()
    replies = {}
    try:
        for audio_format in ("pcm16", "pcm16_8000hz"):
            _, events = run(typed_reply(server, {"output_audio_format": audio_format}))
            replies[audio_format] = decode(
                b"".join(e.delta for e in events if e.type == "response.audio.delta"), "pcm16"
            )
    finally:
        server.stop()
    return replies


@pytest.mark.parametrize(
    ("requested", "shown"),
    [(name, name) for name in OUTPUT_FORMATS]
    + [(f"pcm16-{rate}hz", f"pcm16_{rate}hz") for rate in (8000, 16000, 22050, 24000, 44100, 48000)],
)
def test_each_output_format_speaks_the_reply_at_its_own_rate_and_encoding(
    server: MockServer, reference_replies: dict[str, np.ndarray], requested: str, shown: str
) -> None:
    updated, events = run(typed_reply(server, {"output_audio_format": requested}))
    rate = OUTPUT_FORMATS[shown]
    assert updated[-1].session.output_audio_format == shown
    done = events[-1].response
    assert done.status == ResponseStatus.COMPLETED and done.output_audio_format == shown
    audio = decode(b"".join(e.delta for e in events if e.type == "response.audio.delta"), shown)
    words = len(done.output[0].content[0].transcript.split())
    reference = reference_replies["pcm16"]

    duration_s = len(audio) / rate
    reference_s = len(reference) / 24000
    assert abs(duration_s - reference_s) <= 0.03 * reference_s
    assert 0.15 <= duration_s / words <= 0.8, "a spoken word takes about a third of a second"
    assert rms_db(audio) > -30, "speech, not silence"
    # The same speech at the same pace: loudness frame by frame follows the 24 kHz reply's...
    levels, reference_levels = frame_levels_db(audio, rate), frame_levels_db(reference, 24000)
    count = min(len(levels), len(reference_levels))
    assert np.corrcoef(levels[:count], reference_levels[:count])[0, 1] > 0.9
    # ...and its voice sits at the same pitch and formants when read at the format's rate.
    reference_centroid = low_band_centroid_hz(reference, 24000)
    assert abs(low_band_centroid_hz(audio, rate) - reference_centroid) <= 0.1 * reference_centroid
    if shown.startswith("g711"):
        # Sample for sample the 8 kHz PCM reply, within G.711's quantization (about 38 dB SNR).
        exact = reference_replies["pcm16_8000hz"]
        assert len(audio) == len(exact)
        assert 10 * math.log10(np.sum(exact**2) / np.sum((audio - exact) ** 2)) > 30


# ----------------------------------------------------------------- input rates


def test_input_rates_the_service_takes_and_g711_always_8_khz(quiet_server: MockServer) -> None:
    async def scenario() -> tuple[list, list]:
        async with session(quiet_server) as conn:
            shown = []
            for rate in (8000, 16000, 22050, 24000, 44100, 48000):
                await conn.session.update(session=RequestSession(input_audio_sampling_rate=rate))
                shown.append((await collect(conn, is_type("session.updated")))[-1].session)
            for update in (
                {"input_audio_format": "g711_ulaw", "input_audio_sampling_rate": 16000},
                {"input_audio_format": "g711_alaw"},
                {"input_audio_format": "pcm16"},
                {"input_audio_sampling_rate": 16000},
            ):
                await conn.session.update(session=update)
                shown.append((await collect(conn, is_type("session.updated")))[-1].session)
            refused = []
            for bad in (11025, 96000, 0, "16000", 16000.5, True, None):
                await conn.send({"type": "session.update", "session": {"input_audio_sampling_rate": bad}})
                refused.append((await collect(conn, is_type("error")))[-1].error)
            return shown, refused

    shown, refused = run(scenario())
    pcm_rates = [8000, 16000, 22050, 24000, 44100, 48000]
    # G.711 is 8 kHz whatever the field says; back to PCM16 without a rate is the default, not G.711's 8000.
    assert [s.input_audio_sampling_rate for s in shown] == [*pcm_rates, 8000, 8000, 24000, 16000]
    assert [s.input_audio_format for s in shown[6:]] == ["g711_ulaw", "g711_alaw", "pcm16", "pcm16"]
    assert all(isinstance(s.input_audio_sampling_rate, int) for s in shown)
    assert [e.param for e in refused] == ["session.input_audio_sampling_rate"] * len(refused)
    assert all(e.type == "invalid_request_error" and e.message for e in refused)


# ----------------------------------------------------------------- one spoken turn in every input format


def padded_question(kind: str) -> tuple[dict[str, Any], bytes, int]:
    """(session update, wire audio, bytes per 20 ms): the question with 1 s of the format's silence before
    it and 1.5 s after."""
    if kind.startswith(("ulaw", "alaw")):
        audio_format, pad = kind.split("_")
        encode = ulaw_encode if audio_format == "ulaw" else alaw_encode
        padding = bytes.fromhex(pad)
        body = encode(question(8000))
        return {"input_audio_format": f"g711_{audio_format}"}, padding * 8000 + body + padding * 12000, 160
    if kind == "pcm_offset":
        rate, offset = 16000, 0.25  # a converter sitting a quarter of full scale off zero
        samples = np.concatenate([np.zeros(rate), question(rate) * 0.7, np.zeros(rate * 3 // 2)]) + offset
        return {"input_audio_sampling_rate": rate}, pcm16(samples), rate * 2 // 50
    rate = int(kind.removeprefix("pcm_"))
    samples = np.concatenate([np.zeros(rate), question(rate), np.zeros(rate * 3 // 2)])
    return {"input_audio_sampling_rate": rate}, pcm16(samples), rate * 2 // 50


@pytest.mark.parametrize(
    "kind",
    [
        "ulaw_ff",  # µ-law's true silence code
        "ulaw_00",  # zero bytes: a full-scale constant in µ-law, silence only once DC is removed
        "alaw_d5",
        "alaw_55",
        "pcm_8000",
        "pcm_16000",
        "pcm_22050",
        "pcm_44100",
        "pcm_48000",
        "pcm_offset",
    ],
)
def test_a_spoken_question_is_one_turn_in_every_input_format(quiet_server: MockServer, kind: str) -> None:
    config, audio, chunk = padded_question(kind)

    async def scenario() -> list:
        async with session(quiet_server) as conn:
            await conn.session.update(session={**config, "turn_detection": {"type": "server_vad"}})
            await append_bytes(conn, audio, chunk)
            events = await collect(conn, is_type("response.done"))
            return events + await barrier(conn)

    events = run(scenario())
    assert speech_events(events) == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"]
    started = next(e for e in events if e.type == "input_audio_buffer.speech_started")
    stopped = next(e for e in events if e.type == "input_audio_buffer.speech_stopped")
    expected_start = 1000 + MANIFEST["pyramids.wav"]["speech_start_ms"] - 300
    assert abs(started.audio_start_ms - expected_start) <= 60
    assert 1000 + MANIFEST["pyramids.wav"]["speech_end_ms"] < stopped.audio_end_ms <= 1000 + 2300 + 800
    committed = next(e for e in events if e.type == "input_audio_buffer.committed")
    assert committed.item_id == started.item_id == stopped.item_id
    done = next(e for e in events if e.type == "response.done")
    assert done.response.status == ResponseStatus.COMPLETED
    assert types(events).count("response.done") == 1


# ----------------------------------------------------------------- noise reduction


def test_noise_reduction_settings_are_checked(quiet_server: MockServer) -> None:
    async def scenario() -> tuple[list, list]:
        async with session(quiet_server) as conn:
            shown = []
            for kind in ("azure_deep_noise_suppression", "near_field", "far_field"):
                await conn.session.update(
                    session=RequestSession(input_audio_noise_reduction=AudioNoiseReduction(type=kind))
                )
                shown.append((await collect(conn, is_type("session.updated")))[-1].session)
            await conn.send({"type": "session.update", "session": {"input_audio_noise_reduction": None}})
            shown.append((await collect(conn, is_type("session.updated")))[-1].session)
            refused = []
            for bad in ({"type": "rnnoise"}, {}, "near_field", ["far_field"]):
                await conn.send({"type": "session.update", "session": {"input_audio_noise_reduction": bad}})
                refused.append((await collect(conn, is_type("error")))[-1].error)
            return shown, refused

    shown, refused = run(scenario())
    assert [s.input_audio_noise_reduction.type for s in shown[:3]] == [
        "azure_deep_noise_suppression",
        "near_field",
        "far_field",
    ]
    assert shown[3].input_audio_noise_reduction is None
    assert [e.param for e in refused] == [
        "session.input_audio_noise_reduction.type",
        "session.input_audio_noise_reduction.type",
        "session.input_audio_noise_reduction",
        "session.input_audio_noise_reduction",
    ]


@pytest.mark.parametrize("noise_reduction", [False, True])
def test_noise_reduction_keeps_steady_hiss_from_starting_a_turn(quiet_server: MockServer, noise_reduction: bool):
    voice = speech("pyramids.wav", lead_ms=1000, tail_ms=1500)
    hiss = noise(len(voice) // 48, dbfs=-35)  # 5 dB over the VAD's threshold, 20 dB under the voice
    mixed = np.frombuffer(voice, dtype="<i2").astype(np.int32) + np.frombuffer(hiss, dtype="<i2")
    audio = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
    reduction = AudioNoiseReduction(type="azure_deep_noise_suppression") if noise_reduction else None

    async def scenario() -> list:
        async with session(quiet_server) as conn:
            await conn.session.update(session=RequestSession(input_audio_noise_reduction=reduction))
            await append_bytes(conn, audio, 960)
            return await barrier(conn)

    events = run(scenario())
    if not noise_reduction:
        # The energy VAD alone hears the hiss as speech from the first frames, and it never stops.
        assert speech_events(events) == ["input_audio_buffer.speech_started"]
        assert next(e for e in events if e.type == "input_audio_buffer.speech_started").audio_start_ms == 0
        return
    assert speech_events(events) == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"]
    started = next(e for e in events if e.type == "input_audio_buffer.speech_started")
    assert abs(started.audio_start_ms - (1000 + MANIFEST["pyramids.wav"]["speech_start_ms"] - 300)) <= 60
    assert "input_audio_buffer.committed" in types(events)


# ----------------------------------------------------------------- echo cancellation


def test_echo_cancellation_settings_are_checked(quiet_server: MockServer) -> None:
    async def scenario() -> tuple[list, list]:
        async with session(quiet_server) as conn:
            shown = []
            for config in (
                AudioEchoCancellation(),
                AudioEchoCancellation(reference_source="server", channels=1),
                AudioEchoCancellation(reference_source="client", channels=2),
            ):
                await conn.session.update(session=RequestSession(input_audio_echo_cancellation=config))
                shown.append((await collect(conn, is_type("session.updated")))[-1].session)
            refused = []
            for session_update in (
                {"input_audio_echo_cancellation": {"type": "acoustic_echo_cancellation"}},
                {"input_audio_echo_cancellation": {"type": "server_echo_cancellation", "reference_source": "mic"}},
                {"input_audio_echo_cancellation": {"type": "server_echo_cancellation", "channels": 3}},
                {"input_audio_echo_cancellation": {"type": "server_echo_cancellation", "channels": 2}},
                {"input_audio_format": "g711_ulaw"},  # stereo reference input must stay pcm16
                {"input_audio_echo_cancellation": "on"},
            ):
                await conn.send({"type": "session.update", "session": session_update})
                refused.append((await collect(conn, is_type("error")))[-1].error)
            await conn.session.update(session={"input_audio_echo_cancellation": None})
            shown.append((await collect(conn, is_type("session.updated")))[-1].session)
            return shown, refused

    shown, refused = run(scenario())
    assert [s.input_audio_echo_cancellation.type for s in shown[:3]] == ["server_echo_cancellation"] * 3
    assert (
        shown[2].input_audio_echo_cancellation.reference_source,
        shown[2].input_audio_echo_cancellation.channels,
    ) == (
        "client",
        2,
    )
    assert shown[3].input_audio_echo_cancellation is None
    assert [e.param for e in refused] == [
        "session.input_audio_echo_cancellation.type",
        "session.input_audio_echo_cancellation.reference_source",
        "session.input_audio_echo_cancellation.channels",
        "session.input_audio_echo_cancellation.reference_source",
        "session.input_audio_format",
        "session.input_audio_echo_cancellation",
    ]


async def reply_over_its_own_echo(
    server: MockServer, echo_cancellation: bool, user_speech: np.ndarray | None = None
) -> list:
    """A long typed reply whose audio the client sends straight back, 100 ms late at half the level (a
    loudspeaker heard by the microphone); ``user_speech`` is mixed in from 0.6 s on, the learner talking over it."""
    delay = np.zeros(2400)
    user = np.zeros(0) if user_speech is None else np.concatenate([np.zeros(24000 * 6 // 10), user_speech])
    config = RequestSession(
        turn_detection=ServerVad(create_response=False),
        input_audio_echo_cancellation=AudioEchoCancellation() if echo_cancellation else None,
    )
    events: list = []
    async with session(server) as conn:
        await conn.session.update(session=config)
        await conn.conversation.item.create(item=user_text("Tell me about the pyramids."))
        await conn.response.create()
        sent = 0
        async for event in conn:
            events.append(event)
            if event.type == "response.done":
                break
            if event.type != "response.audio.delta":
                continue
            heard = np.concatenate([delay, decode(event.delta, "pcm16") * 0.5])
            delay = np.zeros(0)
            spoken = user[sent : sent + len(heard)]
            heard[: len(spoken)] += spoken
            sent += len(heard)
            await conn.input_audio_buffer.append(audio=pcm16(heard))
        return events + await barrier(conn)


def test_with_echo_cancellation_the_reply_is_not_interrupted_by_its_own_echo(make_server) -> None:
    server = make_server(speed=4, script=ReplyScript([ScriptedTurn(assistant=LONG_REPLY)]))
    events = run(reply_over_its_own_echo(server, echo_cancellation=True))
    done = next(e for e in events if e.type == "response.done").response
    assert done.status == ResponseStatus.COMPLETED
    assert done.output[0].content[0].transcript == LONG_REPLY
    assert speech_events(events) == []


def test_without_echo_cancellation_the_echo_barges_in_as_on_azure(make_server) -> None:
    server = make_server(speed=4, script=ReplyScript([ScriptedTurn(assistant=LONG_REPLY)]))
    events = run(reply_over_its_own_echo(server, echo_cancellation=False))
    names = types(events)
    assert "input_audio_buffer.speech_started" in names
    done = next(e for e in events if e.type == "response.done").response
    assert names.index("input_audio_buffer.speech_started") < names.index("response.done")
    assert done.status == ResponseStatus.CANCELLED and done.status_details.reason == "turn_detected"


def test_with_echo_cancellation_the_learner_talking_over_the_reply_still_barges_in(make_server) -> None:
    server = make_server(speed=4, script=ReplyScript([ScriptedTurn(assistant=LONG_REPLY)]))
    interruption = np.frombuffer(speech("interrupt.wav", tail_ms=0), dtype="<i2").astype(np.float64) / 32768
    events = run(reply_over_its_own_echo(server, echo_cancellation=True, user_speech=interruption))
    names = types(events)
    started = next(e for e in events if e.type == "input_audio_buffer.speech_started")
    done = next(e for e in events if e.type == "response.done").response
    assert names.index("input_audio_buffer.speech_started") < names.index("response.done")
    assert done.status == ResponseStatus.CANCELLED and done.status_details.reason == "turn_detected"
    # The barge-in is the learner's voice: it starts where they start, not where the echo does.
    voice_starts_ms = 600 + MANIFEST["interrupt.wav"]["speech_start_ms"]
    assert voice_starts_ms - 300 - 40 <= started.audio_start_ms <= voice_starts_ms


def test_stereo_input_with_the_client_reference_cancels_the_echo_it_carries(quiet_server: MockServer) -> None:
    reply = question()
    echo = np.concatenate([np.zeros(2400), reply * 0.5, np.zeros(24000)])
    reference = np.concatenate([reply, np.zeros(2400 + 24000)])
    stereo = np.stack([echo, reference], axis=1).reshape(-1)
    config = {
        "input_audio_echo_cancellation": {
            "type": "server_echo_cancellation",
            "reference_source": "client",
            "channels": 2,
        }
    }

    async def scenario(with_reference: bool) -> list:
        async with session(quiet_server) as conn:
            await conn.session.update(session=config)
            audio = stereo if with_reference else np.stack([echo, np.zeros(len(echo))], axis=1).reshape(-1)
            await append_bytes(conn, pcm16(audio), 1920)
            return await barrier(conn)

    assert speech_events(run(scenario(with_reference=True))) == []
    assert speech_events(run(scenario(with_reference=False)))[:1] == ["input_audio_buffer.speech_started"]


def test_appends_split_inside_a_sample_are_heard_whole(quiet_server: MockServer) -> None:
    audio = pcm16(np.concatenate([np.zeros(24000), question(), np.zeros(36000)]))

    async def scenario() -> list:
        async with session(quiet_server) as conn:
            await append_bytes(conn, audio, 999)  # odd: every other chunk ends half-way through a sample
            return await barrier(conn)

    events = run(scenario())
    assert speech_events(events)[:2] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"]
    started = next(e for e in events if e.type == "input_audio_buffer.speech_started")
    assert abs(started.audio_start_ms - (1000 + MANIFEST["pyramids.wav"]["speech_start_ms"] - 300)) <= 60

"""A long session (over 30 minutes of audio, time-compressed) keeps memory bounded: every record has a cap."""

from __future__ import annotations

import math

import psutil
import pytest
from support import AUDIO, MANIFEST, settings_for

from voicelive_lab.audio import RecordingSpeaker, WavMicrophone
from voicelive_lab.mock.recognizer import PlaceholderRecognizer
from voicelive_lab.runner import MAX_SENT_AUDIO_BYTES, SessionRunner
from voicelive_lab.session_log import MAX_EVENTS, MAX_TRANSCRIPT_LINES, MAX_TURNS

TRAILING_SILENCE_MS = 1000


@pytest.mark.slow
def test_thirty_minutes_of_conversation_stay_within_the_caps(make_server) -> None:
    # The caps are the client's; recognizing 560 greetings would only add a minute (the server's own input
    # buffer is capped at MAX_BUFFER_MS whatever the recognizer).
    server = make_server(speed=math.inf, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer())
    microphone = WavMicrophone(realtime=False, trailing_silence_ms=TRAILING_SILENCE_MS)
    speaker = RecordingSpeaker(realtime=False)
    runner = SessionRunner(settings_for(server), microphone=microphone, speaker=speaker)
    turn_ms = MANIFEST["hello.wav"]["duration_ms"] + TRAILING_SILENCE_MS
    turns = math.ceil(31 * 60_000 / turn_ms)
    process = psutil.Process()
    rss: dict[str, float] = {"start": process.memory_info().rss / 1e6}

    runner.start()
    try:
        assert runner.wait_for_state("ready", timeout=10)
        for turn in range(1, turns + 1):
            microphone.say(AUDIO / "hello.wav")
            assert runner.wait_for(lambda snap, n=turn: snap.event_counts.get("response.done", 0) >= n, timeout=10)
            if turn == turns // 2:
                rss["halfway"] = process.memory_info().rss / 1e6
        rss["end"] = process.memory_info().rss / 1e6
    finally:
        runner.stop()
    summary = runner.summary()

    sent_minutes = turns * turn_ms / 60_000
    heard_minutes = (speaker.duration_ms + speaker.trimmed_ms) / 60_000
    print(f"{turns} turns, {sent_minutes:.0f} min sent, {heard_minutes:.0f} min heard, RSS (MB): {rss}")
    assert summary.error is None and summary.snapshot.event_counts["response.done"] == turns
    assert len(summary.snapshot.events) == MAX_EVENTS and summary.snapshot.events_dropped > 0
    assert len(summary.transcripts) == MAX_TRANSCRIPT_LINES
    assert len(summary.turns) == MAX_TURNS
    assert summary.sent_audio is not None and summary.sent_audio.nbytes <= MAX_SENT_AUDIO_BYTES
    assert speaker.duration_ms <= speaker.max_ms and speaker.trimmed_ms > 0
    assert summary.reply_segments[0][1] == 0, "the oldest kept segment starts the trimmed recording"
    assert rss["end"] - rss["halfway"] < 25, "past the caps, a longer session needs no more memory"

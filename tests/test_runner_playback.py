"""What the speaker still had to play when a session stopped is not heard in the next one."""

from __future__ import annotations

import time

from support import settings_for

from voicelive_lab.audio import RecordingSpeaker, WavMicrophone
from voicelive_lab.runner import SessionRunner


def test_a_reply_cut_off_by_stop_does_not_play_on_at_the_next_start(make_server) -> None:
    server = make_server(speed=4)
    speaker = RecordingSpeaker(realtime=True)
    runner = SessionRunner(settings_for(server), microphone=WavMicrophone(realtime=False), speaker=speaker)
    runner.start()
    assert runner.wait_for_state("ready", timeout=10)
    runner.send_text("Tell me about Rome.")
    assert runner.wait_for(lambda snap: speaker.buffer.buffered_ms > 1000, timeout=10), "a long reply is queued"
    assert runner.stop()
    assert not speaker.playing
    heard = speaker.duration_ms

    began = time.monotonic()
    runner.start()
    try:
        assert runner.wait_for_state("ready", timeout=10)
        assert time.monotonic() - began < 2, "the new session is ready without waiting for the old reply"
        assert runner.reply_heard and speaker.duration_ms == heard, "nothing of the old reply was played"
    finally:
        assert runner.stop()

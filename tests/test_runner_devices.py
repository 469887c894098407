"""A whole session through real PortAudio streams on the virtual devices of scripts/virtual_audio.sh.

A recording is played into the virtual microphone with paplay; the runner's Microphone hears it and sends
it to the practice server; the reply plays through the runner's Speaker and is recorded off the virtual
speaker's monitor. Skipped, with the reason, where that PulseAudio server is not running.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from audio_support import START_HINT, Listener, make_portaudio_see_pulse, rms_db, why_no_virtual_audio
from support import AUDIO, settings_for

from voicelive_lab.audio import Microphone, Speaker
from voicelive_lab.mock import MockServer
from voicelive_lab.mock.brain import words_of
from voicelive_lab.runner import SessionRunner

SKIP_REASON = why_no_virtual_audio()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=f"{SKIP_REASON}; {START_HINT}")


def test_a_spoken_question_through_real_devices_gets_an_audible_reply(make_server, tmp_path: Path) -> None:
    make_portaudio_see_pulse()
    server: MockServer = make_server(speed=4)
    speaker = Speaker()
    runner = SessionRunner(settings_for(server), microphone=Microphone(), speaker=speaker)
    monitor = Listener("speaker.monitor", tmp_path / "heard.raw")
    runner.start()
    try:
        assert runner.wait_for_state("ready", timeout=10), runner.last_error
        subprocess.run(["paplay", "--device=micfeed", str(AUDIO / "pyramids.wav")], check=True, timeout=20)
        assert runner.wait_for(lambda snap: snap.event_counts.get("response.done", 0) >= 1, timeout=20)
        assert runner.wait_for(lambda snap: speaker.buffer.buffered_ms == 0, timeout=20), "reply played out"
    finally:
        stopped = runner.stop()
        heard = monitor.stop()
    assert stopped
    summary = runner.summary()
    assert summary.error is None
    assert summary.states[:6] == ("starting", "ready", "listening", "processing", "assistant_speaking", "ready")
    user_line = summary.transcripts[0]
    assert user_line.role == "user"
    # Device audio differs a little from run to run (timing, resampling), and so may a word or two of it.
    words_heard = set(words_of(user_line.text)) & set(words_of("Who built the pyramids of Giza?"))
    assert len(words_heard) >= 3, f"the words came through the real devices: {user_line.text!r}"

    loud = np.abs(heard.astype(np.int32)) > 300
    heard_ms = loud.sum() / 24
    assert rms_db(heard[loud] / 32768) > -30, "the reply is audible on the speaker's monitor"
    assert heard_ms > 0.5 * speaker.buffer.played_ms, "most of what was played reached the device"


@pytest.mark.parametrize("lose", ["microphone", "speaker"])
def test_a_device_lost_mid_session_ends_in_a_clear_error_and_start_works_again(make_server, lose: str) -> None:
    make_portaudio_see_pulse()
    server: MockServer = make_server()
    runner = SessionRunner(settings_for(server), microphone=Microphone(), speaker=Speaker())
    runner.start()
    assert runner.wait_for_state("ready", timeout=10), runner.last_error
    device = runner.microphone if lose == "microphone" else runner.speaker
    assert runner.wait_for(lambda snap: device.running, timeout=2)  # the microphone opens just after "ready"
    # As if the device vanished: PortAudio ends the stream and calls its finished callback. The abort runs on the
    # session's own thread, as PortAudio's would never race the runner's close() (two threads calling into one
    # PortAudio stream at once can crash it).
    runner._loop.call_soon_threadsafe(device._stream.abort)  # type: ignore[union-attr, attr-defined]
    assert runner.wait_for_state("error", timeout=5)
    assert f"The {lose} stopped" in (runner.last_error or "")
    assert runner.wait_for(lambda snap: not runner.running, timeout=2)
    assert not runner.microphone.running and not runner.speaker.running
    runner.start()
    assert runner.wait_for_state("ready", timeout=10) and runner.stop()

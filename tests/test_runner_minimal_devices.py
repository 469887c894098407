"""The runner needs nothing from a device beyond audio/protocols.py: a hand-written pair with only that works."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from support import AUDIO, LAB_TURN, settings_for

from voicelive_lab.audio.audio_files import load_pcm16
from voicelive_lab.audio.pcm import rms
from voicelive_lab.audio.protocols import AudioInput, AudioOutput, LostCallback, RecordedOutput, ScriptedInput
from voicelive_lab.runner import SessionRunner

BLOCK_BYTES = 960  # 20 ms of 24 kHz mono PCM16


class OneQuestion:
    """An input that, once started, says one recording (as fast as it can) and then stays silent."""

    def __init__(self, pcm: bytes) -> None:
        self.on_lost: LostCallback | None = None
        self._pcm = pcm + bytes(48_000)  # a second of silence ends the turn
        self._level = 0.0
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, consumer: Callable[[bytes], None]) -> None:
        self._closed.clear()
        self._thread = threading.Thread(target=self._speak, args=(consumer,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def level(self) -> float:
        return self._level

    def _speak(self, consumer: Callable[[bytes], None]) -> None:
        for start in range(0, len(self._pcm), BLOCK_BYTES):
            if self._closed.is_set():
                return
            block = self._pcm[start : start + BLOCK_BYTES]
            self._level = rms(block)
            consumer(block)


class PacedOutput:
    """An output that keeps what it was given and "plays" it on a wall clock (no thread, no device)."""

    def __init__(self) -> None:
        self.on_lost: LostCallback | None = None
        self._heard = bytearray()
        self._ends_at = 0.0

    def start(self) -> None:
        pass

    def write(self, pcm: bytes) -> None:
        self._heard += pcm
        self._ends_at = max(self._ends_at, time.monotonic()) + len(pcm) / 48_000

    def clear(self) -> None:
        self._ends_at = 0.0

    def close(self) -> None:
        self._ends_at = 0.0

    @property
    def level(self) -> float:
        return 0.2 if self.playing else 0.0

    @property
    def playing(self) -> bool:
        return time.monotonic() < self._ends_at


def test_the_hand_written_pair_is_only_an_input_and_an_output() -> None:
    question, output = OneQuestion(b""), PacedOutput()
    assert isinstance(question, AudioInput) and not isinstance(question, ScriptedInput)
    assert isinstance(output, AudioOutput) and not isinstance(output, RecordedOutput)


def test_a_turn_with_devices_that_only_implement_the_protocol(make_server) -> None:
    server = make_server(speed=8)
    output = PacedOutput()
    runner = SessionRunner(
        settings_for(server), microphone=OneQuestion(load_pcm16(AUDIO / "hello.wav")), speaker=output
    )
    runner.start()
    try:
        assert runner.wait_for(lambda snap: snap.event_counts.get("response.done", 0) == 1, timeout=20)
        assert runner.state == "assistant_speaking" and output.playing, "the reply is still being heard"
        assert runner.levels[1] > 0
        assert runner.wait_for_state("ready", timeout=10) and not output.playing
    finally:
        assert runner.stop()
    summary = runner.summary()
    assert summary.error is None
    assert summary.states == ("starting", "ready", *LAB_TURN, "stopped")
    assert summary.transcripts[0].text == "Hello can you hear me?"
    assert summary.reply_audio is None and summary.reply_segments == (), "nothing recorded: no RecordedOutput"
    assert summary.sent_audio is not None and len(summary.sent_audio) > 24_000
    with pytest.raises(TypeError, match="run_turns needs a WavMicrophone as the microphone, not OneQuestion"):
        runner.run_turns([AUDIO / "hello.wav"])


def test_a_device_that_reports_itself_lost_ends_the_session_with_its_message(make_server) -> None:
    server = make_server()
    output = PacedOutput()
    runner = SessionRunner(settings_for(server), microphone=OneQuestion(b""), speaker=output)
    runner.start()
    assert runner.wait_for_state("ready", timeout=10)
    assert output.on_lost is not None, "the session listens for a lost device"
    threading.Thread(target=output.on_lost, args=("The page with the speaker was closed.",)).start()
    assert runner.wait_for_state("error", timeout=5)
    assert runner.last_error == "The page with the speaker was closed."
    assert runner.wait_for(lambda snap: not runner.running, timeout=2)
    assert runner.summary().states[-1] == "error"

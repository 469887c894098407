"""WavMicrophone: utterances in full blocks, paced like a microphone, with trailing silence and idle state."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path

import pytest
from audio_support import ASSETS, BLOCK_BYTES, RATE, tone, wait_until, wav_file

from voicelive_lab.audio import AudioFileError, WavMicrophone

HELLO = ASSETS / "hello.wav"


def hello_pcm() -> bytes:
    with wave.open(str(HELLO), "rb") as wav:
        return wav.readframes(wav.getnframes())


class Collector:
    """A thread-safe consumer that notes each block and when it arrived."""

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, block: bytes) -> None:
        with self._lock:
            self.blocks.append(block)
            self.times.append(time.monotonic())

    @property
    def audio(self) -> bytes:
        with self._lock:
            return b"".join(self.blocks)


def test_fast_mode_sends_the_utterance_then_trailing_silence_then_nothing() -> None:
    mic = WavMicrophone(HELLO, realtime=False, trailing_silence_ms=300)
    got = Collector()
    mic.start(got)
    assert mic.wait_idle(timeout=5)
    time.sleep(0.05)
    mic.close()
    speech = hello_pcm()
    padded = len(speech) + 300 * 48
    padded += -padded % BLOCK_BYTES
    assert {len(block) for block in got.blocks} == {BLOCK_BYTES}
    assert got.audio == speech + bytes(padded - len(speech))


def test_realtime_is_paced_by_the_wall_clock() -> None:
    mic = WavMicrophone(HELLO, trailing_silence_ms=0)
    got = Collector()
    started = time.monotonic()
    mic.start(got)
    assert mic.wait_idle(timeout=6)
    elapsed = time.monotonic() - started
    mic.close()
    speech_seconds = len(hello_pcm()) / (RATE * 2)
    assert elapsed == pytest.approx(speech_seconds, abs=0.15)
    intervals = [b - a for a, b in zip(got.times, got.times[1:], strict=False)]
    assert sum(intervals) / len(intervals) == pytest.approx(0.020, abs=0.002)


def test_realtime_keeps_sending_silence_while_idle() -> None:
    mic = WavMicrophone()
    got = Collector()
    mic.start(got)
    time.sleep(0.3)
    mic.close()
    assert mic.idle
    assert 10 <= len(got.blocks) <= 17
    assert got.audio == bytes(len(got.audio))
    assert mic.level == 0.0


def test_say_queues_utterances_one_after_another(tmp_path: Path) -> None:
    mic = WavMicrophone(realtime=False, trailing_silence_ms=20)
    first = wav_file(tmp_path / "a.wav", tone(440, 100), RATE)
    second = wav_file(tmp_path / "b.wav", tone(880, 60, rate=48000), 48000)
    assert mic.say(first) == pytest.approx(100)
    assert mic.say(second) == pytest.approx(60)
    assert not mic.idle
    got = Collector()
    mic.start(got)
    assert mic.wait_idle(timeout=5)
    mic.close()
    assert len(got.audio) == (100 + 20 + 60 + 20) * 48
    assert got.audio[100 * 48 : 120 * 48] == bytes(20 * 48)


def test_say_while_running_is_heard_next() -> None:
    mic = WavMicrophone(realtime=False, trailing_silence_ms=0)
    got = Collector()
    mic.start(got)
    time.sleep(0.05)
    assert got.blocks == []  # fast mode sends nothing while idle
    mic.say(HELLO)
    assert mic.wait_idle(timeout=5)
    mic.close()
    assert got.audio[: len(hello_pcm())] == hello_pcm()


def test_wait_idle_times_out_when_not_started() -> None:
    mic = WavMicrophone(HELLO)
    assert not mic.idle
    assert mic.wait_idle(timeout=0.05) is False


def test_close_keeps_the_rest_and_start_resumes() -> None:
    mic = WavMicrophone(HELLO, realtime=False, trailing_silence_ms=0)
    first = Collector()

    def slow(block: bytes) -> None:
        first(block)
        time.sleep(0.002)

    mic.start(slow)
    time.sleep(0.05)
    mic.close()
    mic.close()
    assert not mic.running
    assert not mic.idle
    second = Collector()
    mic.start(second)
    assert mic.wait_idle(timeout=5)
    mic.close()
    assert (first.audio + second.audio)[: len(hello_pcm())] == hello_pcm()


def test_level_reports_the_last_block() -> None:
    mic = WavMicrophone(realtime=False, trailing_silence_ms=0)
    levels: list[float] = []
    mic.say(HELLO)
    mic.start(lambda block: levels.append(mic.level))
    assert mic.wait_idle(timeout=5)
    mic.close()
    assert max(levels) > 0.1
    assert levels[0] == 0.0  # the file starts with 250 ms of digital silence


def test_a_failing_consumer_is_logged_once_and_the_microphone_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    mic = WavMicrophone(HELLO, realtime=False)
    calls: list[int] = []

    def broken(block: bytes) -> None:
        calls.append(len(block))
        raise RuntimeError("boom")

    mic.start(broken)
    assert mic.wait_idle(timeout=5)
    mic.close()
    assert len(calls) > 100
    assert caplog.text.count("consumer failed") == 1


def test_starting_twice_is_an_error() -> None:
    mic = WavMicrophone()
    mic.start(lambda block: None)
    with pytest.raises(RuntimeError, match="already started"):
        mic.start(lambda block: None)
    mic.close()


def test_a_bad_file_is_refused_when_queued_not_later(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("hello")
    with pytest.raises(AudioFileError, match=r"notes\.wav"):
        WavMicrophone(path)


def test_context_manager_closes() -> None:
    with WavMicrophone() as mic:
        mic.start(lambda block: None)
        assert wait_until(lambda: mic.running)
    assert not mic.running

"""Real PortAudio streams on the virtual PulseAudio devices of scripts/virtual_audio.sh.

The default sink is `speaker` (heard on `speaker.monitor`); the default source is `micfeed.monitor`, fed
with `paplay --device=micfeed`. Skipped, with the reason, where no such server is reachable.

A stream's first ~2.5 ms never reach a null sink's monitor (the sink rewinds to mix the new stream in), so
speaker tests let the stream settle before writing, as a session does: its speaker starts before any reply.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from audio_support import (
    ASSETS,
    BYTES_PER_MS,
    START_HINT,
    Listener,
    make_portaudio_see_pulse,
    wait_until,
    why_no_virtual_audio,
)

from voicelive_lab.audio import Microphone, PlaybackBuffer, Speaker, audio_status
from voicelive_lab.audio.audio_files import load_pcm16

SETTLE_S = 0.3


SKIP_REASON = why_no_virtual_audio()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=f"{SKIP_REASON}; {START_HINT}")


@pytest.fixture(scope="module", autouse=True)
def portaudio_sees_pulse() -> None:
    make_portaudio_see_pulse()


@pytest.fixture
def speaker_monitor(tmp_path: Path) -> Iterator[Listener]:
    listener = Listener("speaker.monitor", tmp_path / "heard.raw")
    yield listener
    listener.stop()


def settled(speaker: Speaker) -> Speaker:
    speaker.start()
    time.sleep(SETTLE_S)
    return speaker


def burst(ms: int, seed: int = 3) -> np.ndarray:
    """Noise with no zero sample, so its start and end are exact in a recording."""
    rng = np.random.default_rng(seed)
    count = ms * 24
    return (rng.integers(500, 8000, count) * rng.choice([-1, 1], count)).astype("<i2")


def nonzero_span(samples: np.ndarray) -> tuple[int, int]:
    found = np.flatnonzero(samples)
    assert found.size, "nothing was heard"
    return int(found[0]), int(found[-1]) + 1


def test_audio_status_reports_a_working_microphone_and_speaker() -> None:
    status = audio_status()
    assert (status.can_record, status.can_play, status.problems) == (True, True, ())
    assert "pulse" in status.input_devices
    assert "pulse" in status.output_devices


def test_what_the_speaker_plays_is_heard_bit_exact(speaker_monitor: Listener) -> None:
    audio = burst(500)
    with settled(Speaker()) as speaker:
        speaker.write(audio.tobytes())
        assert wait_until(lambda: speaker.buffer.played_ms == 500, timeout=3)
        time.sleep(0.2)  # the device's own latency
    heard = speaker_monitor.stop()
    start, end = nonzero_span(heard)
    assert end - start == len(audio)
    assert np.array_equal(heard[start:end], audio)


def test_speaker_clear_silences_within_a_block(speaker_monitor: Listener) -> None:
    with settled(Speaker()) as speaker:
        speaker.write(burst(3000).tobytes())
        started = time.monotonic()
        time.sleep(0.5)
        speaker.clear()
        elapsed_ms = (time.monotonic() - started) * 1000
        played_at_clear = speaker.buffer.played_ms
        time.sleep(0.3)
        assert speaker.level == 0.0
        assert speaker.buffer.played_ms == played_at_clear, "nothing was read after clear()"
    heard = speaker_monitor.stop()
    start, end = nonzero_span(heard)
    heard_ms = (end - start) / 24
    assert heard_ms == pytest.approx(played_at_clear, abs=0.1), "exactly what was read before clear() is heard"
    # What was read ahead of the wall clock when clear() came: one block plus the device's ~40 ms latency.
    assert played_at_clear - elapsed_ms <= 20 + 40 + 25


def test_the_microphone_hears_a_wav_played_into_micfeed() -> None:
    path = ASSETS / "hello.wav"
    expected = np.frombuffer(load_pcm16(path), dtype="<i2")
    blocks: list[bytes] = []
    with Microphone() as mic:
        mic.start(blocks.append)
        assert wait_until(lambda: len(blocks) >= 5), "no microphone callbacks"
        subprocess.run(["paplay", "--device=micfeed", str(path)], check=True, timeout=15)
        time.sleep(0.3)
    captured = np.frombuffer(b"".join(blocks), dtype="<i2")
    assert {len(block) for block in blocks} == {20 * BYTES_PER_MS}
    heard_start, _ = nonzero_span(captured)
    file_start, file_end = nonzero_span(expected)
    heard = captured[heard_start : heard_start + file_end - file_start]
    assert len(heard) == file_end - file_start
    assert np.abs(heard.astype(np.int32) - expected[file_start:file_end]).max() <= 1


def test_speaker_and_buffer_keep_count_on_a_real_device() -> None:
    buffer = PlaybackBuffer()
    with Speaker(buffer=buffer) as speaker:
        for _ in range(10):  # 100 ms deltas, faster than real time, as the service sends them
            speaker.write(burst(100).tobytes())
        assert wait_until(lambda: buffer.buffered_ms == 0, timeout=3)
        time.sleep(0.1)
    assert (buffer.played_ms, buffer.underruns, buffer.dropped_ms) == (1000, 0, 0)

"""PlaybackBuffer: exact block sizes, silence padding, jitter threshold, underruns, bounds, barge-in."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from audio_support import BLOCK_BYTES, BYTES_PER_MS

from voicelive_lab.audio import PlaybackBuffer
from voicelive_lab.audio.playback import UNDERRUN_GAP_MS


def ramp(ms: float, start: int = 1) -> bytes:
    """Distinct non-zero samples, so every byte read can be traced to where it was written."""
    count = int(ms * 24)
    return ((np.arange(count) + start) % 30000 + 1).astype("<i2").tobytes()


def drained(buffer: PlaybackBuffer, blocks: int = 1) -> list[bytes]:
    return [buffer.read(480) for _ in range(blocks)]


def test_reads_are_always_exactly_the_size_asked_for() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=0)
    buffer.write(ramp(30))
    assert [len(buffer.read(n)) for n in (480, 1, 0, 1000, 480)] == [960, 2, 0, 2000, 960]


def test_audio_comes_out_in_order_then_zero_padding() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=0)
    audio = ramp(30)
    for piece in (audio[:100], audio[100:1234], audio[1234:]):  # chunk boundaries inside blocks
        buffer.write(piece)
    first, second = buffer.read(480), buffer.read(480)
    assert first + second[: len(audio) - BLOCK_BYTES] == audio
    assert second[len(audio) - BLOCK_BYTES :] == bytes(2 * BLOCK_BYTES - len(audio))
    assert buffer.read(480) == bytes(BLOCK_BYTES)


def test_an_odd_trailing_byte_waits_for_the_next_write() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=0)
    audio = ramp(1)
    buffer.write(audio[:5])
    assert buffer.buffered_ms == pytest.approx(4 / BYTES_PER_MS)
    buffer.write(audio[5:])
    assert buffer.read(24) == audio


def test_read_into_fills_a_device_buffer_and_says_how_much_was_audio() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=0)
    buffer.write(ramp(10))
    device = bytearray(b"\xff" * BLOCK_BYTES)
    assert buffer.read_into(device) == 480
    assert bytes(device[:480]) == ramp(10)
    assert bytes(device[480:]) == bytes(480)


def test_the_jitter_buffer_holds_back_until_the_threshold_is_queued() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=40)
    buffer.write(ramp(20))
    assert buffer.read(480) == bytes(BLOCK_BYTES)
    assert not buffer.playing
    buffer.write(ramp(20, start=480))
    assert buffer.playing
    assert buffer.read(960) == ramp(20) + ramp(20, start=480)


def test_held_back_audio_plays_once_it_has_waited_as_long_as_the_threshold() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=40)
    buffer.write(ramp(10))  # e.g. the last delta of a response, after an underrun
    assert drained(buffer, 2) == [bytes(BLOCK_BYTES)] * 2
    assert buffer.read(480)[:480] == ramp(10)


def test_after_running_dry_the_threshold_applies_again() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=40)
    buffer.write(ramp(40))
    drained(buffer, 3)
    buffer.write(ramp(20))
    assert buffer.read(480) == bytes(BLOCK_BYTES)


def test_a_zero_threshold_plays_whatever_is_there() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=0)
    buffer.write(ramp(5))
    assert buffer.read(480)[:240] == ramp(5)


def test_the_end_of_an_utterance_is_not_an_underrun() -> None:
    buffer = PlaybackBuffer()
    buffer.write(ramp(100))
    drained(buffer, 6 + int(UNDERRUN_GAP_MS / 20))
    buffer.write(ramp(100))  # the next response, after a pause
    drained(buffer, 10)
    assert buffer.underruns == 0


def test_a_gap_inside_a_stream_is_an_underrun() -> None:
    buffer = PlaybackBuffer()
    buffer.write(ramp(50))
    drained(buffer, 4)  # ran dry in the 3rd block, then 20 ms of silence
    buffer.write(ramp(100))  # the rest arrives late
    assert buffer.underruns == 1
    drained(buffer, 5)
    assert buffer.underruns == 1


def test_clear_is_not_an_underrun() -> None:
    buffer = PlaybackBuffer()
    buffer.write(ramp(100))
    drained(buffer, 2)
    buffer.clear()
    buffer.write(ramp(100))
    assert buffer.underruns == 0


def test_the_buffer_is_bounded_and_drops_the_oldest_audio() -> None:
    buffer = PlaybackBuffer(max_ms=100)
    buffer.write(ramp(80))
    buffer.write(ramp(50, start=5000))
    assert buffer.buffered_ms == pytest.approx(100)
    assert buffer.dropped_ms == pytest.approx(30)
    assert buffer.read(2400) == (ramp(80) + ramp(50, start=5000))[30 * BYTES_PER_MS :]


def test_clear_drops_everything_queued_and_says_how_much() -> None:
    buffer = PlaybackBuffer()
    buffer.write(ramp(100) + b"\x01")
    buffer.read(480)
    assert buffer.clear() == 80 * BYTES_PER_MS + 1
    assert buffer.cleared_ms == pytest.approx(80)
    assert buffer.buffered_ms == 0
    assert buffer.read(480) == bytes(BLOCK_BYTES)
    assert not buffer.playing


def test_accounting_adds_up() -> None:
    buffer = PlaybackBuffer(max_ms=200)
    buffer.write(ramp(300))
    drained(buffer, 5)
    buffer.clear()
    buffer.write(ramp(40))
    drained(buffer, 5)
    assert buffer.written_ms == pytest.approx(340)
    assert buffer.dropped_ms == pytest.approx(100)
    assert buffer.played_ms == pytest.approx(140)
    assert buffer.cleared_ms == pytest.approx(100)
    assert buffer.written_ms == buffer.played_ms + buffer.dropped_ms + buffer.cleared_ms + buffer.buffered_ms
    assert "played_ms=140" in repr(buffer)


def test_drain_takes_everything_regardless_of_the_threshold() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=1000)
    buffer.write(ramp(30))
    buffer.read(100)
    assert buffer.drain() == ramp(30)
    assert buffer.played_ms == pytest.approx(30)
    assert buffer.drain() == b""


def test_a_writer_thread_and_a_reader_thread_lose_nothing() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=0)
    audio = ramp(2000)
    received = bytearray()

    def writer() -> None:
        for start in range(0, len(audio), 4801):  # odd-sized deltas
            buffer.write(audio[start : start + 4801])

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive() or buffer.buffered_ms:
        block = bytearray(BLOCK_BYTES)
        received += block[: buffer.read_into(block)]
    thread.join()
    assert bytes(received) == audio


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        PlaybackBuffer(start_threshold_ms=-1)
    with pytest.raises(ValueError):
        PlaybackBuffer(max_ms=0)

"""RecordingSpeaker: plays like a device (realtime) or at once, and keeps what was heard for replay."""

from __future__ import annotations

import io
import time
import wave

import numpy as np
import pytest
from audio_support import pcm16, tone, wait_until

from voicelive_lab.audio import PlaybackBuffer, RecordingSpeaker


def test_realtime_plays_at_the_speed_of_a_device() -> None:
    with RecordingSpeaker() as speaker:
        started = time.monotonic()
        speaker.write(pcm16(tone(440, 400)[:, 0]))
        assert wait_until(lambda: speaker.duration_ms >= 400, timeout=3)
        elapsed = time.monotonic() - started
    assert 0.35 <= elapsed <= 0.7
    assert speaker.buffer.played_ms == pytest.approx(400)


def test_realtime_clear_drops_what_was_not_yet_played() -> None:
    audio = pcm16(tone(440, 1000)[:, 0])
    with RecordingSpeaker() as speaker:
        speaker.write(audio)
        time.sleep(0.3)
        speaker.clear()
        heard_at_clear = speaker.duration_ms
        time.sleep(0.1)
    assert 200 <= heard_at_clear <= 500
    assert speaker.duration_ms <= heard_at_clear + 20  # at most the block being played
    assert speaker.buffer.cleared_ms == pytest.approx(1000 - speaker.duration_ms)
    assert speaker.samples.tobytes() == audio[: len(speaker.samples) * 2]


def test_realtime_silence_is_not_recorded_and_each_restart_is_a_segment() -> None:
    with RecordingSpeaker() as speaker:
        speaker.write(pcm16(tone(440, 100)[:, 0]))
        assert wait_until(lambda: speaker.duration_ms >= 100)
        time.sleep(0.2)  # silence
        speaker.write(pcm16(tone(660, 100)[:, 0]))
        assert wait_until(lambda: speaker.duration_ms >= 200)
    (first_time, first_offset), (second_time, second_offset) = speaker.segments
    assert (first_offset, second_offset) == (0, 2400)
    assert 0.28 <= second_time - first_time <= 0.5  # 100 ms played + ~200 ms pause, on the monotonic clock
    assert len(speaker.samples) == 4800


def test_realtime_level_follows_the_audio() -> None:
    with RecordingSpeaker() as speaker:
        speaker.write(pcm16(tone(440, 500, amplitude=0.5)[:, 0]))
        assert wait_until(lambda: speaker.level > 0.3)
        assert speaker.level == pytest.approx(0.5 / np.sqrt(2), abs=0.03)
        speaker.clear()
        assert wait_until(lambda: speaker.level == 0.0)


def test_writes_before_start_wait_in_the_buffer() -> None:
    speaker = RecordingSpeaker()
    speaker.write(pcm16(tone(440, 60)[:, 0]))
    time.sleep(0.1)
    assert speaker.duration_ms == 0
    speaker.start()
    assert wait_until(lambda: speaker.duration_ms == 60)
    speaker.close()


def test_close_is_idempotent_and_start_may_follow() -> None:
    speaker = RecordingSpeaker()
    speaker.start()
    speaker.close()
    speaker.close()
    assert not speaker.running
    speaker.write(pcm16(tone(440, 40)[:, 0]))
    speaker.start()
    assert wait_until(lambda: speaker.duration_ms == 40)
    speaker.close()


def test_not_realtime_everything_written_is_played_at_once_and_clear_drops_nothing() -> None:
    speaker = RecordingSpeaker(realtime=False)
    speaker.start()
    audio = pcm16(tone(440, 1000)[:, 0])
    speaker.write(audio[:10_001])
    speaker.write(audio[10_001:])
    speaker.clear()
    assert speaker.samples.tobytes() == audio
    assert speaker.duration_ms == pytest.approx(1000)
    assert speaker.buffer.cleared_ms == 0
    assert speaker.level == pytest.approx(0.5 / np.sqrt(2), abs=0.01)
    speaker.close()


def test_not_realtime_segments_follow_the_writes_on_a_virtual_clock() -> None:
    speaker = RecordingSpeaker(realtime=False)
    speaker.write(pcm16(tone(440, 100)[:, 0]))
    speaker.write(pcm16(tone(440, 100)[:, 0]))  # arrives while the first would still be playing: same segment
    time.sleep(0.25)
    speaker.write(pcm16(tone(440, 100)[:, 0]))  # after a pause: a new segment
    assert [offset for _, offset in speaker.segments] == [0, 4800]


def test_wav_bytes_round_trip() -> None:
    speaker = RecordingSpeaker(realtime=False)
    audio = pcm16(tone(440, 250)[:, 0])
    speaker.write(audio)
    with wave.open(io.BytesIO(speaker.wav_bytes()), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        assert wav.readframes(wav.getnframes()) == audio


def test_audio_is_an_inline_player() -> None:
    from IPython.display import Audio

    speaker = RecordingSpeaker(realtime=False)
    speaker.write(pcm16(tone(440, 100)[:, 0]))
    player = speaker.audio()
    assert isinstance(player, Audio)
    assert player.data == speaker.wav_bytes()
    assert "<audio" in player._repr_html_()


def test_reset_forgets_the_recording() -> None:
    speaker = RecordingSpeaker(realtime=False)
    speaker.write(pcm16(tone(440, 100)[:, 0]))
    speaker.reset()
    assert (speaker.duration_ms, len(speaker.samples), speaker.segments) == (0, 0, [])
    assert speaker.samples.dtype == np.int16


def test_a_shared_buffer_is_used() -> None:
    buffer = PlaybackBuffer(start_threshold_ms=0)
    speaker = RecordingSpeaker(realtime=False, buffer=buffer)
    speaker.write(pcm16(tone(440, 100)[:, 0]))
    assert speaker.buffer is buffer
    assert buffer.played_ms == pytest.approx(100)

"""BrowserAudio's kernel side: the page's messages are played in by hand (no browser), as the comm delivers them.

What a learner notices: frames reach the session in order and never block the kernel; a denied microphone, an
insecure page, a closed tab or a page that never showed up each end the session with their own sentence; the
speaker's "playing" follows the page; nothing keeps running after close().
"""

from __future__ import annotations

import selectors
import socket
import sys
import threading
import time
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from support import page_says as says

from voicelive_lab import browser_audio
from voicelive_lab.audio.errors import AudioUnavailable
from voicelive_lab.audio.protocols import AudioInput, AudioOutput
from voicelive_lab.browser_audio import (
    BrowserAudio,
    BrowserMicrophone,
    BrowserSpeaker,
    browser_audio_available,
)
from voicelive_lab.browser_audio import speaker as speaker_module
from voicelive_lab.browser_audio.kernel_activity import KernelActivity, kernel_activity
from voicelive_lab.browser_audio.page_watch import page_lost_message
from voicelive_lab.browser_audio.widget import ESM_PARTS, ESM_SOURCE

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
FRAME = b"\x01\x02" * 480  # 20 ms of 24 kHz PCM16


class Lost:
    """An ``on_lost`` callback that remembers its messages."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.called = threading.Event()

    def __call__(self, message: str) -> None:
        self.messages.append(message)
        self.called.set()


@pytest.fixture
def widget() -> Iterator[BrowserAudio]:
    audio = BrowserAudio(lost_after=0.4, page_wait=0.4)
    sent: list[tuple[dict[str, Any], bytes | None]] = []
    audio.tap = lambda direction, content, payload: sent.append((content, payload)) if direction == "out" else None
    audio.sent = sent  # type: ignore[attr-defined]
    yield audio
    audio.close()


def background_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name in ("BrowserMicrophone", "BrowserAudio-watch")}


def test_the_front_end_files_ship_with_the_package() -> None:
    """Every file the widget reads at import is package data in pyproject.toml (else an installed kit breaks)."""
    folder = Path(browser_audio.__file__).parent
    front_end = {path.name for path in folder.iterdir() if path.suffix not in (".py", ".pyc") and path.is_file()}
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {name for name in front_end if any(fnmatch(name, p) for p in patterns["voicelive_lab.browser_audio"])}
    assert front_end == shipped
    assert {*ESM_PARTS, "worklet.js", "widget.css"} <= front_end
    assert ESM_SOURCE.count("export default") == 1, "one ES module, one entry point"


def test_devices_implement_the_session_protocols(widget: BrowserAudio) -> None:
    assert isinstance(BrowserMicrophone(widget), AudioInput)
    assert isinstance(BrowserSpeaker(widget), AudioOutput)


def test_before_any_page_the_browser_audio_is_not_offered(widget: BrowserAudio) -> None:
    check = browser_audio_available(widget, timeout=0.05)
    assert not check
    assert "no browser page has shown the BrowserAudio widget" in check.reason
    assert repr(widget) == "BrowserAudio('waiting for the page')"
    assert BrowserMicrophone(widget).status == "waiting for the page"


def test_a_page_that_introduces_itself_owns_the_audio(widget: BrowserAudio) -> None:
    says(widget, "hello", origin="http://127.0.0.1:8888", problem=None)
    assert widget.owner == "tab-1"
    assert browser_audio_available(widget)
    assert widget.page_status == "page connected"
    assert BrowserMicrophone(widget).status == "ready"


def test_an_insecure_page_is_refused_with_the_pages_own_words(widget: BrowserAudio) -> None:
    reason = "This page comes from http://lab.example.org over plain http, and browsers allow the microphone only"
    says(widget, "hello", problem=["insecure", reason])
    check = browser_audio_available(widget)
    assert not check and check.reason == reason
    microphone = BrowserMicrophone(widget)
    with pytest.raises(AudioUnavailable, match="over plain http"):
        microphone.start(lambda frame: None)
    assert microphone.status.startswith("insecure page: This page comes from")
    assert microphone.problem == reason
    assert not widget.capture


def test_frames_reach_the_consumer_in_order_on_the_microphones_thread(widget: BrowserAudio) -> None:
    says(widget, "hello")
    received: list[tuple[bytes, str]] = []
    done = threading.Event()

    def consumer(frame: bytes) -> None:
        received.append((frame, threading.current_thread().name))
        if len(received) == 3:
            done.set()

    microphone = BrowserMicrophone(widget)
    microphone.start(consumer)
    assert widget.capture, "the page is asked to capture"
    says(widget, "status", device="mic", state="listening", message="Listening through Fake Default Audio Input.")
    assert microphone.status == "listening"
    frames = [bytes([n]) * 960 for n in (1, 2, 3)]
    for seq, frame in enumerate(frames, 1):
        says(widget, "frame", payload=frame, seq=seq, rms=0.25)
    says(widget, "frame", page="another-tab", payload=b"\x09" * 960, seq=1, rms=0.9)  # not the owner: ignored
    assert done.wait(2)
    assert [frame for frame, _ in received] == frames
    assert {name for _, name in received} == {"BrowserMicrophone"}
    assert microphone.level == pytest.approx(0.25)
    microphone.close()
    assert not widget.capture
    assert background_threads() == set()


def test_a_slow_consumer_never_holds_up_the_kernel(widget: BrowserAudio) -> None:
    """Frames keep arriving while the consumer is stuck: the handler returns at once, the oldest are dropped."""
    says(widget, "hello")
    release = threading.Event()
    microphone = BrowserMicrophone(widget, max_queue_ms=200)  # 10 frames
    microphone.start(lambda frame: release.wait(5))
    started = time.perf_counter()
    for seq in range(100):
        says(widget, "frame", payload=FRAME, seq=seq, rms=0.1)
    handling = time.perf_counter() - started
    release.set()
    microphone.close()
    assert handling < 0.5, f"100 frames took {handling:.2f} s to hand over"
    assert microphone.frames_received == 100
    assert 89 <= microphone.frames_dropped <= 90  # all but the queue's 10 (and the one with the consumer)


def test_a_denied_microphone_ends_the_session_with_the_browsers_reason(widget: BrowserAudio) -> None:
    says(widget, "hello")
    microphone, lost = BrowserMicrophone(widget), Lost()
    microphone.on_lost = lost
    microphone.start(lambda frame: None)
    reason = "The browser denied the microphone. Allow it for this site (the icon in the address bar) and press Start"
    says(widget, "status", device="mic", state="denied", message=reason)
    says(widget, "status", device="mic", state="denied", message=reason)
    assert lost.messages == [reason], "told once"
    assert microphone.status == f"denied: {reason}"
    assert microphone.problem == reason
    microphone.close()
    assert microphone.status.startswith("denied: "), "the reason stays visible after the session ended"


def test_a_closed_tab_that_said_goodbye_is_lost_at_once(widget: BrowserAudio) -> None:
    says(widget, "hello")
    speaker, lost = BrowserSpeaker(widget), Lost()
    speaker.on_lost = lost
    speaker.start()
    says(widget, "bye")
    assert lost.messages == ["The browser tab with this notebook was closed or reloaded. Press Start again."]
    assert widget.owner == ""
    assert speaker.status.startswith("page lost: ")
    speaker.close()
    assert background_threads() == set()


def test_a_silent_page_is_lost_after_the_heartbeat_timeout(widget: BrowserAudio) -> None:
    says(widget, "hello")
    microphone, lost = BrowserMicrophone(widget), Lost()
    microphone.on_lost = lost
    microphone.start(lambda frame: None)
    assert lost.called.wait(3), "no heartbeat for 0.4 s must count as a lost page"
    assert "stopped answering" in lost.messages[0]
    microphone.close()
    assert background_threads() == set()


def test_a_page_that_keeps_its_heartbeat_is_not_lost(widget: BrowserAudio) -> None:
    says(widget, "hello")
    microphone, lost = BrowserMicrophone(widget), Lost()
    microphone.on_lost = lost
    microphone.start(lambda frame: None)
    deadline = time.monotonic() + 1.2  # three times the timeout
    while time.monotonic() < deadline:
        says(widget, "heartbeat")
        assert not lost.called.wait(0.1)
    microphone.close()
    assert lost.messages == []


def test_no_page_at_all_ends_the_session_with_a_hint(widget: BrowserAudio) -> None:
    speaker, lost = BrowserSpeaker(widget), Lost()
    speaker.on_lost = lost
    speaker.start()
    assert lost.called.wait(3)
    assert lost.messages[0].startswith("No browser page answered within 0.4 s. Display the BrowserAudio widget")
    speaker.close()


def test_only_time_the_kernel_could_read_counts_as_silence() -> None:
    assert page_lost_message(heard=True, quiet_s=4.9, lost_after=5, page_wait=15) is None
    assert "stopped answering for 5 s" in (page_lost_message(heard=True, quiet_s=5.1, lost_after=5, page_wait=15) or "")
    assert page_lost_message(heard=False, quiet_s=14, lost_after=5, page_wait=15) is None
    assert "No browser page answered within 15 s" in (page_lost_message(False, 15.5, lost_after=5, page_wait=15) or "")


def test_a_kernel_in_a_cell_or_a_callback_is_not_ready_to_read() -> None:
    """Ready only while no cell runs and the main thread waits in its event loop's selector."""
    activity = KernelActivity()
    assert activity.ready_to_read(), "outside a kernel nothing holds messages back"
    activity._shell = object()  # as if in a kernel; stand-in "main threads" below
    done = threading.Event()

    def waiting_in_selector() -> None:
        with selectors.DefaultSelector() as selector:
            reader, writer = socket.socketpair()
            with reader, writer:
                selector.register(reader, selectors.EVENT_READ)
                while not done.is_set():
                    selector.select(timeout=0.05)

    def inside_a_callback() -> None:
        done.wait(5)

    threads = [threading.Thread(target=target) for target in (waiting_in_selector, inside_a_callback)]
    for thread in threads:
        thread.start()
    try:
        activity._main_thread = threads[0].ident
        deadline = time.monotonic() + 2
        while not activity.ready_to_read() and time.monotonic() < deadline:
            time.sleep(0.01)  # until the thread has reached select()
        assert activity.ready_to_read()
        activity._cell_started()
        assert not activity.ready_to_read() and activity.free_for() == 0.0, "a cell is running"
        activity._cell_finished()
        activity._main_thread = threads[1].ident
        assert not activity.ready_to_read(), "a callback holds the main thread"
    finally:
        done.set()
        for thread in threads:
            thread.join()


def test_the_watch_waits_while_the_kernel_runs_a_cell(widget: BrowserAudio) -> None:
    says(widget, "hello")
    microphone, lost = BrowserMicrophone(widget), Lost()
    microphone.on_lost = lost
    kernel_activity._cell_started()
    try:
        microphone.start(lambda frame: None)
        assert not lost.called.wait(1.0), "a page cannot be heard while a cell runs"
    finally:
        kernel_activity._cell_finished()
    assert lost.called.wait(3), "once the cell ended, silence counts again"
    microphone.close()


def test_a_second_tab_stays_quiet_until_the_first_is_gone(widget: BrowserAudio) -> None:
    says(widget, "hello", page="tab-1")
    microphone, lost = BrowserMicrophone(widget), Lost()
    microphone.on_lost = lost
    microphone.start(lambda frame: None)
    says(widget, "hello", page="tab-2")
    assert widget.owner == "tab-1"
    assert lost.called.wait(3)  # tab-1 went silent
    says(widget, "heartbeat", page="tab-2")
    assert widget.owner == "tab-2"
    microphone.close()


def test_the_speaker_sends_binary_audio_and_flushes(widget: BrowserAudio) -> None:
    says(widget, "hello")
    speaker = BrowserSpeaker(widget)
    speaker.write(FRAME)  # not started: nothing is sent
    speaker.start()
    assert widget.playback
    speaker.write(FRAME)
    speaker.write(FRAME + b"\x00")  # an odd byte is never sent
    speaker.clear()
    sent = widget.sent  # type: ignore[attr-defined]
    assert [(content["kind"], payload) for content, payload in sent] == [
        ("audio", FRAME),
        ("audio", FRAME),
        ("clear", None),
    ]
    seqs = [content["seq"] for content, _ in sent]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert speaker.samples_sent == 960 and speaker.clears == 1


def test_playing_follows_the_page(widget: BrowserAudio) -> None:
    says(widget, "hello")
    speaker = BrowserSpeaker(widget)
    speaker.start()
    assert not speaker.playing
    speaker.write(FRAME)
    assert speaker.playing, "audio on its way to the page counts as playing"
    last_seq = widget.sent[-1][0]["seq"]  # type: ignore[attr-defined]
    says(widget, "output", playing=True, level=0.3, received=480, played=100, seq=last_seq)
    assert speaker.playing and speaker.level == pytest.approx(0.3)
    assert speaker.status == "playing"
    says(widget, "output", playing=False, level=0.0, received=480, played=480, seq=last_seq)
    assert not speaker.playing and speaker.level == 0.0
    assert speaker.page_played == 480
    says(widget, "flushed", seq=last_seq + 1, dropped=0, at=0)
    assert speaker.page_flushes == 1
    speaker.close()
    assert not widget.playback
    assert widget.sent[-1][0]["kind"] == "clear"  # type: ignore[attr-defined]


def test_a_page_that_went_quiet_mid_reply_no_longer_counts_as_playing(
    widget: BrowserAudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So a session never waits forever for the end of a reply the page stopped reporting."""
    monkeypatch.setattr(speaker_module, "PLAYING_STALE_S", 0.2)
    says(widget, "hello")
    speaker = BrowserSpeaker(widget)
    speaker.start()
    speaker.write(FRAME)
    says(widget, "output", playing=True, level=0.3, received=480, played=10, seq=widget.sent[-1][0]["seq"])  # type: ignore[attr-defined]
    assert speaker.playing
    deadline = time.monotonic() + 2
    while speaker.playing and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not speaker.playing
    speaker.close()


def test_closing_the_widget_ends_a_session_and_stops_its_threads() -> None:
    widget = BrowserAudio()
    says(widget, "hello")
    microphone, speaker, lost = BrowserMicrophone(widget), BrowserSpeaker(widget), Lost()
    microphone.on_lost = speaker.on_lost = lost
    microphone.start(lambda frame: None)
    speaker.start()
    with pytest.raises(RuntimeError, match="already has a started microphone"):
        BrowserMicrophone(widget).start(lambda frame: None)
    widget.close()
    assert lost.messages == ["The BrowserAudio widget was closed."] * 2
    microphone.close()
    speaker.close()
    assert background_threads() == set()

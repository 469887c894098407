"""The panel's input and output choice: what will work, best first, shown and switchable before Start.

Kernel sound is described by a hand-made AudioStatus; the page's messages are played in by hand (as the comm
delivers them), so these run without a browser. The real page is in test_browser_microphone.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from support import eventually, page_says, settings_for

from voicelive_lab import device_picker
from voicelive_lab.audio import Microphone, RecordingSpeaker, Speaker, WavMicrophone
from voicelive_lab.audio.status import AudioStatus
from voicelive_lab.browser_audio import BrowserAudio, BrowserMicrophone, BrowserSpeaker
from voicelive_lab.device_picker import DevicePicker
from voicelive_lab.widgets import SessionPanel

INSECURE = "This page comes from http://lab.example:8888 over plain http, and browsers allow the microphone only on …"
VS_CODE = "VS Code's notebook view does not let widgets use the microphone."
DENIED = (
    "The browser denied the microphone. Allow it for this site (the icon in the address bar) and press Start again."
)


def kernel_sound(record: bool, play: bool) -> AudioStatus:
    return AudioStatus(
        portaudio=True,
        portaudio_version="19.7",
        input_devices=["pulse"] if record else [],
        output_devices=["pulse"] if play else [],
        default_input="pulse" if record else None,
        default_output="pulse" if play else None,
        can_record=record,
        can_play=play,
        problems=(),
    )


@pytest.fixture
def browser() -> Iterator[BrowserAudio]:
    audio = BrowserAudio(lost_after=0.4, page_wait=0.4)
    yield audio
    audio.close()


def offered(picker: DevicePicker) -> tuple[list[str], list[str]]:
    return [value for _, value in picker.input.options], [value for _, value in picker.output.options]


def note(picker: DevicePicker) -> str:
    return picker.note.value.replace("&#x27;", "'")


def test_a_kernel_without_sound_uses_files_until_a_page_shows_the_panel(browser: BrowserAudio) -> None:
    picker = DevicePicker(kernel_sound(False, False), browser)
    assert picker.choice == ("files", "files") and offered(picker) == (["files"], ["files"])
    assert note(picker).startswith("<small>Using sample utterances and a recording (")
    assert "this kernel's microphone and speaker: none in this kernel" in note(picker)
    assert "no browser page has shown this panel yet" in note(picker)
    assert browser.layout.display == "none", "the browser's status line is hidden while it is not used"

    page_says(browser, "hello", origin="http://localhost:8888")
    assert picker.choice == ("browser", "browser") and offered(picker) == (["browser", "files"], ["browser", "files"])
    assert "Using the browser's microphone and the browser's speaker" in note(picker)
    assert "the browser asks for the microphone at Start" in note(picker)
    assert browser.layout.display is None
    microphone, speaker = picker.devices()
    assert isinstance(microphone, BrowserMicrophone) and isinstance(speaker, BrowserSpeaker)
    assert microphone.widget is browser and speaker.widget is browser

    page_says(browser, "bye")
    assert picker.choice == ("files", "files"), "a closed tab is no longer offered"


def test_working_kernel_devices_come_first_and_the_browser_is_offered_too(browser: BrowserAudio) -> None:
    picker = DevicePicker(kernel_sound(True, True), browser)
    page_says(browser, "hello", origin="http://localhost:8888")
    assert picker.choice == ("kernel", "kernel")
    assert offered(picker) == (["kernel", "browser", "files"], ["kernel", "browser", "files"])
    assert note(picker) == "<small>Using this kernel's microphone and this kernel's speaker.</small>"
    microphone, speaker = picker.devices()
    assert isinstance(microphone, Microphone) and isinstance(speaker, Speaker)

    picker.input.value = "files"  # the learner switches before Start
    picker.output.value = "browser"
    page_says(browser, "hello", page="tab-2", origin="http://localhost:8888")
    assert picker.choice == ("files", "browser"), "a page arriving does not undo the learner's own pick"
    microphone, speaker = picker.devices()
    assert isinstance(microphone, WavMicrophone) and isinstance(speaker, BrowserSpeaker)
    assert "this kernel's microphone: " not in note(picker), "no made-up reason for a choice the learner made"


def test_a_kernel_with_a_speaker_only_talks_from_the_page_and_plays_in_the_kernel(browser: BrowserAudio) -> None:
    picker = DevicePicker(kernel_sound(False, True), browser)
    page_says(browser, "hello", origin="https://hub.example.org")
    assert picker.choice == ("browser", "kernel")
    assert "this kernel's microphone: none in this kernel" in note(picker)


@pytest.mark.parametrize(
    ("problem", "choice", "reason"),
    [
        (
            ["insecure", INSECURE],
            ("files", "files"),
            f"the browser's microphone and speaker: insecure page: {INSECURE}",
        ),
        (["blocked", VS_CODE], ("files", "browser"), f"the browser's microphone: blocked in VS Code: {VS_CODE}"),
    ],
)
def test_a_page_that_can_never_capture_is_not_picked_and_says_why(
    browser: BrowserAudio, problem: list[str], choice: tuple[str, str], reason: str
) -> None:
    """Plain http blocks the AudioWorklet both ways; VS Code's webview blocks only the microphone."""
    picker = DevicePicker(kernel_sound(False, False), browser)
    page_says(browser, "hello", origin="http://lab.example:8888", problem=problem)
    assert picker.choice == choice
    assert reason in note(picker)


def test_the_choice_is_locked_while_a_session_runs(browser: BrowserAudio) -> None:
    picker = DevicePicker(kernel_sound(True, True), browser)
    picker.lock(True)
    assert picker.input.disabled and picker.output.disabled
    picker.lock(False)
    assert not picker.input.disabled and not picker.output.disabled


def test_a_run_without_a_front_end_never_picks_the_browser(
    monkeypatch: pytest.MonkeyPatch, make_server: Callable[..., object]
) -> None:
    """As under nbval: no page ever says hello, so the panel talks with files and replays a recording."""
    monkeypatch.setattr(device_picker, "audio_status", lambda: kernel_sound(False, False))
    panel = SessionPanel(settings_for(make_server()))
    try:
        assert panel.devices is not None and panel.devices.choice == ("files", "files")
        assert panel.speaking.layout.display is None, "sample utterances are offered"
        panel.start()
        assert panel.runner.wait_for_state("ready", timeout=10)
        assert isinstance(panel.runner.microphone, WavMicrophone)
        assert isinstance(panel.runner.speaker, RecordingSpeaker)
        assert panel.devices.input.disabled, "no switching mid-session"
    finally:
        panel.stop()


def test_a_denied_microphone_ends_the_session_and_the_panel_falls_back_to_files(
    monkeypatch: pytest.MonkeyPatch, make_server: Callable[..., object]
) -> None:
    monkeypatch.setattr(device_picker, "audio_status", lambda: kernel_sound(False, False))
    panel = SessionPanel(settings_for(make_server()))
    assert panel.devices is not None
    browser = panel.devices.browser
    try:
        page_says(browser, "hello", origin="http://localhost:8888")
        assert panel.devices.choice == ("browser", "browser")
        assert panel.speaking.layout.display == "none", "no sample utterances when the page's microphone talks"
        panel.start()
        assert isinstance(panel.runner.microphone, BrowserMicrophone)
        eventually(lambda: browser.capture, 10, "the page being asked to capture")
        page_says(browser, "status", device="mic", state="denied", message=DENIED)
        assert panel.runner.wait_for_state("error", timeout=10)
        assert panel.runner.last_error is not None and panel.runner.last_error.startswith(DENIED)
        eventually(lambda: not panel.devices.input.disabled, 5, "the panel noticing the end of the session")
        assert panel.devices.choice[0] == "files", "the next Start uses sample utterances"
        assert f"the browser's microphone: {DENIED}" in note(panel.devices)
        assert panel.speaking.layout.display is None
        assert panel.shown_state == "error" and panel.shown_message.startswith(DENIED)

        panel.devices.input.value = "browser"  # allowed in the address bar: the learner tries again
        assert DENIED not in note(panel.devices)
        page_says(browser, "hello", page="tab-2", origin="http://localhost:8888")  # or reloads the page
        assert panel.devices.choice[0] == "browser"
    finally:
        panel.stop()
    assert not browser.capture

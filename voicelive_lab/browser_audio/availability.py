"""Should a session use the browser's microphone and speaker? Asked by the panel before Start."""

from __future__ import annotations

from dataclasses import dataclass

from .states import WAITING
from .widget import BrowserAudio


@dataclass(frozen=True)
class BrowserAudioCheck:
    """The answer, with the reason in plain words; true when the browser audio can be used."""

    available: bool
    reason: str

    def __bool__(self) -> bool:
        return self.available


def browser_audio_available(widget: BrowserAudio | None, timeout: float = 0.0) -> BrowserAudioCheck:
    """Whether a page shows ``widget`` and can capture there (secure page, not VS Code, a browser with
    getUserMedia and AudioWorklet). Permission is asked only at Start, so a "denied" shows up then.

    Waits up to ``timeout`` for the page to introduce itself, except on the kernel's main thread, where the
    page's messages cannot arrive while this runs (they are read between cells): there it answers at once."""
    if widget is None:
        return BrowserAudioCheck(False, "No BrowserAudio widget was given.")
    if not widget.wait_for_page(timeout):
        return BrowserAudioCheck(
            False,
            f"{WAITING}: no browser page has shown the BrowserAudio widget yet (display it and run the next cell; "
            "a run without a browser, such as nbval, never has one).",
        )
    page = widget.page
    if page is None:
        return BrowserAudioCheck(False, f"{WAITING}: the page that showed the widget went away.")
    if page.problem is not None:
        return BrowserAudioCheck(False, page.problem[1])
    return BrowserAudioCheck(True, "The browser page can capture and play sound.")

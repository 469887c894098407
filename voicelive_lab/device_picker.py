"""DevicePicker: where a session panel listens and speaks — this kernel's devices, the notebook page's, or files.

The panel offers what will work, best first: the kernel's microphone and speaker when they open; else the browser
page's (once a page has shown the panel and can capture there); else sample utterances and a recording. The
learner can switch before Start. A run without a front end (nbval, a script) never has a page, so it never picks
the browser; a browser device that fails in a session (permission denied, the tab closed) falls back to files.

Threads: the page's messages and the buttons' clicks arrive on the kernel's comm thread, the page watch on its
own, the panel's refresher on its own; one lock keeps the choice consistent.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Literal

import ipywidgets as widgets

from .audio import Microphone, RecordingSpeaker, Speaker, WavMicrophone, audio_status
from .audio.protocols import AudioInput, AudioOutput, RecordedOutput, ScriptedInput
from .audio.status import AudioStatus
from .browser_audio import BrowserAudio, BrowserMicrophone, BrowserSpeaker
from .browser_audio.states import FAILURES

Source = Literal["kernel", "browser", "files"]
Direction = Literal["input", "output"]
DIRECTIONS: tuple[Direction, Direction] = ("input", "output")
PREFERENCE: tuple[Source, ...] = ("kernel", "browser", "files")
LABELS: dict[Direction, dict[Source, str]] = {
    "input": {
        "kernel": "this kernel's microphone",
        "browser": "the browser's microphone",
        "files": "sample utterances",
    },
    "output": {"kernel": "this kernel's speaker", "browser": "the browser's speaker", "files": "a recording"},
}
#: Page problems that leave the page's speaker usable (VS Code blocks only the microphone).
SPEAKER_STILL_WORKS = {"blocked"}


class DevicePicker(widgets.VBox):
    """Two dropdowns (input, output) with a line saying what is used and why; ``devices()`` builds the pair."""

    def __init__(self, status: AudioStatus | None = None, browser: BrowserAudio | None = None) -> None:
        status = status if status is not None else audio_status()
        self.browser = browser if browser is not None else BrowserAudio()
        self._lock = threading.RLock()
        self._kernel_problem: dict[Direction, str | None] = {
            "input": None if status.can_record else _kernel_problem(status.input_devices),
            "output": None if status.can_play else _kernel_problem(status.output_devices),
        }
        self._session_problem: dict[Direction, str | None] = {"input": None, "output": None}
        self._picked_by_learner: dict[Direction, bool] = {"input": False, "output": False}
        self._updating = False
        self.input = widgets.Dropdown(description="Input", layout={"width": "330px"})
        self.output = widgets.Dropdown(description="Output", layout={"width": "330px"})
        self.note = widgets.HTML()
        self.note.add_class("vl-devices-note")
        self.input.observe(lambda _: self._picked("input"), names="value")
        self.output.observe(lambda _: self._picked("output"), names="value")
        self.browser.layout.display = "none"
        super().__init__([widgets.HBox([self.input, self.output]), self.note, self.browser])
        self.add_class("vl-device-picker")
        self.browser.observe_page(self._page_changed)
        self.update()

    # ----------------------------------------------------------------- what is offered

    def why_not(self, direction: Direction, source: Source) -> str | None:
        """Why ``source`` cannot be offered for ``direction`` now (None when it can)."""
        if source == "kernel":
            return self._kernel_problem[direction]
        if source == "files":
            return None
        page = self.browser.page
        if page is None:
            return "no browser page has shown this panel yet"
        if page.problem is not None and not (direction == "output" and page.problem[0] in SPEAKER_STILL_WORKS):
            return f"{FAILURES.get(page.problem[0], page.problem[0])}: {page.problem[1]}"
        return None

    def offered(self, direction: Direction) -> list[Source]:
        return [source for source in PREFERENCE if self.why_not(direction, source) is None]

    def _best(self, direction: Direction) -> Source:
        """The first source offered that has not just failed in a session (files never fail)."""
        return next(s for s in self.offered(direction) if s != "browser" or not self._session_problem[direction])

    @property
    def choice(self) -> tuple[Source, Source]:
        return self.input.value, self.output.value

    def update(self) -> None:
        """Offer what works now; move an automatic choice to the best source (a learner's own pick stays)."""
        with self._lock:
            self._updating = True
            try:
                for direction, dropdown in zip(DIRECTIONS, (self.input, self.output), strict=True):
                    offered, current = self.offered(direction), dropdown.value
                    keep = current in offered and self._picked_by_learner[direction]
                    dropdown.options = [(LABELS[direction][source].capitalize(), source) for source in offered]
                    dropdown.value = current if keep else self._best(direction)
            finally:
                self._updating = False
            self._show_choice()

    def _page_changed(self) -> None:
        """A page said hello or went away: what failed in the last session may work now."""
        with self._lock:
            self._session_problem = {"input": None, "output": None}
        self.update()

    def _picked(self, direction: Direction) -> None:
        with self._lock:
            if self._updating:
                return
            self._picked_by_learner[direction] = True
            self._session_problem[direction] = None  # trying the browser again is the learner's call
            self._show_choice()

    def _show_choice(self) -> None:
        self.browser.layout.display = None if "browser" in self.choice else "none"
        self.note.value = self._note()

    def _note(self) -> str:
        """ "Using X and Y (why not the better ones)." Reasons shared by input and output are said once."""
        choice: dict[Direction, Source] = dict(zip(DIRECTIONS, self.choice, strict=True))
        used = f"Using {LABELS['input'][choice['input']]} and {LABELS['output'][choice['output']]}"
        reasons = []
        for better in PREFERENCE[:-1]:
            whys = {
                direction: self.why_not(direction, better) or (better == "browser" and self._session_problem[direction])
                for direction, chosen in choice.items()
                if PREFERENCE.index(chosen) > PREFERENCE.index(better)
            }
            whys = {direction: why for direction, why in whys.items() if why}
            if len(whys) == 2 and len(set(whys.values())) == 1:
                reasons.append(f"{LABELS['input'][better]} and {LABELS['output'][better].split()[-1]}: {whys['input']}")
            else:
                reasons += [f"{LABELS[direction][better]}: {why}" for direction, why in whys.items()]
        if choice["input"] == "browser":
            reasons.append("the browser asks for the microphone at Start")
        body = used + (" (" + "; ".join(reasons) + ")." if reasons else ".")
        return f"<small>{html.escape(body)}</small>"

    # ----------------------------------------------------------------- what Start uses

    def lock(self, running: bool) -> None:
        """Switching is for before Start: the dropdowns are disabled while a session runs."""
        self.input.disabled = self.output.disabled = running

    def devices(self) -> tuple[AudioInput, AudioOutput]:
        """Fresh devices for the chosen sources."""
        source_in, source_out = self.choice
        microphones: dict[Source, Callable[[], AudioInput]] = {
            "kernel": Microphone,
            "browser": lambda: BrowserMicrophone(self.browser),
            "files": WavMicrophone,
        }
        speakers: dict[Source, Callable[[], AudioOutput]] = {
            "kernel": Speaker,
            "browser": lambda: BrowserSpeaker(self.browser),
            "files": RecordingSpeaker,
        }
        return microphones[source_in](), speakers[source_out]()

    def session_ended(self, microphone: AudioInput, speaker: AudioOutput) -> None:
        """After a session: a browser device that failed is not offered again until the page says hello anew."""
        with self._lock:
            for direction, device in zip(DIRECTIONS, (microphone, speaker), strict=True):
                if isinstance(device, (BrowserMicrophone, BrowserSpeaker)) and device.problem:
                    self._session_problem[direction] = device.problem
                    self._picked_by_learner[direction] = False
        self.update()


def describe_device(direction: Direction, device: AudioInput | AudioOutput) -> str:
    """A device in the picker's words ("this kernel's microphone", "a recording"), else its class name."""
    kinds: dict[Source, tuple[type, ...]] = {
        "kernel": (Microphone, Speaker),
        "browser": (BrowserMicrophone, BrowserSpeaker),
        "files": (ScriptedInput, RecordedOutput),
    }
    source = next((source for source, types in kinds.items() if isinstance(device, types)), None)
    return LABELS[direction][source] if source is not None else type(device).__name__


def _kernel_problem(devices: list[str]) -> str:
    if not devices:
        return "none in this kernel (usual on JupyterHub, Codespaces and Docker)"
    return "it would not open; audio_status().describe() says why"

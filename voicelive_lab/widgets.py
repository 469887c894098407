"""SessionPanel: Start / Stop / Interrupt, the state, transcripts, events, levels and latency, in one widget.

The session runs on its own thread (SessionRunner). One refresher thread per panel writes the panel's widgets:
it copies what the runner reports about ten times a second while a session runs, and once whenever a button or
a filter asks for it (a "poke"); nothing is ever printed into a cell. The device picker writes its own widgets.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np

from .assistant import BasicVoiceAssistant
from .audio.pcm import write_wav
from .audio.protocols import AudioInput, AudioOutput, RecordedOutput, ScriptedInput
from .config import Settings
from .device_picker import DevicePicker, describe_device
from .runner import SessionRunner, SessionSummary, default_devices
from .session_log import SessionSnapshot
from .states import SessionState

REFRESH_S = 0.1
EVENT_ROWS_SHOWN = 200
STATE_STYLE: dict[str, tuple[str, str]] = {
    SessionState.IDLE: ("#57606a", "#eaeef2"),
    SessionState.STARTING: ("#7d4e00", "#fff8c5"),
    SessionState.READY: ("#1a7f37", "#dafbe1"),
    SessionState.LISTENING: ("#0550ae", "#ddf4ff"),
    SessionState.PROCESSING: ("#6639ba", "#fbefff"),
    SessionState.ASSISTANT_SPEAKING: ("#0e6e5c", "#d3f5ee"),
    SessionState.ERROR: ("#a40e26", "#ffebe9"),
    SessionState.STOPPED: ("#57606a", "#eaeef2"),
}


class SessionPanel(widgets.VBox):
    """A voice session you can see and hear in JupyterLab; ``display(panel)`` or leave it last in a cell.

    ``assistant_class`` is any class in the lab's shape: the kit's ``BasicVoiceAssistant`` or your own.
    """

    def __init__(
        self,
        runner_or_settings: SessionRunner | Settings | None = None,
        *,
        microphone: AudioInput | None = None,
        speaker: AudioOutput | None = None,
        assistant_class: Callable[..., Any] = BasicVoiceAssistant,
    ) -> None:
        notes: list[str] = []
        #: The input and output choice, when the panel picks its devices (none given).
        self.devices: DevicePicker | None = None
        if isinstance(runner_or_settings, SessionRunner):
            runner = runner_or_settings
        else:
            if microphone is None and speaker is None:
                self.devices = DevicePicker()
                microphone, speaker = self.devices.devices()
            microphone, speaker, notes = default_devices(microphone, speaker)
            runner = SessionRunner(
                runner_or_settings, microphone=microphone, speaker=speaker, assistant_class=assistant_class
            )
        self.runner = runner
        self._shown_version = -1
        self._shown: tuple[str, str] = (SessionState.IDLE, "")
        self._refresher: threading.Thread | None = None
        self._refresh_lock = threading.Lock()
        self._wake = threading.Event()
        self._replay_shown = False
        self._followed = (0, True)  # (the runner's sessions_started, whether that session's end was handled)

        self.start_button = widgets.Button(description="Start", icon="play", button_style="success")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.interrupt_button = widgets.Button(description="Interrupt", icon="hand-paper", disabled=True)
        self.badge = widgets.HTML()
        self.source_note = widgets.HTML(_source_note(runner, notes, picked=self.devices is not None))
        self.sample_choice = widgets.Dropdown(options=_sample_files(), layout={"width": "220px"})
        self.sample_button = widgets.Button(
            description="Send sample utterance", icon="comment", disabled=True, layout={"width": "200px"}
        )
        self.text_input = widgets.Text(placeholder="…or type a message", layout={"width": "320px"})
        self.text_button = widgets.Button(description="Send", disabled=True, layout={"width": "80px"})
        self.mic_level = widgets.FloatProgress(min=0, max=1, description="mic", layout={"width": "260px"})
        self.speaker_level = widgets.FloatProgress(min=0, max=1, description="assistant", layout={"width": "260px"})
        self.latency = widgets.HTML()
        self.transcript = widgets.HTML(layout={"max_height": "220px", "overflow": "auto"})
        self.event_filter = widgets.Text(placeholder="filter events, e.g. response", layout={"width": "320px"})
        self.events = widgets.HTML(layout={"max_height": "180px", "overflow": "auto"})
        self.replay = widgets.Output()
        for widget, name in (
            (self.badge, "vl-badge"),
            (self.transcript, "vl-transcript"),
            (self.events, "vl-events"),
            (self.latency, "vl-latency"),
        ):
            widget.add_class(name)

        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.interrupt_button.on_click(lambda _: self.runner.interrupt())
        self.sample_button.on_click(lambda _: self.send_sample())
        self.text_button.on_click(lambda _: self.send_text())
        self.event_filter.observe(lambda _: self._poke(), names="value")

        controls = [self.start_button, self.stop_button, self.interrupt_button]
        self.speaking = widgets.HBox([self.sample_choice, self.sample_button])
        if self.devices is not None:
            self.devices.input.observe(lambda _: self._poke(), names="value")
        super().__init__(
            [
                widgets.HBox(controls, layout={"align_items": "center"}),
                self.badge,
                self.source_note,
                *([self.devices] if self.devices is not None else []),
                widgets.HBox([self.speaking, self.text_input, self.text_button]),
                widgets.HBox([self.mic_level, self.speaker_level, self.latency]),
                widgets.HTML("<b>Transcript</b>"),
                self.transcript,
                widgets.HBox([widgets.HTML("<b>Events</b>"), self.event_filter]),
                self.events,
                self.replay,
            ]
        )
        self.add_class("vl-session-panel")
        self._refresh(force=True)

    def __repr__(self) -> str:
        return f"SessionPanel(backend={self.runner.settings.backend!r})"

    @property
    def shown_state(self) -> str:
        """The state the badge shows now ("idle", "ready", "assistant_speaking", …)."""
        return self._shown[0]

    @property
    def shown_message(self) -> str:
        """The message beside the badge."""
        return self._shown[1]

    # ----------------------------------------------------------------- actions

    def start(self) -> None:
        """Start a session (what the Start button does), with the devices the picker shows."""
        if self.devices is not None and not self.runner.running:
            self.runner.use_devices(*self.devices.devices())
        self.runner.start()
        self._poke()

    def stop(self) -> None:
        """Stop the session (what the Stop button does)."""
        self.runner.stop()
        self._poke()

    def run_turns(self, wav_paths: list[str | Path], timeout: float = 60.0) -> SessionSummary:
        """A scripted conversation (one WAV per turn) that the panel shows as it happens. Blocks."""

        def poke_once_running() -> None:  # run_turns starts the session's thread itself
            if self.runner.wait_for(lambda snap: self.runner.running, timeout=5):
                self._poke()

        threading.Thread(target=poke_once_running, name="voicelive-panel-start", daemon=True).start()
        summary = self.runner.run_turns(wav_paths, timeout=timeout)
        self._poke()
        return summary

    def send_sample(self, name: str | None = None) -> None:
        """Speak a sample utterance into the session through the WAV-file microphone."""
        from .audio import sample

        microphone = self.runner.microphone
        if not isinstance(microphone, ScriptedInput):
            kind = type(microphone).__name__
            raise TypeError(f"Sample utterances need a WavMicrophone as the microphone, not {kind}.")
        microphone.say(sample(name or self.sample_choice.value))

    def send_text(self, text: str | None = None) -> None:
        message = (text if text is not None else self.text_input.value).strip()
        if message:
            self.runner.send_text(message)
            self.text_input.value = ""

    def summary(self) -> SessionSummary:
        return self.runner.summary()

    @property
    def recording(self) -> Any:
        """The assistant's voice as recorded by a RecordingSpeaker (an inline player), or None."""
        from IPython.display import Audio

        speaker = self.runner.speaker
        if not isinstance(speaker, RecordedOutput):
            return None
        return Audio(data=write_wav(np.asarray(speaker.samples, dtype="<i2").tobytes()))

    # ----------------------------------------------------------------- refreshing (the refresher thread)

    def _poke(self) -> None:
        """Have the refresher copy the session into the widgets now (and go on while a session runs)."""
        with self._refresh_lock:
            self._wake.set()
            if self._refresher is None:
                self._refresher = threading.Thread(target=self._refresh_loop, name="voicelive-panel", daemon=True)
                self._refresher.start()

    def _refresh_loop(self) -> None:
        while True:
            poked = self._wake.wait(REFRESH_S)
            self._wake.clear()
            running = self.runner.running
            self._refresh(force=poked or not running)
            with self._refresh_lock:
                if not running and not self._wake.is_set():
                    self._refresher = None  # idle: the next poke starts a new refresher
                    return

    def _refresh(self, force: bool = False) -> None:
        running = self.runner.running
        mic, assistant = self.runner.levels
        self.mic_level.value = min(1.0, mic * 4) if running else 0.0
        self.speaker_level.value = min(1.0, assistant * 4) if running else 0.0
        self._follow_session(running)
        if self.runner.log.version == self._shown_version and not force:
            return  # nothing new: skip copying the log
        snap = self.runner.log.snapshot()
        self._shown_version = snap.version
        state = snap.state
        self._shown = (state, snap.message)
        self.start_button.disabled = running
        self.stop_button.disabled = not running
        self.interrupt_button.disabled = state not in (SessionState.PROCESSING, SessionState.ASSISTANT_SPEAKING)
        live = running and state not in (SessionState.STARTING, SessionState.ERROR, SessionState.STOPPED)
        self.sample_button.disabled = self.text_button.disabled = not live
        self.badge.value = _badge(state, snap.message)
        self.transcript.value = _transcript_html(snap)
        self.events.value = _events_html(snap, self.event_filter.value)
        self.latency.value = _latency_html(snap, practice=self.runner.settings.backend == "practice")
        finished = not running and state == SessionState.STOPPED and not self._replay_shown
        if finished and isinstance(self.runner.speaker, RecordedOutput):
            self._replay_shown = True
            self.replay.append_display_data(self.recording)

    def _follow_session(self, running: bool) -> None:
        """Once per session: at its start, lock the device choice and clear the last replay; at its end, unlock
        and let the picker fall back from a browser device that failed. Sample utterances are offered when the
        input is (or will be at Start) the WAV-file microphone."""
        number, end_handled = self._followed
        if self.runner.sessions_started != number:
            number, end_handled = self.runner.sessions_started, False
            if self._replay_shown:
                self.replay.outputs = ()
                self._replay_shown = False
            if self.devices is not None:
                self.devices.lock(True)
        if not running and not end_handled:
            end_handled = True
            if self.devices is not None:
                self.devices.session_ended(self.runner.microphone, self.runner.speaker)
                self.devices.lock(False)
        self._followed = (number, end_handled)
        scripted = isinstance(self.runner.microphone, ScriptedInput)
        if self.devices is not None and not running:
            scripted = self.devices.choice[0] == "files"
        self.speaking.layout.display = None if scripted else "none"


def _source_note(runner: SessionRunner, notes: list[str], picked: bool) -> str:
    service = "the offline practice server" if runner.settings.backend == "practice" else "Azure Voice Live"
    if picked:
        return f"<small>Talking to {service}. Pick where you talk and listen before Start:</small>"
    mic, out = describe_device("input", runner.microphone), describe_device("output", runner.speaker)
    why = "".join(f"<br><i>{html.escape(note)}</i>" for note in notes)
    return f"<small>Talking to {service}. Input: {mic}. Output: {out}.{why}</small>"


def _sample_files() -> list[str]:
    from .audio import sample_names

    return sample_names()


def _badge(state: str, message: str) -> str:
    colour, background = STATE_STYLE.get(state, STATE_STYLE[SessionState.IDLE])
    label = str(state).replace("_", " ")
    return (
        f'<span style="display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;'
        f'color:{colour};background:{background}">{html.escape(label)}</span> '
        f'<span class="vl-message">{html.escape(message)}</span>'
    )


def _transcript_html(snap: SessionSnapshot) -> str:
    if not snap.transcripts:
        return "<i>Nothing said yet.</i>"
    rows = []
    for line in snap.transcripts:
        who = "You" if line.role == "user" else "Assistant"
        mark = " <i>(interrupted)</i>" if line.interrupted else ("" if line.final else " …")
        rows.append(f'<div class="vl-{line.role}"><b>{who}:</b> {html.escape(line.text)}{mark}</div>')
    return "".join(rows)


def _events_html(snap: SessionSnapshot, text_filter: str) -> str:
    wanted = text_filter.strip().lower()
    rows = [e for e in snap.events if wanted in e.type.lower() or wanted in e.detail.lower()][-EVENT_ROWS_SHOWN:]
    if not rows:
        return "<i>No events yet.</i>"
    body = "\n".join(f"{e.at:7.2f}s  {e.type:<55} {e.detail[:80]}" for e in reversed(rows))  # newest first
    dropped = f"<i>{snap.events_dropped} older events not kept.</i>" if snap.events_dropped else ""
    return f"{dropped}<pre style='margin:0;font-size:11px'>{html.escape(body)}</pre>"


def _latency_html(snap: SessionSnapshot, practice: bool) -> str:
    parts = []
    for number, turn in enumerate(snap.turns, start=1):
        if turn.latency_ms is None:
            continue
        reply = f", reply streamed in {turn.reply_ms / 1000:.1f} s" if turn.reply_ms is not None else ""
        parts.append(f"turn {number}: first audio after {turn.latency_ms:.0f} ms{reply}")
    if not parts:
        return "<small>Latency appears after the first reply.</small>"
    source = " (the practice server's timing, not Azure's)" if practice else ""
    return "<small>" + "; ".join(parts[-3:]) + source + "</small>"

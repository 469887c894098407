"""SessionPanel driven by its buttons against the practice server, and the plots of a real session."""

from __future__ import annotations

import io
import threading
import time

import pytest
from matplotlib.figure import Figure
from support import AUDIO, eventually, scripted_runner, settings_for

from voicelive_lab.audio import RecordingSpeaker, WavMicrophone
from voicelive_lab.plots import plot_latency, plot_timeline, plot_waveforms
from voicelive_lab.runner import SessionSummary
from voicelive_lab.widgets import SessionPanel


def test_the_panel_runs_a_conversation_from_its_buttons(make_server) -> None:
    server = make_server(speed=3)
    panel = SessionPanel(
        settings_for(server), microphone=WavMicrophone(realtime=False), speaker=RecordingSpeaker(realtime=True)
    )
    assert repr(panel) == "SessionPanel(backend='practice')"
    assert panel.shown_state == "idle" and ">idle<" in panel.badge.value
    assert (panel.start_button.disabled, panel.stop_button.disabled, panel.interrupt_button.disabled) == (
        False,
        True,
        True,
    )
    assert panel.sample_button.disabled and "sample utterances" in panel.source_note.value

    panel.start_button.click()
    try:
        eventually(lambda: panel.shown_state == "ready")
        assert panel.start_button.disabled and not panel.stop_button.disabled and not panel.sample_button.disabled

        panel.sample_choice.value = "pyramids.wav"
        panel.sample_button.click()
        eventually(lambda: panel.shown_state == "assistant_speaking")
        assert not panel.interrupt_button.disabled
        eventually(lambda: panel.speaker_level.value > 0)
        eventually(lambda: "response.done" in panel.events.value)
        assert "<b>You:</b> Who built the pyramids of Giza?" in panel.transcript.value
        assert "<b>Assistant:</b> The pyramids of Giza were built" in panel.transcript.value
        assert "turn 1: first audio after" in panel.latency.value
        assert panel.latency.value.endswith("(the practice server's timing, not Azure's)</small>")

        panel.event_filter.value = "speech_"
        eventually(lambda: "speech_started" in panel.events.value and "response.done" not in panel.events.value)
        panel.event_filter.value = ""

        panel.text_input.value = "Tell me about Rome."
        panel.text_button.click()
        eventually(
            lambda: "<b>You:</b> Tell me about Rome." in panel.transcript.value and not panel.interrupt_button.disabled
        )
        panel.interrupt_button.click()
        eventually(lambda: "(interrupted)" in panel.transcript.value)
    finally:
        panel.stop_button.click()
    eventually(lambda: panel.shown_state == "stopped" and not panel.start_button.disabled)
    assert panel.stop_button.disabled and panel.sample_button.disabled
    eventually(lambda: len(panel.replay.outputs) == 1)
    assert "<audio" in panel.replay.outputs[0]["data"]["text/html"], "an inline player for the recording"
    assert panel.shown_state == "stopped"
    assert [t.status for t in panel.summary().turns][:1] == ["completed"]


def test_the_badge_says_ready_only_once_the_reply_has_been_heard(make_server) -> None:
    server = make_server(speed=4)  # the reply arrives four times faster than it plays
    speaker = RecordingSpeaker(realtime=True)
    panel = SessionPanel(settings_for(server), microphone=WavMicrophone(realtime=False), speaker=speaker)
    panel.start_button.click()
    try:
        eventually(lambda: panel.shown_state == "ready")
        panel.sample_choice.value = "hello.wav"
        panel.sample_button.click()
        eventually(lambda: "response.done" in panel.events.value)
        assert speaker.playing, "seconds of the reply are still to be heard"
        assert panel.shown_state == "assistant_speaking"
        eventually(lambda: panel.shown_state == "ready")
        assert not speaker.playing and speaker.buffer.buffered_ms == 0
        assert panel.shown_message == "Your turn: speak again."
    finally:
        panel.stop_button.click()
    assert panel.summary().states[-3:] == ("assistant_speaking", "ready", "stopped")


def test_a_failed_session_shows_the_reason_on_the_badge(make_server) -> None:
    server = make_server()
    panel = SessionPanel(scripted_runner(server, key="k3y-not-this-one"))
    panel.start_button.click()
    eventually(lambda: panel.shown_state == "error" and not panel.start_button.disabled)
    assert "401" in panel.shown_message and "k3y-not-this-one" not in panel.badge.value


def test_one_thread_writes_the_panel_and_each_session_shows_one_replay(make_server) -> None:
    """Buttons, filters and the session all reach the widgets through the panel's refresher thread only, so two
    writers never race (a second replay player appeared when Stop refreshed from the button's thread)."""
    panel = SessionPanel(
        settings_for(make_server()), microphone=WavMicrophone(realtime=False), speaker=RecordingSpeaker(realtime=False)
    )
    writers: set[str] = set()
    for widget in (panel.badge, panel.transcript, panel.events, panel.replay, panel.start_button):
        name = "outputs" if widget is panel.replay else ("disabled" if widget is panel.start_button else "value")
        widget.observe(lambda _: writers.add(threading.current_thread().name), names=name)
    for round_number in range(1, 4):
        panel.start_button.click()
        eventually(lambda: panel.shown_state == "ready")
        panel.send_text("Hello?")
        eventually(lambda: "response.done" in panel.events.value)
        panel.event_filter.value = "response"
        panel.event_filter.value = ""
        panel.stop_button.click()
        eventually(lambda: panel.shown_state == "stopped" and len(panel.replay.outputs) == 1)
        time.sleep(0.3)  # a second writer would have added its player by now
        assert len(panel.replay.outputs) == 1, f"round {round_number}: one replay player"
        assert "<b>You:</b> Hello?" in panel.transcript.value, "a typed message is shown as the learner's line"
    assert writers == {"voicelive-panel"}, f"widgets written from {writers}"


@pytest.fixture(scope="module")
def session_summary() -> SessionSummary:
    """Two spoken turns with devices that keep real time, as lesson 04's scripted conversation has (~12 s)."""
    from voicelive_lab.mock import MockServer

    with MockServer(speed=4) as server:
        runner = scripted_runner(server, realtime=True)
        return runner.run_turns([AUDIO / "hello.wav", AUDIO / "pyramids.wav"], timeout=60)


def rendered(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@pytest.mark.slow
def test_waveform_plot_shows_both_sides_on_one_time_axis(session_summary: SessionSummary) -> None:
    figure = plot_waveforms(session_summary)
    sent, heard = figure.axes
    assert (sent.get_title(loc="left"), heard.get_title(loc="left")) == (
        "Sent by the microphone",
        "Heard from the assistant",
    )
    assert heard.get_xlabel() == "time since start (s)" and sent.get_ylabel() == "amplitude"
    assert sent.lines and heard.lines
    boundaries = [line for line in sent.lines if line.get_linestyle() == "--"]
    assert len(boundaries) == len(session_summary.turns) == 2
    first_reply = min(line.get_xdata()[0] for line in heard.lines if line.get_linestyle() != "--")
    assert first_reply > session_summary.turns[0].speech_stopped_at, "the reply comes after the question"
    assert rendered(figure)[:4] == b"\x89PNG"


@pytest.mark.slow
def test_the_audio_and_the_timeline_of_one_session_share_one_time_axis(session_summary: SessionSummary) -> None:
    """The waveforms end where the timeline ends, and "you stopped speaking" comes after the speech it ends."""
    sent, heard = plot_waveforms(session_summary).axes
    (timeline,) = plot_timeline(session_summary).axes[:1]
    audio_end = max(max(line.get_xdata()) for line in [*sent.lines, *heard.lines] if line.get_linestyle() != "--")
    events_end = timeline.get_xlim()[1]
    assert abs(audio_end - events_end) < 1.0, f"audio ends at {audio_end:.1f} s, the timeline at {events_end:.1f} s"
    (speech,) = [line for line in sent.lines if line.get_linestyle() != "--"]
    times, values = speech.get_xdata(), speech.get_ydata()
    first_sound = min(t for t, v in zip(times, values, strict=True) if abs(v) > 0.1)
    first_stop = min(line.get_xdata()[0] for line in sent.lines if line.get_linestyle() == "--")
    assert first_stop > first_sound + 0.5, f"speech from {first_sound:.2f} s, marked stopped at {first_stop:.2f} s"


@pytest.mark.slow
def test_timeline_plot_has_state_spans_and_event_rows(session_summary: SessionSummary) -> None:
    figure = plot_timeline(session_summary)
    (axes, *_) = figure.axes
    assert len(axes.patches) == len(session_summary.snapshot.states)
    assert [label.get_text() for label in axes.get_yticklabels()] == [
        "your audio",
        "conversation",
        "response",
        "session",
        "errors",
    ]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend[:3] == ["starting", "ready", "listening"] and "assistant speaking" in legend
    assert len(axes.lines) == len(session_summary.snapshot.events)
    assert rendered(figure)[:4] == b"\x89PNG"


@pytest.mark.slow
def test_latency_plot_has_two_bars_per_turn(session_summary: SessionSummary) -> None:
    figure = plot_latency(session_summary)
    (axes,) = figure.axes
    assert len(axes.patches) == 2 * len(session_summary.turns)
    assert axes.get_ylabel() == "milliseconds" and axes.get_title() == "Latency per turn"
    heights = [patch.get_height() for patch in axes.patches]
    assert all(height > 0 for height in heights)
    assert [label.get_text() for label in axes.get_xticklabels()] == ["turn 1", "turn 2"]

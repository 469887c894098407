"""SessionRunner end to end: practice server, VoiceAssistant, WAV microphone and recording speaker."""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from azure.core.credentials import AzureKeyCredential
from support import AUDIO, LAB_TURN, level_db, scripted_runner, settings_for

from voicelive_lab.assistant import BasicVoiceAssistant
from voicelive_lab.audio import RecordingSpeaker, WavMicrophone
from voicelive_lab.config import Settings
from voicelive_lab.mock import Faults, MockServer
from voicelive_lab.runner import SessionRunner
from voicelive_lab.states import SessionState


def test_two_scripted_turns_follow_the_labs_states(server: MockServer) -> None:
    runner = scripted_runner(server)
    summary = runner.run_turns([AUDIO / "hello.wav", AUDIO / "pyramids.wav"], timeout=30)

    assert summary.error is None
    assert summary.states == ("starting", "ready", *LAB_TURN, *LAB_TURN, "stopped")
    assert [(t.role, t.final, t.interrupted) for t in summary.transcripts] == [
        ("user", True, False),
        ("assistant", True, False),
        ("user", True, False),
        ("assistant", True, False),
    ]
    assert summary.transcripts[0].text == "Hello can you hear me?"
    assert summary.transcripts[1].text.startswith("Hello! Yes, I can hear you.")
    assert [t.status for t in summary.turns] == ["completed", "completed"]
    assert all(t.latency_ms is not None and t.latency_ms >= 0 for t in summary.turns)
    assert summary.reply_audio is not None and len(summary.reply_audio) > 24000 * 4
    assert level_db(summary.reply_audio.tobytes()) > -30, "the recorded reply is audible"
    report = summary.report()
    assert report.splitlines()[0] == "States: starting → ready → " + " → ".join(LAB_TURN * 2) + " → stopped"
    assert "Turns: 2 (completed, completed)" in report
    assert not runner.running


def test_barge_in_mid_reply_flushes_playback_and_cancels_the_response(make_server) -> None:
    server = make_server(speed=4)
    microphone, speaker = WavMicrophone(realtime=False), RecordingSpeaker(realtime=True)
    runner = SessionRunner(settings_for(server), microphone=microphone, speaker=speaker)
    runner.start()
    try:
        assert runner.wait_for_state("ready", timeout=10)
        microphone.say(AUDIO / "pyramids.wav")
        assert runner.wait_for(lambda snap: speaker.buffer.buffered_ms > 300, timeout=10), "reply is queued"
        assert runner.wait_for(lambda snap: runner.levels[1] > 0.01, timeout=5), "the speaker level moves"
        microphone.say(AUDIO / "interrupt.wav")
        assert runner.wait_for(lambda snap: snap.event_counts.get("response.done", 0) >= 2, timeout=20)
    finally:
        assert runner.stop()
    summary = runner.summary()
    assert speaker.buffer.cleared_ms >= 260, "the queued, unplayed reply was flushed at once"
    statuses = [t.status for t in summary.turns]
    assert statuses == ["cancelled", "completed"]
    assistant_lines = [t for t in summary.transcripts if t.role == "assistant"]
    assert [t.interrupted for t in assistant_lines] == [True, False]
    assert "assistant_speaking" in summary.states and summary.states.index("listening", 3) > summary.states.index(
        "assistant_speaking"
    )


def test_speech_over_a_reply_sent_in_full_but_still_playing_marks_it_interrupted(make_server) -> None:
    """The service had sent the whole reply (nothing left to cancel), but the learner heard only its start."""
    server = make_server(speed=math.inf)
    microphone, speaker = WavMicrophone(realtime=False), RecordingSpeaker(realtime=True)
    runner = SessionRunner(settings_for(server), microphone=microphone, speaker=speaker)
    runner.start()
    try:
        assert runner.wait_for_state("ready", timeout=10)
        microphone.say(AUDIO / "pyramids.wav")
        assert runner.wait_for(lambda snap: snap.event_counts.get("response.done", 0) == 1, timeout=10)
        assert speaker.buffer.buffered_ms > 1000, "the reply arrived at once and is still playing"
        microphone.say(AUDIO / "interrupt.wav")
        assert runner.wait_for(lambda snap: snap.event_counts.get("response.done", 0) >= 2, timeout=20)
    finally:
        assert runner.stop()
    summary = runner.summary()
    assert [t.status for t in summary.turns] == ["completed", "completed"]
    assert speaker.buffer.cleared_ms > 500, "what was left of the first reply was flushed"
    assistant_lines = [t for t in summary.transcripts if t.role == "assistant"]
    assert [t.interrupted for t in assistant_lines] == [True, False]
    assert assistant_lines[0].text.startswith("The pyramids of Giza were built"), "the whole text stays readable"


@pytest.mark.parametrize("moment", ["starting", "ready"])
def test_stop_returns_within_half_a_second(make_server, moment: str) -> None:
    faults = Faults(event_delay_ms=3000) if moment == "starting" else Faults()
    server = make_server(speed=1, faults=faults)
    runner = scripted_runner(server, realtime=True)
    runner.start()
    assert runner.wait_for_state(moment, timeout=10)
    began = time.monotonic()
    stopped = runner.stop()
    elapsed = time.monotonic() - began
    assert stopped and elapsed < 0.5, f"stop took {elapsed:.3f} s"
    assert runner.state == "stopped" and not runner.microphone.running and not runner.speaker.running
    assert runner.stop(), "stopping again is harmless"


def test_stop_while_the_assistant_speaks(make_server) -> None:
    server = make_server(speed=1)
    runner = scripted_runner(server, realtime=True)
    runner.start()
    assert runner.wait_for_state("ready", timeout=10)
    runner.microphone.say(AUDIO / "hello.wav")  # type: ignore[attr-defined]
    assert runner.wait_for_state("assistant_speaking", timeout=15)
    began = time.monotonic()
    assert runner.stop() and time.monotonic() - began < 0.5
    assert runner.state == "stopped"


def test_failures_end_in_error_with_a_message_and_the_runner_can_start_again(make_server) -> None:
    server = make_server(faults=Faults(close_after_events=2))
    runner = scripted_runner(server)
    runner.start()
    assert runner.wait_for_state("error", timeout=10)
    assert "closed the session" in (runner.last_error or "")
    assert runner.wait_for(lambda snap: not runner.running, timeout=2)

    server.faults = Faults()
    runner.start()
    assert runner.wait_for_state("ready", timeout=10)
    assert runner.stop()
    assert runner.last_error is None

    wrong = scripted_runner(server, key="k3y-not-this-one")
    wrong.start()
    assert wrong.wait_for_state("error", timeout=10)
    assert "401" in (wrong.last_error or "") and "k3y-not-this-one" not in (wrong.last_error or "")


def test_typed_messages_and_interrupts_racing_stop_are_notes_not_errors(make_server) -> None:
    """A learner's loop of send_text (or a late Interrupt click) meeting Stop: nothing is raised in the cell."""
    runner = scripted_runner(make_server())
    assert runner.send_text("Before Start.") is False and runner.interrupt() is False
    for _round in range(3):
        runner.start()
        assert runner.wait_for_state("ready", timeout=10)
        failures: list[BaseException] = []
        results: list[bool] = []

        def type_until_stopped(results: list[bool] = results, failures: list[BaseException] = failures) -> None:
            try:
                while runner.running or len(results) < 5:
                    results.append(runner.send_text("Hello?"))
                    results.append(runner.interrupt())
                results.append(runner.send_text("After Stop."))
            except BaseException as error:  # what would have landed in the learner's cell
                failures.append(error)

        typist = threading.Thread(target=type_until_stopped)
        typist.start()
        time.sleep(0.2)
        assert runner.stop()
        typist.join(10)
        assert not typist.is_alive() and failures == [], failures
        assert True in results and results[-1] is False
    notes = [e.detail for e in runner.log.snapshot().events if e.type == "log.info"]
    assert "Typed message not sent: no session is running. Press Start first." in notes


def test_typed_messages_and_interrupt_from_another_thread(make_server) -> None:
    server = make_server(speed=2)
    speaker = RecordingSpeaker(realtime=True)
    runner = SessionRunner(settings_for(server), microphone=WavMicrophone(realtime=False), speaker=speaker)
    runner.start()
    try:
        assert runner.wait_for_state("ready", timeout=10)
        runner.send_text("Tell me about Rome.")
        assert runner.wait_for_state("assistant_speaking", timeout=10)
        runner.interrupt()
        assert runner.wait_for(lambda snap: snap.event_counts.get("response.done", 0) >= 1, timeout=10)
    finally:
        runner.stop()
    summary = runner.summary()
    assert summary.transcripts[-1].interrupted
    assert speaker.buffer.cleared_ms > 0 or speaker.buffer.buffered_ms == 0


def _open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the descriptor listdir itself used
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count open sockets")
def test_a_hundred_start_stop_cycles_leave_nothing_behind(make_server: Callable[..., MockServer]) -> None:
    import psutil

    server = make_server(speed=math.inf, first_audio_delay_ms=0)
    runner = scripted_runner(server, realtime=True)
    for _ in range(3):  # warm up: first connection, first imports, allocator pools
        runner.start()
        runner.wait_for_state("ready", timeout=10)
        runner.stop()
    process = psutil.Process()
    threads, sockets, files = _session_threads(), _open_sockets(), process.num_fds()
    rss = process.memory_info().rss
    for _ in range(100):
        runner.start()
        assert runner.wait_for_state("ready", timeout=10)
        assert runner.stop()
    deadline = time.monotonic() + 2
    while (_session_threads(), _open_sockets()) != (threads, sockets) and time.monotonic() < deadline:
        time.sleep(0.05)
    grown_mb = (process.memory_info().rss - rss) / 1e6
    print(f"100 cycles: RSS grew {grown_mb:.1f} MB")
    assert _session_threads() == threads
    assert _open_sockets() == sockets
    assert process.num_fds() == files
    assert grown_mb < 5
    assert server.active_sessions == 0
    assert not runner.microphone.running and not runner.speaker.running


def _session_threads() -> int:
    """Threads alive, leaving out the practice server's one-off warm-up (it ends when the models are loaded)."""
    return sum(thread.name != "voicelive-practice-warm-up" for thread in threading.enumerate())


def test_the_recording_can_be_replayed_inline(server: MockServer) -> None:
    runner = scripted_runner(server)
    runner.run_turns([AUDIO / "rome.wav"], timeout=30)
    speaker = runner.speaker
    assert isinstance(speaker, RecordingSpeaker)
    player = speaker.audio()
    assert player.data[:4] == b"RIFF" and np.asarray(speaker.samples).dtype == np.int16


@pytest.mark.parametrize("moment", ["listening", "processing", "error"])
def test_stop_returns_within_half_a_second_from_the_other_states(make_server, moment: str) -> None:
    # A slow server keeps "processing" open; a closed session gives "error"; a real-time mic keeps "listening".
    faults = Faults(close_after_events=2) if moment == "error" else Faults()
    server = make_server(speed=1, first_audio_delay_ms=3000, faults=faults)
    runner = scripted_runner(server, realtime=True)
    runner.start()
    if moment != "error":
        assert runner.wait_for_state("ready", timeout=10)
        runner.microphone.say(AUDIO / "interrupt.wav")  # type: ignore[attr-defined]
    assert runner.wait_for_state(moment, timeout=15), runner.state
    began = time.monotonic()
    assert runner.stop() and time.monotonic() - began < 0.5
    assert not runner.running and not runner.microphone.running and not runner.speaker.running


def test_a_service_that_goes_silent_ends_in_a_clear_error_and_can_be_restarted(make_server) -> None:
    server = make_server(faults=Faults(silent_after_events=2))  # session.created, session.updated, then nothing
    runner = SessionRunner(
        settings_for(server),
        microphone=WavMicrophone(realtime=False),
        speaker=RecordingSpeaker(realtime=False),
        answer_timeout=1.0,
    )
    runner.start()
    assert runner.wait_for_state("ready", timeout=10)
    runner.microphone.say(AUDIO / "hello.wav")  # type: ignore[attr-defined]
    assert runner.wait_for_state("error", timeout=5)
    assert "has not reacted for 1 s" in (runner.last_error or "") and "Start" in (runner.last_error or "")
    assert runner.wait_for(lambda snap: not runner.running, timeout=2), "the session thread ended"
    server.faults = Faults()
    runner.start()
    assert runner.wait_for_state("ready", timeout=10) and runner.stop()


def test_a_quiet_learner_is_not_mistaken_for_a_silent_service(make_server) -> None:
    server = make_server()
    runner = SessionRunner(
        settings_for(server),
        microphone=WavMicrophone(realtime=True),  # sends silence blocks while idle, like a quiet room
        speaker=RecordingSpeaker(realtime=False),
        answer_timeout=0.5,
    )
    runner.start()
    try:
        assert runner.wait_for_state("ready", timeout=10)
        assert not runner.wait_for_state("error", timeout=1.5)
    finally:
        runner.stop()


def test_a_handshake_that_never_answers_ends_in_a_clear_error() -> None:
    with socket.socket() as listener:  # accepts TCP connections (backlog) but never speaks HTTP
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        settings = Settings(
            backend="azure",
            endpoint=f"http://127.0.0.1:{port}",
            credential=AzureKeyCredential("k"),
            model="gpt-4o",
            voice="alloy",
            instructions="",
        )
        runner = SessionRunner(
            settings,
            microphone=WavMicrophone(realtime=False),
            speaker=RecordingSpeaker(realtime=False),
            connect_timeout=1.0,
        )
        runner.start()
        assert runner.wait_for_state("error", timeout=5)
        assert "never answered" in (runner.last_error or "")
        assert runner.wait_for(lambda snap: not runner.running, timeout=2)


class BrokenInit(BasicVoiceAssistant):
    def __init__(self, endpoint, credential, model, voice, instructions, state_callback=None):
        self.endpoint = endpoint
        raise KeyError("voice")  # the learner's own mistake


def test_a_class_that_cannot_be_built_ends_the_session_at_once_with_its_own_line(server: MockServer) -> None:
    runner = scripted_runner(server)
    runner.assistant_class = BrokenInit
    began = time.monotonic()
    summary = runner.run_turns([AUDIO / "hello.wav"], timeout=30)
    assert time.monotonic() - began < 2
    assert summary.states == ("starting", "error")
    assert "KeyError" in (summary.error or "") and 'raise KeyError("voice")' in (summary.error or "")
    assert isinstance(runner.failure, KeyError)


class SleepsInAHandler(BasicVoiceAssistant):
    async def _handle_session_updated(self):
        time.sleep(30)  # blocks the event loop


def test_code_that_blocks_the_loop_is_named_and_the_session_set_free(server: MockServer) -> None:
    runner = scripted_runner(server)
    runner.assistant_class = SleepsInAHandler
    runner.block_limit = 0.5
    began = time.monotonic()
    runner.start()
    assert runner.wait_for_state("error", timeout=5)
    assert runner.wait_for(lambda snap: not runner.running, timeout=3), "the session thread ended"
    assert time.monotonic() - began < 3, "the 30 s sleep was cut short"
    message = runner.last_error or ""
    assert "blocked the event loop" in message and "time.sleep(30)" in message and "asyncio.sleep" in message
    assert time.sleep.__module__ == "time", "time.sleep is itself again once no session is watched"


def test_two_sessions_at_once_never_cross(make_server, tmp_path) -> None:
    """_broadcast and assistant_state reach the session that runs the code: each runner hears its own server."""
    runners = []
    for line in ("The first server speaks.", "A second, different server answers at some length."):
        script = tmp_path / f"{len(runners)}.json"
        script.write_text(json.dumps({"turns": [{"assistant": line}]}))
        runners.append(scripted_runner(make_server(speed=2, script=str(script))))
    threads = [
        threading.Thread(target=r.run_turns, args=([AUDIO / "hello.wav"],), kwargs={"timeout": 30}) for r in runners
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    first, second = (r.summary() for r in runners)
    assert [t.text for t in first.transcripts if t.role == "assistant"] == ["The first server speaks."]
    assert [t.text for t in second.transcripts if t.role == "assistant"] == [
        "A second, different server answers at some length."
    ]
    assert first.states == second.states == ("starting", "ready", *LAB_TURN, "stopped")
    assert len(second.reply_audio) > len(first.reply_audio) * 1.5, "each speaker got its own server's reply"


def test_the_assistants_log_lines_reach_the_event_log(server: MockServer) -> None:
    summary = scripted_runner(server).run_turns([AUDIO / "hello.wav"], timeout=30)
    logged = [(e.type, e.detail) for e in summary.snapshot.events if e.type.startswith("log.")]
    assert logged[0] == ("log.info", "Connecting (model gpt-4o, voice en-US-JennyNeural)")


def test_a_state_the_lab_does_not_know_is_shown_with_a_note(server: MockServer) -> None:
    """A learner's typo in state_callback is passed on as written, and the event log names the lab's states."""

    class TypoAssistant(BasicVoiceAssistant):
        async def _handle_session_updated(self):  # type: ignore[no-untyped-def]
            self.state_callback("redy", "Session ready.")

    runner = SessionRunner(
        settings_for(server),
        microphone=WavMicrophone(realtime=False),
        speaker=RecordingSpeaker(realtime=False),
        assistant_class=TypoAssistant,
    )
    runner.start()
    try:
        assert runner.wait_for_state("redy", timeout=10)
        assert runner.state == "redy" and not isinstance(runner.state, SessionState)
    finally:
        assert runner.stop()
    notes = [e.detail for e in runner.log.snapshot().events if e.type == "log.warning"]
    assert len(notes) == 1 and notes[0].startswith('Your class reported the state "redy", which is not one of the lab')
    assert '"ready"' in notes[0] and '"assistant_speaking"' in notes[0]
    assert runner.summary().states[-1] == SessionState.STOPPED == "stopped"

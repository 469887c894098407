"""Talking to the practice server through the notebook page: JupyterLab or Notebook 7, headless Debian Chromium,
Playwright.

Chromium's fake capture device plays a WAV this test makes (the pyramids question, then silence, looped), so
the page's microphone "speaks" every few seconds. The kernels reach no sound server, as on JupyterHub. Lesson 04
is opened as a learner opens it: its panel picks the browser's microphone and speaker, the test presses Start
and Stop. Other notebooks build BrowserAudio and a SessionRunner by hand. A probe in each notebook writes what
the kernel knows to a file every 200 ms; the page's own counters are read with page.evaluate.

Covered: a whole conversation with barge-in and Stop in lesson 04, in JupyterLab and in Notebook 7; a denied
permission and a machine with no microphone; a tab closed or crashed mid-session; the AudioWorklet code on its
own (rates, frames, flush within one render block); the page naming an insecure origin and VS Code's webview.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from browser_support import (
    ARTIFACTS,
    CHROMIUM,
    PROBE_CELL,
    ROOT,
    Lab,
    badge_label_is,
    button,
    chromium,
    copy_lesson,
    jupyter_server,
    open_notebook,
    page_audio_stats,
    read_probe,
    run_all_cells,
    sync_api,
    wait_for_all_cells,
    write_fake_capture,
    write_notebook,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(150),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium is not installed ({CHROMIUM} is missing)"),
]

QUESTION = ROOT / "assets" / "audio" / "pyramids.wav"
WORKLET = ROOT / "voicelive_lab" / "browser_audio" / "worklet.js"
LOST_AFTER_S = 3.0
LESSON = "04_full_session.ipynb"
#: After lesson 04's cells: the probe, watching the lesson's first panel (``runner`` and ``audio`` are its own).
LESSON_PROBE = """
shown = start_probe(report, PROBE_PATH)
comms_before = len(comm.get_comm_manager().comms)  # every widget of this notebook exists by now
shown
"""
# Lifecycle threads of the browser devices and the session; none may outlive Stop.
SESSION_THREADS = {"BrowserMicrophone", "BrowserAudio-watch", "voicelive-session"}

#: Defines report(): what the kernel knows of ``runner`` and ``audio`` (globals read at each call).
REPORT_CELL = """
import threading
import comm

def report():
    snapshot = runner.log.snapshot()
    return dict(
        state=runner.state,
        running=runner.running,
        states=[change.state for change in snapshot.states],
        errors=[change.message for change in snapshot.states if change.state == "error"],
        transcript=[[line.role, line.text, line.interrupted] for line in snapshot.transcripts],
        turns=[turn.status for turn in snapshot.turns],
        microphone=getattr(runner.microphone, "status", ""),
        speaker=getattr(runner.speaker, "status", ""),
        frames=getattr(runner.microphone, "frames_delivered", 0),
        page_played=getattr(runner.speaker, "page_played", 0),
        capture=audio.capture,
        playback=audio.playback,
        owner=audio.owner,
        comms_added=len(comm.get_comm_manager().comms) - comms_before,
        threads=sorted(thread.name for thread in threading.enumerate()),
    )
"""

SESSION_CELL = """
import ipywidgets as widgets
from azure.core.credentials import AzureKeyCredential
from voicelive_lab.browser_audio import BrowserAudio, BrowserMicrophone, BrowserSpeaker
from voicelive_lab.config import Settings
from voicelive_lab.mock import MockServer
from voicelive_lab.mock.hearing import warm_up
from voicelive_lab.runner import SessionRunner

warm_up(None)  # recognizer and voice loaded before anyone speaks
server = MockServer(speed=1.0).start()  # replies stream in real time, so speech can land on one still coming
settings = Settings(backend="practice", endpoint=server.endpoint, credential=AzureKeyCredential(server.api_key),
                    model="gpt-4o", voice="en-US-JennyNeural", instructions="You are a friendly history tutor.")
audio = BrowserAudio(lost_after=LOST_AFTER)
runner = SessionRunner(settings, microphone=BrowserMicrophone(audio), speaker=BrowserSpeaker(audio))

stop = widgets.Button(description="Stop session")
stop.on_click(lambda _: runner.stop(2.0))
shown = [audio, stop, start_probe(report, PROBE_PATH)]
comms_before = len(comm.get_comm_manager().comms)  # every widget of this notebook exists by now
display(*shown)
runner.start()
"""


@pytest.fixture(scope="module")
def fake_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The question at 48 kHz with 2.5 s of silence after it: Chromium loops it about every 5 s, so the question
    comes again while the answer to the last one is playing."""
    path = tmp_path_factory.mktemp("capture") / "question-loop.wav"
    write_fake_capture(path, QUESTION, lead_s=0.5, tail_s=2.5)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, served: Path) -> Iterator[Lab]:
    with jupyter_server(tmp_path_factory.mktemp("lab"), served, kernel_sound=False) as running:
        yield running


def session_notebook(served: Path, name: str, probes: Path) -> Path:
    """Writes ``name`` (a session on the browser devices) into the served folder; returns its probe file."""
    probe = probes / f"{name}.probe.json"
    setup = f"LOST_AFTER = {LOST_AFTER_S!r}\nPROBE_PATH = {str(probe)!r}\n"
    write_notebook(served / f"{name}.ipynb", PROBE_CELL, REPORT_CELL, setup + SESSION_CELL)
    return probe


def lesson_with_probe(served: Path, probes: Path, name: str) -> Path:
    """Lesson 04 as a learner opens it, plus the probe after its last cell; returns the probe file."""
    probe = probes / f"{name}.probe.json"
    copy_lesson(LESSON, served)
    lesson = served / LESSON
    notebook = nbformat.read(lesson, as_version=4)
    lesson.unlink()
    watch = f"PROBE_PATH = {str(probe)!r}\nrunner, audio = panel.runner, panel.devices.browser\n" + LESSON_PROBE
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in (PROBE_CELL, REPORT_CELL, watch)]
    nbformat.write(notebook, served / name)
    return probe


def wait_for(probe: Path, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    """Polls the probe file until ``predicate`` holds; fails with the last report otherwise."""
    deadline = time.monotonic() + timeout
    report: dict[str, Any] = {}
    while time.monotonic() < deadline:
        report = read_probe(probe)
        if report and "probe_error" not in report and predicate(report):
            return report
        time.sleep(0.2)
    shown = {key: value for key, value in report.items() if key != "threads"}
    pytest.fail(f"{what} did not happen within {timeout:.0f} s; the kernel reported: {json.dumps(shown)[-3000:]}")


def session_ended(report: dict[str, Any]) -> bool:
    return report["state"] in ("error", "stopped") and not report["running"]


def session_threads(report: dict[str, Any]) -> set[str]:
    return SESSION_THREADS & set(report["threads"])


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory, served: Path) -> Iterator[Lab]:
    with jupyter_server(tmp_path_factory.mktemp("nb7"), served, app="notebook", kernel_sound=False) as running:
        yield running


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_lesson_04_answers_a_question_spoken_in_the_page(
    request: pytest.FixtureRequest, front_end: str, served: Path, fake_capture: Path, tmp_path: Path
) -> None:
    """A kernel with no sound devices: lesson 04's panel offers the browser, hears the question, plays the answer
    in the page, flushes it when the question comes again over it, and stops cleanly."""
    lab: Lab = request.getfixturevalue(front_end)
    name = f"lesson-04-{front_end}.ipynb"
    probe = lesson_with_probe(served, tmp_path, name)
    console: list[str] = []
    with chromium(tmp_path, console, fake_capture=fake_capture, failure_name=f"browser-{front_end}") as (_, page):
        open_notebook(page, lab, name)
        # Notebook 7.6 itself throws "Cannot read properties of undefined (reading 'schema')" while it starts, with
        # any notebook (one printing "hi" too); only what happens from the first cell on is this kit's.
        checked_from = len(console) if front_end == "notebook7" else 0
        run_all_cells(page)
        wait_for_all_cells(page, timeout_s=120)
        panel = page.locator(".vl-session-panel").first
        note = panel.locator(".vl-devices-note")
        sync_api.expect(note).to_contain_text("Using the browser's microphone and the browser's speaker")
        sync_api.expect(note).to_contain_text("this kernel's microphone and speaker: none in this kernel")
        picked_note = note.text_content()
        button(panel, "Start").click()
        wait_for(probe, "the page's microphone listening", lambda r: r["microphone"] == "listening", 30)

        heard = wait_for(
            probe,
            "the practice server hearing the question",
            lambda r: any(role == "user" and "pyramids" in text.lower() for role, text, _ in r["transcript"]),
            60,
        )
        assert heard["frames"] > 50, "frames from the page reached the session"
        wait_for(probe, "the reply playing in the page", lambda r: r["page_played"] > 0, 30)
        panel.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / f"browser-microphone-{front_end}-speaking.png")
        assert page_audio_stats(page)["played"] > 0, "the page's player rendered reply samples"

        cut = wait_for(
            probe,
            "the looped question cutting into a reply",
            lambda r: any(role == "assistant" and cut for role, _, cut in r["transcript"]),
            60,
        )
        # The question loops, so it talks over reply after reply. A barge-in can land just after the page has
        # played all it had (its "playing" report lags under load): then that flush drops nothing, and the next
        # one must.
        deadline, flushed = time.monotonic() + 45, page_audio_stats(page)
        while not (flushed["flushes"] >= 1 and flushed["flushedSamples"] > 0) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
            flushed = page_audio_stats(page)
        assert flushed["flushes"] >= 1 and flushed["flushedSamples"] > 0, f"the page dropped no audio: {flushed}"

        button(panel, "Stop").click()
        page.wait_for_function(badge_label_is("stopped"))
        final = wait_for(probe, "Stop ending the session", lambda r: r["state"] == "stopped" and not r["running"], 15)
        final = wait_for(probe, "the session's threads ending", lambda r: not session_threads(r), 5)
        page_after = page_audio_stats(page)
        status_line = panel.locator(".vl-ba-status").inner_text()
        transcript = panel.locator(".vl-transcript").inner_text()
    print(f"{front_end}: {picked_note}\nstates: {final['states']}\nturns: {final['turns']}")
    print(f"transcript: {final['transcript']}\npage: {page_after}\ncut: {cut['transcript']}")
    assert "You: Who built the pyramids" in transcript
    assert final["errors"] == [], f"the session reported errors: {final['errors']}"
    assert not final["capture"] and not final["playback"], "the page is no longer asked to capture or play"
    assert page_after["mic"]["state"] == "off" and page_after["output"]["state"] == "off", page_after
    assert status_line == "Microphone: off · Speaker: off"
    assert final["comms_added"] == 0, "the devices opened no comm of their own"
    assert not [m for m in console[checked_from:] if m.startswith("pageerror:")], console


@pytest.mark.parametrize(
    ("case", "status_line", "reason"),
    [
        ("denied", "Microphone: denied", "The browser denied the microphone."),
        ("no-microphone", "Microphone: no microphone", "The browser found no microphone."),
    ],
)
def test_a_microphone_the_page_cannot_open_ends_the_session_with_a_message(
    lab: Lab, served: Path, fake_capture: Path, tmp_path: Path, case: str, status_line: str, reason: str
) -> None:
    """Blocked for the site ("denied"), or a machine with no capture device at all ("no-microphone")."""
    probe = session_notebook(served, case, tmp_path)
    console: list[str] = []
    denied = case == "denied"
    with chromium(
        tmp_path, console, fake_capture=fake_capture if denied else None, grant_microphone=not denied, devices=denied
    ) as (context, page):
        if denied:
            context.new_cdp_session(page).send(
                "Browser.setPermission",
                {"permission": {"name": "microphone"}, "setting": "denied", "origin": lab.url},
            )  # as if the learner had clicked "Block"
        open_notebook(page, lab, f"{case}.ipynb")
        run_all_cells(page)
        final = wait_for(probe, "the session ending", session_ended, 60)
        final = wait_for(probe, "the session's threads ending", lambda r: not session_threads(r), 5)
        status = page.locator(".vl-ba-status")
        sync_api.expect(status).to_contain_text(status_line)
        sync_api.expect(status).to_contain_text(reason)
        sync_api.expect(status).to_have_class("vl-ba-status vl-ba-problem")
        status.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / f"browser-microphone-{case}.png")
    assert final["state"] == "error"
    assert final["errors"] and final["errors"][-1].startswith(reason), final["errors"]
    assert final["microphone"].startswith(f"{status_line.split(': ')[1]}: {reason}")
    assert not final["capture"]


@pytest.mark.parametrize("how", ["closed", "crashed"])
def test_a_page_gone_mid_session_ends_it_with_a_message(
    lab: Lab, served: Path, fake_capture: Path, tmp_path: Path, how: str
) -> None:
    """A closed tab says goodbye as it goes; a crashed one (or a sleeping laptop) just stops its heartbeat."""
    probe = session_notebook(served, how, tmp_path)
    console: list[str] = []
    with chromium(tmp_path, console, fake_capture=fake_capture) as (context, page):
        open_notebook(page, lab, f"{how}.ipynb")
        run_all_cells(page)
        wait_for(probe, "the page's microphone listening", lambda r: r["microphone"] == "listening", 60)
        gone_at = time.monotonic()
        if how == "closed":
            page.close()
        else:
            with contextlib.suppress(sync_api.Error):  # the renderer dies before it can answer
                context.new_cdp_session(page).send("Page.crash", timeout=1000)
        final = wait_for(probe, "the session ending", session_ended, 20)
        noticed_after = time.monotonic() - gone_at
        final = wait_for(probe, "the session's threads ending", lambda r: not session_threads(r), 5)
    print(f"{how}: noticed after {noticed_after:.1f} s: {final['errors']}")
    assert final["state"] == "error"
    expected = "was closed or reloaded" if how == "closed" else f"stopped answering for {LOST_AFTER_S:g} s"
    assert expected in final["errors"][-1]
    assert noticed_after < (1 if how == "closed" else LOST_AFTER_S + 2)
    assert final["owner"] == "", "the audio is free for the next page"
    assert not final["capture"] and not final["playback"]
    assert final["comms_added"] == 0


# ----------------------------------------------------------------- the AudioWorklet code on its own

CAPTURE_CHECK = """async (source) => {
  const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
  const result = {};
  for (const rate of [48000, 44100]) {  // the usual device rates
    const context = new OfflineAudioContext(1, rate, rate);
    await context.audioWorklet.addModule(url);
    const tone = new OscillatorNode(context, {frequency: 440});
    const half = new GainNode(context, {gain: 0.5});
    const capture = new AudioWorkletNode(context, 'vl-capture', {numberOfInputs: 1, numberOfOutputs: 0,
      processorOptions: {targetRate: 24000, frameSamples: 480}});
    const frames = [];
    capture.port.onmessage = (event) => frames.push(Array.from(new Int16Array(event.data.pcm)));
    tone.connect(half).connect(capture);
    tone.start();
    await context.startRendering();
    for (let wait = 0; wait < 40 && frames.length < 49; wait++) await new Promise((done) => setTimeout(done, 50));
    const samples = frames.flat();
    let crossings = 0;
    for (let i = 1; i < samples.length; i++) if ((samples[i - 1] < 0) !== (samples[i] < 0)) crossings++;
    result[rate] = {frames: frames.length, sizes: [...new Set(frames.map((f) => f.length))],
      peak: Math.max(...samples.map(Math.abs)), crossingsPerSecond: crossings * 24000 / samples.length};
  }
  return result;
}"""

# One second of a half-scale tone, and a clear posted at 0.25 s. The offline renderer hands messages to the
# worklet when it gets round to it (under load, late), so what is checked is relative to when the clear was
# handled, which the worklet reports ("at", in context time).
PLAYBACK_CHECK = """async (source) => {
  const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
  const context = new OfflineAudioContext(1, 48000, 48000);
  await context.audioWorklet.addModule(url);
  const player = new AudioWorkletNode(context, 'vl-playback', {numberOfInputs: 0, numberOfOutputs: 1,
    outputChannelCount: [1], processorOptions: {sourceRate: 24000, reportEvery: 100}});
  const messages = [];
  player.port.onmessage = (event) => messages.push(event.data);
  player.connect(context.destination);
  const pcm = new Int16Array(24000);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(16000 * Math.sin(2 * Math.PI * 440 * i / 24000));
  player.port.postMessage({type: 'audio', pcm: pcm.buffer, seq: 1}, [pcm.buffer]);
  context.suspend(0.25).then(() => { player.port.postMessage({type: 'clear', seq: 2}); context.resume(); });
  const rendered = (await context.startRendering()).getChannelData(0);
  await new Promise((done) => setTimeout(done, 300));
  let first = -1, last = -1;
  for (let i = 0; i < rendered.length; i++) if (Math.abs(rendered[i]) > 1e-4) { if (first < 0) first = i; last = i; }
  const peak = first < 0 ? 0 : Math.max(...rendered.slice(first, first + 4800).map(Math.abs));
  return {first, last, peak, flushed: messages.filter((m) => m.type === 'flushed'),
    idle: messages.filter((m) => m.type === 'level' && !m.playing).length};
}"""


def test_the_worklets_resample_frame_and_flush_within_one_render_block(tmp_path: Path) -> None:
    """Capture makes 20 ms PCM16 frames at 24 kHz from 48 and 44.1 kHz; playback is silent from the render block
    in which a clear is handled (128 frames at most), and reports the flush."""
    console: list[str] = []
    with chromium(tmp_path, console, fake_capture=None) as (_, page):
        page.route("http://127.0.0.1:9/", lambda route: route.fulfill(body="<html></html>", content_type="text/html"))
        page.goto("http://127.0.0.1:9/")  # a secure context (localhost) with no server behind it
        source = WORKLET.read_text()
        captures = page.evaluate(CAPTURE_CHECK, source)
        for _attempt in range(3):
            playback = page.evaluate(PLAYBACK_CHECK, source)
            first, flushes = playback["first"], playback["flushed"]
            if first >= 0 and flushes and first < flushes[0]["at"] * 48000 < first + 48000:
                break  # the clear landed while the tone played
        else:
            pytest.fail(f"the clear never landed while the tone played: {playback}")
    print(json.dumps({"capture": captures, "playback": playback}))
    for rate, capture in captures.items():
        assert capture["sizes"] == [480], f"{rate} Hz: frames of {capture['sizes']} samples"
        assert 48 <= capture["frames"] <= 50, f"{rate} Hz: {capture['frames']} frames from one second"
        assert 16000 <= capture["peak"] <= 16800, f"{rate} Hz: a half-scale tone peaked at {capture['peak']}"
        assert capture["crossingsPerSecond"] == pytest.approx(880, abs=10), f"{rate} Hz: not a 440 Hz tone"
    [flushed] = playback["flushed"]
    cut = round(flushed["at"] * 48000)  # the first frame rendered after the clear was handled
    assert playback["peak"] > 0.45, "the reply plays at its own level"
    assert cut - 128 <= playback["last"] < cut, f"sound until frame {playback['last']}, clear handled at {cut}"
    played_source = (cut - first) / 2  # 48 kHz out, 24 kHz in
    assert flushed["dropped"] == pytest.approx(24000 - played_source, abs=200), "the rest of the tone was dropped"
    assert playback["idle"] >= 1, "the player reported that it went idle"


PAGE_CHECKS = ROOT / "voicelive_lab" / "browser_audio" / "page_checks.js"
VS_CODE_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.92.0 Chrome/124.0.6367.243 "
    "Electron/30.1.2 Safari/537.36"
)


def page_problem(page: sync_api.Page, url: str) -> list[str] | None:
    """What page_checks.js says about a page served at ``url`` (routed: nothing listens there)."""
    page.route(url, lambda route: route.fulfill(body="<html></html>", content_type="text/html"))
    page.goto(url)
    page.add_script_tag(content=PAGE_CHECKS.read_text())
    return page.evaluate("() => pageProblem()")


def test_the_page_names_an_insecure_origin_and_vs_code(tmp_path: Path) -> None:
    """Plain http away from localhost, and VS Code's webview, are refused before any permission prompt."""
    console: list[str] = []
    with chromium(tmp_path / "browser", console, fake_capture=None) as (_, page):
        assert page_problem(page, "http://127.0.0.1:9/") is None
        insecure = page_problem(page, "http://lab.example.test/")
        errors = page.evaluate(
            "() => ['NotAllowedError', 'NotFoundError', 'NotReadableError', 'TypeError']"
            ".map((name) => describeMicError({name})[0])"
        )
    with chromium(tmp_path / "vscode", console, fake_capture=None, user_agent=VS_CODE_AGENT) as (_, page):
        vs_code = page_problem(page, "http://127.0.0.1:9/")
    assert insecure is not None and insecure[0] == "insecure"
    assert insecure[1].startswith("This page comes from http://lab.example.test over plain http")
    assert vs_code is not None and vs_code[0] == "blocked"
    assert vs_code[1].startswith("VS Code's notebook view does not let widgets use the microphone.")
    assert errors == ["denied", "no-microphone", "unavailable", "error"]

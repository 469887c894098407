"""SessionPanel in a real browser: JupyterLab + headless Debian Chromium driven by Playwright.

The notebook builds a SessionPanel on the practice server; the test clicks Start, sends a sample utterance,
watches the badge go through "ready" and "assistant speaking" to "stopped", and checks the transcript and the
replay player. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from browser_support import (
    ARTIFACTS,
    CHROMIUM,
    WATCH_PANEL,
    WIDGET_FAILURE,
    Lab,
    badge_label_is,
    button,
    chromium,
    copy_lesson,
    jupyter_server,
    open_notebook,
    run_all_cells,
    sync_api,
    wait_for_all_cells,
)

NOTEBOOK = "panel.ipynb"
LESSON = "04_full_session.ipynb"
SAMPLE = "pyramids.wav"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),  # a hard bound; a run takes ~15 s
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium is not installed ({CHROMIUM} is missing)"),
]


def write_notebooks(folder: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from voicelive_lab.audio import RecordingSpeaker, WavMicrophone\n"
            "from voicelive_lab.widgets import SessionPanel\n"
            "\n"
            "panel = SessionPanel(microphone=WavMicrophone(realtime=True), speaker=RecordingSpeaker(realtime=True))\n"
            "panel"
        )
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / NOTEBOOK)
    copy_lesson(LESSON, folder)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    served = tmp_path / "notebooks"
    served.mkdir()
    write_notebooks(served)
    with jupyter_server(tmp_path, served) as running:
        yield running


def test_session_panel_runs_a_conversation_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob("session-panel-*"):
        stale.unlink()
    console: list[str] = []
    started = time.monotonic()
    timings: dict[str, float] = {}

    def mark(step: str) -> None:
        timings[step] = round(time.monotonic() - started, 1)

    with chromium(tmp_path, console, devices=False, failure_name="session-panel") as (_, page):
        mark("browser")
        open_notebook(page, lab, NOTEBOOK)
        mark("kernel idle")

        page.evaluate(WATCH_PANEL)
        timings["run all attempts"] = run_all_cells(page)
        panel = page.locator(".vl-session-panel")
        panel.wait_for(state="visible", timeout=30_000)
        badge = panel.locator(".vl-badge")
        page.wait_for_function(badge_label_is("idle"))
        mark("panel shown")

        button(panel, "Start").click()
        page.wait_for_function(badge_label_is("ready"))
        mark("ready")

        panel.locator("select").select_option(SAMPLE)
        button(panel, "Send sample utterance").click()
        page.wait_for_function(badge_label_is("assistant speaking"))
        mark("assistant speaking")
        page.screenshot(path=ARTIFACTS / "session-panel-speaking.png")

        transcript = panel.locator(".vl-transcript")
        sync_api.expect(transcript).to_contain_text("Assistant:")
        sync_api.expect(transcript).to_contain_text("You: Who built the pyramids of Giza?")
        sync_api.expect(transcript).to_contain_text("pharaohs")
        mark("reply in transcript")
        # Let the reply finish playing, so the recording holds all of it.
        page.wait_for_function(f"() => !({badge_label_is('assistant speaking')})()", timeout=30_000)
        mark("reply played")

        button(panel, "Stop").click()
        page.wait_for_function(badge_label_is("stopped"))
        mark("stopped")
        player = panel.locator("audio")
        sync_api.expect(player).to_have_count(1)
        player.scroll_into_view_if_needed()
        page.wait_for_function("(audio) => audio.readyState >= 1", arg=player.element_handle())
        recording_s = player.evaluate("(audio) => audio.duration")
        page.screenshot(path=ARTIFACTS / "session-panel-stopped.png")
        mark("replay player shown")

        seen = page.evaluate("() => window.__vlBadges")
        levels = page.evaluate("() => window.__vlLevels")
        final = badge.inner_text()
        stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        error_outputs = [*stderr.all_inner_texts(), *tracebacks.all_inner_texts()]
        shows_failure = page.get_by_text("Error displaying widget").count()

    print(f"timings (s): {timings}\nbadge: {seen}\nlevels (%): {levels}\nrecording: {recording_s:.2f} s")
    print("console:", *console, sep="\n  ")
    states = [label for label, _ in seen]
    assert "error" not in final.lower(), f"the badge ended as {final!r}"
    assert "error" not in states, f"the badge showed an error on the way: {seen}"
    assert states[-1] == "stopped", f"badge texts: {seen}"
    assert states.index("ready") < states.index("assistant speaking"), f"badge texts: {seen}"
    assert not error_outputs, f"the notebook printed errors: {error_outputs}"
    assert shows_failure == 0, "a widget did not render"
    uncaught = [message for message in console if message.startswith("pageerror:")]
    assert not uncaught, f"uncaught exceptions in the page: {uncaught}"
    widget_errors = [message for message in console if message.startswith("error:") and WIDGET_FAILURE.search(message)]
    assert not widget_errors, f"widget errors in the browser console: {widget_errors}"
    assert levels.get("mic", 0) > 0 and levels.get("assistant", 0) > 0, f"the level bars never moved: {levels}"
    assert recording_s > 1.0, f"the replay player holds {recording_s:.2f} s of audio"


def test_lesson_04_runs_top_to_bottom_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    """A learner opens 04_full_session and runs every cell: the scripted panel converses, plots render."""
    ARTIFACTS.mkdir(exist_ok=True)
    console: list[str] = []
    with chromium(tmp_path, console, devices=False, failure_name="lesson-04") as (_, page):
        open_notebook(page, lab, LESSON)
        run_all_cells(page)
        wait_for_all_cells(page, timeout_s=100)
        panels = page.locator(".vl-session-panel")
        sync_api.expect(panels).to_have_count(2)
        scripted = panels.nth(1)
        sync_api.expect(scripted.locator(".vl-badge")).to_contain_text("stopped")
        sync_api.expect(scripted.locator(".vl-transcript")).to_contain_text("Assistant: Hello! Yes, I can hear you")
        sync_api.expect(scripted.locator(".vl-latency")).to_contain_text("turn 2: first audio after")
        sync_api.expect(page.get_by_text("Turns: 2 (completed, completed)")).to_have_count(1)
        sync_api.expect(page.locator(".jp-RenderedImage img")).to_have_count(3)
        sync_api.expect(scripted.locator("audio")).to_have_count(1)  # the panel's own replay, after Stop
        sync_api.expect(page.locator(".jp-OutputArea-output audio")).to_have_count(2)  # and the replay cell's
        scripted.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "lesson-04-scripted-panel.png")
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        error_texts = errors.all_inner_texts()
        widget_failures = page.get_by_text("Error displaying widget").count()
    assert not error_texts, f"a cell failed: {error_texts}"
    assert widget_failures == 0, "a widget did not render"
    assert not [m for m in console if m.startswith("pageerror:")], console

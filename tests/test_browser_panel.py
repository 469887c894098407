"""SessionPanel in a real browser: JupyterLab + headless Debian Chromium driven by Playwright.

The notebook builds a SessionPanel on the practice server; the test clicks Start, sends a sample utterance,
watches the badge go through "ready" and "assistant speaking" to "stopped", and checks the transcript and the
replay player. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest

CHROMIUM = Path("/usr/lib/chromium/chromium")  # the real binary; /usr/bin/chromium is a wrapper script
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = "panel.ipynb"
LESSON = "04_full_session.ipynb"
SAMPLE = "pyramids.wav"
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Console errors (text and source URL) that mean a widget did not render: ipywidgets / jupyterlab-manager wording,
# or a failed load of the widgets extension's files. Only "error" messages are checked; JupyterLab's "debug" lines
# ("Starting application in workspace", "Starting WebSocket: ...") are expected and ignored.
WIDGET_FAILURE = re.compile(
    r"widget|model not found|could not (create|render)|failed to (load|render)|jupyter-widgets", re.IGNORECASE
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),  # a hard bound; a run takes ~15 s
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium is not installed ({CHROMIUM} is missing)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@dataclass
class Lab:
    url: str
    token: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_notebook(folder: Path) -> None:
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
    lesson = nbformat.read(ROOT / "notebooks" / LESSON, as_version=4)
    for cell in lesson.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(lesson, folder / LESSON)


def wait_for_status(lab: Lab, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{lab.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer /api/status within {timeout:.0f} s:\n{lab.log.read_text()[-3000:]}")


def stop_lab(lab: Lab, process: subprocess.Popen[bytes]) -> None:
    """Shut the server down (it stops its kernels), then end whatever it started that is still alive."""
    children = []
    with contextlib.suppress(psutil.NoSuchProcess):
        children = psutil.Process(process.pid).children(recursive=True)
    if process.poll() is None:
        try:
            request = urllib.request.Request(f"{lab.url}/api/shutdown?token={lab.token}", method="POST")
            urllib.request.urlopen(request, timeout=5).close()
        except (urllib.error.URLError, OSError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()  # psutil checks it is still the same process, so a reused pid is never hit
    psutil.wait_procs(children, timeout=5)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab serving tmp_path/notebooks, with its own config, runtime, settings and workspaces folders.

    JUPYTER_DATA_DIR is left alone: the kernelspec and the widgets lab extension are found through sys.prefix."""
    served = tmp_path / "notebooks"
    served.mkdir()
    write_notebook(served)
    home = tmp_path / "jupyter"
    # No "Would you like to get notified about official Jupyter news?" toast over the screenshots.
    news = home / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items() if key not in ("JUPYTER_TOKEN", "JUPYTER_PASSWORD")}
    env.update(
        VOICELIVE_LAB_BACKEND="practice",  # conftest sets it too; the kernel inherits it from the server
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        PYTHONUNBUFFERED="1",
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--IdentityProvider.token={token}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={served}",
        "--LabApp.news_url=",  # nothing fetched from the internet
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no PyPI queries from the extension manager
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    lab = Lab(url=f"http://127.0.0.1:{port}", token=token, log=tmp_path / "jupyterlab.log")
    with lab.log.open("wb") as log:
        process = subprocess.Popen(command, cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_status(lab, process, timeout=40)
        yield lab
    finally:
        stop_lab(lab, process)


# Records every [state label, text] the badge shows, so a short-lived "error" between two polls is still seen,
# and the highest fill of each level bar ("mic", "assistant").
WATCH_PANEL = """() => {
  window.__vlBadges = [];
  window.__vlLevels = {};
  const record = () => {
    const panel = document.querySelector('.vl-session-panel');
    if (!panel) return;
    const badge = panel.querySelector('.vl-badge');
    const label = badge && badge.querySelector('span');
    if (label) {
      const entry = [label.innerText.trim(), badge.innerText.trim()];
      const seen = window.__vlBadges;
      if (seen.length === 0 || seen[seen.length - 1][1] !== entry[1]) seen.push(entry);
    }
    for (const bar of panel.querySelectorAll('.widget-hprogress')) {
      const name = bar.querySelector('.widget-label');
      const fill = bar.querySelector('.progress-bar');
      if (!name || !fill) continue;
      const key = name.innerText.trim();
      window.__vlLevels[key] = Math.max(window.__vlLevels[key] || 0, parseFloat(fill.style.width) || 0);
    }
  };
  new MutationObserver(record).observe(
    document.body, {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['style']});
  record();
}"""


def button(panel: sync_api.Locator, description: str) -> sync_api.Locator:
    """A panel button by its description (its accessible name also holds the icon's glyph, so no get_by_role)."""
    return panel.locator("button.jupyter-button", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))


def run_all_cells(page: sync_api.Page, attempts: int = 5) -> int:
    """Run → Run All Cells, retried while the cell has not started. Returns the attempts used.

    During development one click right after the kernel reported idle ran nothing (the cause was not pinned down);
    selecting the cell first and checking the prompt makes a silent no-op visible and retryable. A retry only
    happens while the prompt is still "[ ]:", so the cell never runs twice."""
    menu = page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$"))
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
    item = page.locator(".lm-Menu-item", has=label)
    prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").first
    for attempt in range(1, attempts + 1):
        prompt.click()  # select the cell: the notebook becomes the current widget
        menu.click()
        item.wait_for(state="visible")
        if "lm-mod-disabled" in (item.get_attribute("class") or ""):
            page.keyboard.press("Escape")
        else:
            item.click()
            with contextlib.suppress(sync_api.TimeoutError):
                # "[*]:" while it runs, "[1]:" when done; "[ ]:" means the command did not run.
                sync_api.expect(prompt).not_to_have_text(re.compile(r"^\s*\[\s*\]:?\s*$"), timeout=3000)
                return attempt
        page.wait_for_timeout(500)
    pytest.fail(f"Run All Cells did not start the notebook in {attempts} attempts")


def badge_label_is(label: str) -> str:
    """A JS predicate: the badge's state label (its first span) is ``label``."""
    return (
        "() => { const s = document.querySelector('.vl-session-panel .vl-badge span');"
        f" return s !== null && s.innerText.trim() === {json.dumps(label)}; }}"
    )


def save_failure(page: sync_api.Page | None) -> None:
    """What the browser showed when the test failed: a screenshot and the panel's HTML, for the CI artifacts."""
    if page is None:
        return
    with contextlib.suppress(Exception):
        page.screenshot(path=ARTIFACTS / "session-panel-failure.png")
        panels = page.locator(".vl-session-panel")
        html = panels.first.inner_html(timeout=2000) if panels.count() else page.content()
        (ARTIFACTS / "session-panel-failure.html").write_text(html)


@contextlib.contextmanager
def browser_page(tmp_path: Path, console: list[str]) -> Iterator[sync_api.Page]:
    """Headless Debian Chromium with a fresh profile; console messages and page errors go to ``console``."""
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(20_000)
            page.on("console", lambda m: console.append(f"{m.type}: {m.text} <{m.location.get('url', '')}>"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            try:
                yield page
            except BaseException:  # pytest-timeout's Failed too
                save_failure(page)
                raise
        finally:
            context.close()


def test_session_panel_runs_a_conversation_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob("session-panel-*"):
        stale.unlink()
    console: list[str] = []
    started = time.monotonic()
    timings: dict[str, float] = {}

    def mark(step: str) -> None:
        timings[step] = round(time.monotonic() - started, 1)

    with browser_page(tmp_path, console) as page:
        mark("browser")

        page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}", wait_until="domcontentloaded")
        config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
        extensions = [extension["name"] for extension in config.get("federated_extensions", [])]
        assert WIDGETS_EXTENSION in extensions, f"the ipywidgets lab extension is not served: {extensions}"
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=40_000)
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
    assert timings["replay player shown"] < 90


# textContent, not innerText: JupyterLab skips rendering cells scrolled out of view (content-visibility), and
# innerText of those is empty, so a cell that had run would look as if it never had.
ALL_CELLS_RAN = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def test_lesson_04_runs_top_to_bottom_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    """A learner opens 04_full_session and runs every cell: the scripted panel converses, plots render."""
    ARTIFACTS.mkdir(exist_ok=True)
    console: list[str] = []
    with browser_page(tmp_path, console) as page:
        page.goto(f"{lab.url}/lab/tree/{LESSON}?token={lab.token}", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=40_000)
        run_all_cells(page)
        page.wait_for_function(ALL_CELLS_RAN, timeout=90_000)
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

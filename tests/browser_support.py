"""JupyterLab or Notebook 7 and headless Debian Chromium driven by Playwright, for the browser tests and benchmark.

A server of either front end with its own config, runtime, settings and workspaces folders; Chromium with a
fresh profile and, when asked, Chromium's fake capture device reading a WAV this module writes; running all
cells; notebooks written from code cells or copied from the lessons; a "probe" a notebook shows so a test can
read what the kernel knows (JSON written to a file) without running more cells; the page's audio counters.
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
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import nbformat
import numpy as np
import psutil
import pytest

from voicelive_lab.audio.audio_files import load_pcm16

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

CHROMIUM = Path("/usr/lib/chromium/chromium")  # the real binary; /usr/bin/chromium is a wrapper script
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
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
#: The kernel is idle: JupyterLab's execution indicator, or Notebook 7's kernel status in the header.
KERNEL_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-NotebookKernelStatus-idle"
#: [cells with an execution count, code cells]. textContent, not innerText: JupyterLab skips rendering cells
#: scrolled out of view (content-visibility), and innerText of those is empty.
CELLS_RUN = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  return [prompts.filter(p => /\\[\\d+\\]/.test(p.textContent)).length, prompts.length];
}"""
WIDGET_FAILURE = re.compile(
    r"widget|model not found|could not (create|render)|failed to (load|render)|jupyter-widgets", re.IGNORECASE
)


@dataclass
class Lab:
    url: str
    token: str
    log: Path
    app: str = "jupyterlab"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_status(lab: Lab, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{lab.app} exited with {process.returncode}:\n{lab.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{lab.app} did not answer /api/status within {timeout:.0f} s:\n{lab.log.read_text()[-3000:]}")


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


def badge_label_is(label: str) -> str:
    """A JS predicate: the badge's state label (its first span) is ``label``."""
    return (
        "() => { const s = document.querySelector('.vl-session-panel .vl-badge span');"
        f" return s !== null && s.innerText.trim() === {json.dumps(label)}; }}"
    )


def save_failure(page: sync_api.Page, name: str) -> None:
    """What the browser showed when a test failed: a screenshot and the panel's (or page's) HTML, for CI."""
    with contextlib.suppress(Exception):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{name}-failure.png")
        panels = page.locator(".vl-session-panel")
        html = panels.first.inner_html(timeout=2000) if panels.count() else page.content()
        (ARTIFACTS / f"{name}-failure.html").write_text(html)


@contextlib.contextmanager
def jupyter_server(
    tmp_path: Path,
    served: Path,
    *,
    app: Literal["jupyterlab", "notebook"] = "jupyterlab",
    kernel_sound: bool = True,
) -> Iterator[Lab]:
    """JupyterLab (or Notebook 7) serving ``served``, with its own config, runtime, settings and workspaces.

    JUPYTER_DATA_DIR is left alone: the kernelspec and the widgets extension are found through sys.prefix. With
    ``kernel_sound=False`` the kernels reach no PulseAudio server, as on JupyterHub or in Codespaces."""
    home = tmp_path / "jupyter"
    # No "Would you like to get notified about official Jupyter news?" toast over the screenshots.
    news = home / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(16)
    hidden = {"JUPYTER_TOKEN", "JUPYTER_PASSWORD"} | (set() if kernel_sound else {"PULSE_SERVER"})
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    env.update(
        VOICELIVE_LAB_BACKEND="practice",  # conftest sets it too; the kernel inherits it from the server
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        PYTHONUNBUFFERED="1",
    )
    if not kernel_sound:
        env["PULSE_SERVER"] = f"unix:{tmp_path / 'no-pulseaudio-here'}"
    command = [
        sys.executable,
        "-m",
        app,
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
    lab = Lab(url=f"http://127.0.0.1:{port}", token=token, log=tmp_path / f"{app}.log", app=app)
    with lab.log.open("wb") as log:
        process = subprocess.Popen(command, cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_status(lab, process, timeout=40)
        yield lab
    finally:
        stop_lab(lab, process)


@contextlib.contextmanager
def chromium(
    tmp_path: Path,
    console: list[str],
    *,
    fake_capture: Path | None = None,
    grant_microphone: bool = True,
    devices: bool = True,
    user_agent: str | None = None,
    failure_name: str = "browser",
) -> Iterator[tuple[sync_api.BrowserContext, sync_api.Page]]:
    """Headless Debian Chromium whose microphone is Chromium's fake device (reading ``fake_capture`` if given).

    With ``grant_microphone=False`` the permission prompt is not auto-accepted and the origin gets no
    microphone permission. With ``devices=False`` there is no fake device: headless Chromium then has no
    capture device at all, as on a machine with no microphone. When the test fails inside, a screenshot and the
    page's HTML go to test-artifacts/``failure_name``-failure.*."""
    args = list(CHROMIUM_ARGS)
    if devices:
        args += MEDIA_ARGS
    if grant_microphone:
        args += GRANT_ARGS
    if fake_capture is not None:
        args.append(f"--use-file-for-fake-audio-capture={fake_capture}")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=args,
            viewport={"width": 1280, "height": 1000},
            permissions=["microphone"] if grant_microphone else [],
            user_agent=user_agent,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(20_000)
            page.on("console", lambda m: console.append(f"{m.type}: {m.text} <{m.location.get('url', '')}>"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            try:
                yield context, page
            except BaseException:  # pytest-timeout's Failed too
                save_failure(page, failure_name)
                raise
        finally:
            context.close()


def open_notebook(page: sync_api.Page, lab: Lab, name: str) -> None:
    """Opens ``name`` and waits for its kernel. In JupyterLab, alone in a workspace of its own (so tabs left open
    by an earlier test stay closed)."""
    if lab.app == "notebook":
        url = f"{lab.url}/notebooks/{name}?token={lab.token}"
    else:
        url = f"{lab.url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={lab.token}"
    page.goto(url, wait_until="domcontentloaded")
    config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
    extensions = [extension["name"] for extension in config.get("federated_extensions", [])]
    assert WIDGETS_EXTENSION in extensions, f"the ipywidgets extension is not served: {extensions}"
    page.wait_for_selector(KERNEL_IDLE, timeout=40_000)


def run_all_cells(page: sync_api.Page, attempts: int = 5) -> int:
    """Run -> Run All Cells, retried while the first cell's prompt still reads "[ ]:". Returns the attempts used.

    The first notebook a fresh server opens sometimes ignores the first click (the cause was not pinned down);
    selecting the cell first and checking the prompt makes a silent no-op visible and retryable. A retry only
    happens while the prompt is still "[ ]:", so no cell runs twice. Playwright's expect() raises AssertionError
    when its time runs out."""
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
            with contextlib.suppress(AssertionError, sync_api.TimeoutError):
                # "[*]:" while it runs, "[1]:" when done; "[ ]:" means the command did not run.
                sync_api.expect(prompt).not_to_have_text(re.compile(r"^\s*\[\s*\]:?\s*$"), timeout=3000)
                return attempt
        page.wait_for_timeout(500)
    raise AssertionError(f"Run All Cells did not start the notebook in {attempts} attempts")


def wait_for_all_cells(page: sync_api.Page, timeout_s: float, idle_s: float = 20.0) -> None:
    """Wait until every code cell shows an execution count. Bounded by progress, not by a fixed time: fails when
    no further cell finishes for ``idle_s`` seconds, or after ``timeout_s`` in all."""
    deadline, last_count, last_progress = time.monotonic() + timeout_s, -1, time.monotonic()
    while True:
        done, total = page.evaluate(CELLS_RUN)
        if total and done == total:
            return
        now = time.monotonic()
        if done != last_count:
            last_count, last_progress = done, now
        if now - last_progress > idle_s or now > deadline:
            raise AssertionError(
                f"{done} of {total} cells had run; none finished in the last {now - last_progress:.0f} s"
            )
        page.wait_for_timeout(250)


def copy_lesson(name: str, folder: Path) -> None:
    """A lesson from notebooks/, without its stored outputs, as a learner opens it."""
    lesson = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    for cell in lesson.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(lesson, folder / name)


FAKE_CAPTURE_RATE = 48_000
MEDIA_ARGS = ["--use-fake-device-for-media-stream"]
GRANT_ARGS = ["--use-fake-ui-for-media-stream"]  # answers the permission prompt with "allow"


def write_fake_capture(path: Path, utterance: Path, *, lead_s: float, tail_s: float) -> float:
    """A 48 kHz mono WAV for --use-file-for-fake-audio-capture: silence, the utterance, silence (Chromium loops
    it). Returns the loop period in seconds."""
    speech = np.frombuffer(load_pcm16(utterance), dtype="<i2").astype(np.float64)
    # 24 kHz -> 48 kHz by linear interpolation: plenty for a recognizer that listens at 16-24 kHz.
    positions = np.arange(len(speech) * 2) / 2
    upsampled = np.interp(positions, np.arange(len(speech)), speech)
    lead, tail = np.zeros(int(lead_s * FAKE_CAPTURE_RATE)), np.zeros(int(tail_s * FAKE_CAPTURE_RATE))
    samples = np.concatenate([lead, upsampled, tail])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(FAKE_CAPTURE_RATE)
        out.writeframes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())
    return len(samples) / FAKE_CAPTURE_RATE


def write_notebook(path: Path, *cells: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def read_probe(path: Path) -> dict[str, Any]:
    """What the notebook's probe last wrote (the kernel's view); {} before it has written."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def page_audio_stats(page: sync_api.Page) -> dict[str, Any]:
    """The page side's counters and states for the first BrowserAudio on the page."""
    return page.evaluate(
        """() => {
          const registry = globalThis.voiceliveLabBrowserAudio;
          const audio = registry && [...registry.values()][0];
          return audio ? {...audio.stats, mic: audio.mic, output: audio.output,
                          context: audio.context && audio.context.state} : {};
        }"""
    )


#: Defines ``start_probe(report, path)``: an HTML widget showing ``report()`` as JSON, refreshed from a thread every
#: 200 ms until ``probe_stop`` is set, and the same JSON written to ``path`` (read with :func:`read_probe`; a file,
#: so the test can still read it after the page is closed).
PROBE_CELL = """
import html as _html, json as _json, os as _os, threading as _threading
import ipywidgets as _widgets

probe_stop = _threading.Event()

def start_probe(report, path):
    probe = _widgets.HTML()
    probe.add_class("vl-probe")
    def refresh():
        while not probe_stop.wait(0.2):
            try:
                text = _json.dumps(report())
            except Exception as error:
                text = _json.dumps({"probe_error": repr(error)})
            with open(path + ".tmp", "w") as out:
                out.write(text)
            _os.replace(path + ".tmp", path)
            probe.value = "<pre style='font-size:9px;white-space:pre-wrap'>" + _html.escape(text) + "</pre>"
    _threading.Thread(target=refresh, name="probe", daemon=True).start()
    return probe
"""

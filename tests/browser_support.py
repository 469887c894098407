"""JupyterLab + headless Debian Chromium with a fake microphone, for the browser-audio tests and benchmark.

Reuses the server and page helpers of test_browser_panel.py; adds Chromium's fake capture device reading a WAV
this module writes, a notebook written from code cells, and a "probe" the notebook shows so the test can read
what the kernel knows (JSON in an HTML widget) without running more cells.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
from playwright import sync_api
from test_browser_panel import CHROMIUM, CHROMIUM_ARGS, Lab, free_port, stop_lab, wait_for_status

from voicelive_lab.audio.pcm import load_pcm16

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


@contextlib.contextmanager
def jupyter_lab(tmp_path: Path, served: Path) -> Iterator[Lab]:
    """JupyterLab serving ``served`` with its own config, runtime, settings and workspaces folders."""
    home = tmp_path / "jupyter"
    news = home / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items() if key not in ("JUPYTER_TOKEN", "JUPYTER_PASSWORD")}
    env.update(
        VOICELIVE_LAB_BACKEND="practice",
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
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
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


@contextlib.contextmanager
def chromium(
    tmp_path: Path,
    console: list[str],
    *,
    fake_capture: Path | None,
    grant_microphone: bool = True,
    devices: bool = True,
    user_agent: str | None = None,
) -> Iterator[tuple[sync_api.BrowserContext, sync_api.Page]]:
    """Headless Debian Chromium whose microphone is Chromium's fake device (reading ``fake_capture`` if given).

    With ``grant_microphone=False`` the permission prompt is not auto-accepted and the origin gets no
    microphone permission. With ``devices=False`` there is no fake device: headless Chromium then has no
    capture device at all, as on a machine with no microphone."""
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
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            yield context, page
        finally:
            context.close()


def open_notebook(page: sync_api.Page, lab: Lab, name: str) -> None:
    """Opens ``name`` alone, in a workspace of its own (so tabs left open by an earlier test stay closed)."""
    workspace = Path(name).stem
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{name}?token={lab.token}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=40_000)


def run_all_cells(page: sync_api.Page, attempts: int = 5) -> int:
    """Run -> Run All Cells, retried while the first cell's prompt still reads "[ ]:" (the command did not run).

    As test_browser_panel.run_all_cells, but a prompt that stays "[ ]:" is retried: Playwright's expect() raises
    AssertionError (not TimeoutError) when its time runs out, which that helper does not catch. The first
    notebook a fresh JupyterLab opens sometimes ignores the first click."""
    menu = page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$"))
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
    item = page.locator(".lm-Menu-item", has=label)
    prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").first
    for attempt in range(1, attempts + 1):
        prompt.click()
        menu.click()
        item.wait_for(state="visible")
        if "lm-mod-disabled" in (item.get_attribute("class") or ""):
            page.keyboard.press("Escape")
        else:
            item.click()
            with contextlib.suppress(AssertionError, sync_api.TimeoutError):
                sync_api.expect(prompt).not_to_have_text(re.compile(r"^\s*\[\s*\]:?\s*$"), timeout=3000)
                return attempt
        page.wait_for_timeout(500)
    raise AssertionError(f"Run All Cells did not start the notebook in {attempts} attempts")


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

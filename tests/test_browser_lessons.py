"""The lessons beyond the lab, opened in JupyterLab as a learner opens them: every cell runs, no cell fails, and
every picture and widget renders in the page (headless Debian Chromium driven by Playwright).

The lessons are copied without their stored outputs and run with Run All Cells in a kernel with no sound devices,
as on JupyterHub. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from browser_support import (
    ARTIFACTS,
    CHROMIUM,
    ROOT,
    WIDGET_FAILURE,
    Lab,
    chromium,
    copy_lesson,
    jupyter_server,
    open_notebook,
    run_all_cells,
    wait_for_all_cells,
)

LESSONS = ["05_turn_taking.ipynb", "06_voices.ipynb", "07_tools.ipynb", "08_testing.ipynb"]
#: What a lesson's widgets show once its cells have run, as a learner would see it in the page.
WIDGETS_SAY = {"07_tools.ipynb": "The lamp is on"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium is not installed ({CHROMIUM} is missing)"),
]

#: What the page shows: outputs that are errors or stderr, pictures and whether each has loaded, widgets that
#: failed. textContent, not innerText: cells scrolled out of view are not laid out.
PAGE_OUTPUTS = """() => {
  const outputs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')];
  const failed = outputs.filter(o => /application\\/vnd\\.jupyter\\.(stderr|error)/.test(o.dataset.mimeType || ''));
  const images = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img')];
  return {
    failed: failed.map(o => o.textContent.slice(0, 400)),
    images: images.length,
    brokenImages: images.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    widgetErrors: [...document.querySelectorAll('.jp-Notebook .jupyter-widgets')]
      .map(w => w.textContent).filter(t => /Error displaying widget|model not found/i.test(t)),
  };
}"""


def stored_pictures(name: str) -> int:
    """The pictures the lesson's stored outputs hold: the page must show as many."""
    lesson = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    return sum("image/png" in output.get("data", {}) for cell in lesson.cells for output in cell.get("outputs", []))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    for name in LESSONS:
        copy_lesson(name, folder)
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, served: Path) -> Iterator[Lab]:
    with jupyter_server(tmp_path_factory.mktemp("lab"), served, kernel_sound=False) as running:
        yield running


@pytest.mark.parametrize("name", LESSONS)
def test_a_lesson_runs_in_jupyterlab_with_its_pictures_and_widgets(lab: Lab, name: str, tmp_path: Path) -> None:
    expected_pictures = stored_pictures(name)
    assert expected_pictures >= 1, f"{name} stores at least one picture"
    console: list[str] = []
    with chromium(tmp_path, console, devices=False, failure_name=f"lesson-{name[:2]}") as (_, page):
        open_notebook(page, lab, name)
        run_all_cells(page)
        wait_for_all_cells(page, timeout_s=150, idle_s=45)
        page.wait_for_function(f"() => ({PAGE_OUTPUTS})().images >= {expected_pictures}", timeout=20_000)
        if name in WIDGETS_SAY:  # the kernel changed the widget during the session; the page shows the change
            page.locator(".jupyter-widgets", has_text=WIDGETS_SAY[name]).first.wait_for(timeout=10_000)
        shown = page.evaluate(PAGE_OUTPUTS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"lesson-{name[:2]}.png", full_page=True)
    assert shown["failed"] == [], f"cells of {name} failed or wrote to stderr: {shown['failed']}"
    assert shown["brokenImages"] == 0, f"{shown['brokenImages']} of {shown['images']} pictures did not load"
    assert shown["widgetErrors"] == [], shown["widgetErrors"]
    errors = [line for line in console if line.startswith(("error:", "pageerror:")) and WIDGET_FAILURE.search(line)]
    assert errors == [], errors

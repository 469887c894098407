#!/usr/bin/env python3
"""Run lessons top to bottom against the practice service and store their outputs, as nbval will compare them.

Each lesson runs in a fresh kernel from ``notebooks/``, with the practice backend whatever ``.env`` says and no
PulseAudio server (so the outputs are those of a machine without sound devices, as in CI). An audio player
whose output did not come out the same as the one stored before is dropped, and its cell stored unexecuted so
that nbval runs it without comparing: the practice voice is eSpeak NG, whose samples differ slightly from run
to run (a player of a sample file stays). Then the lessons are formatted with ruff and the
exercises rebuilt.

Usage::

    python scripts/run_lessons.py                         # every lesson
    python scripts/run_lessons.py notebooks/05_*.ipynb    # some lessons
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
AUDIO_PLAYER = "data:audio/"


def run_lesson(path: Path) -> float:
    """Execute ``path`` in place; return the seconds it took."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=180,
        store_widget_state=False,
        record_timing=False,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    before = [cell.get("outputs") for cell in notebook.cells]
    started = time.monotonic()
    client.execute()
    seconds = time.monotonic() - started
    for cell, stored in zip(notebook.cells, before, strict=True):
        if cell.cell_type != "code" or not any(AUDIO_PLAYER in str(o.get("data", "")) for o in cell.outputs):
            continue
        if _without_counts(cell.outputs) != _without_counts(stored or []):  # an audio player that did not reproduce
            cell.outputs = []
            cell.execution_count = None  # nbval runs a cell stored unexecuted, without comparing its outputs
    nbformat.write(notebook, path)
    return seconds


def _without_counts(outputs: list[dict]) -> list[dict]:
    return [{key: value for key, value in output.items() if key != "execution_count"} for output in outputs]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("lessons", nargs="*", type=Path, help="lesson notebooks (default: all of notebooks/)")
    args = parser.parse_args(argv)
    lessons = [path.resolve() for path in args.lessons] or sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    os.environ["VOICELIVE_LAB_BACKEND"] = "practice"
    os.environ.pop("PULSE_SERVER", None)
    for path in lessons:
        print(f"{path.name}: ran in {run_lesson(path):.1f} s", flush=True)
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "ruff"), "format", *map(str, lessons)], check=True)
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "build_exercises.py")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

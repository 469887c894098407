"""A learner who opens an exercise and runs everything meets the first checker's friendly message."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXERCISES = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(name: str) -> tuple[nbformat.NotebookNode, CellExecutionError | None]:
    notebook = nbformat.read(EXERCISES / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(EXERCISES)}}
    )
    try:
        client.execute()
    except CellExecutionError as error:
        return notebook, error
    return notebook, None


@pytest.mark.parametrize(
    ("name", "section", "function"),
    [
        ("01_init_and_start.ipynb", 1, "__init__"),
        ("02_session_config.ipynb", 2, "build_session"),
        ("03_event_handlers.ipynb", 3, "_handle_event"),
    ],
)
def test_an_exercise_stops_at_its_checker_with_a_friendly_message(name: str, section: int, function: str) -> None:
    notebook, error = run(name)
    assert error is not None, "the blanked section must not pass its check"
    failed = [cell for cell in notebook.cells if any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
    assert len(failed) == 1 and f"check_section_{section}(LabAssistant)" in failed[0].source
    (output,) = [o for o in failed[0].outputs if o.output_type == "error"]
    shown = [ANSI.sub("", line) for line in output.traceback]
    assert output.ename == "CheckFailed"
    assert len(shown) == 4, "the message alone, no traceback wall"
    assert shown[0].startswith(f"❌ Section {section} (") and "is not there yet" in shown[0]
    assert "not written yet" in "\n".join(shown) and function in "\n".join(shown)
    assert not any("File " in line or "Traceback" in line for line in shown)


@pytest.mark.parametrize("name", ["00_setup.ipynb", "04_full_session.ipynb"])
def test_exercises_without_a_section_run_to_the_end(name: str) -> None:
    _, error = run(name)
    assert error is None

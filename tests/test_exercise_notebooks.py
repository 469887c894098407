"""A learner who opens an exercise and runs everything meets the first checker's friendly message."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from support import shown_lines

EXERCISES = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"


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
    ("name", "section", "stub"),
    [
        ("01_init_and_start.ipynb", 1, "Section 1: write __init__ here"),
        ("02_session_config.ipynb", 2, "Section 2: configure the session here"),
        ("03_event_handlers.ipynb", 3, "Section 3: write _handle_event here"),
    ],
)
def test_an_exercise_stops_at_its_check_with_a_friendly_message(name: str, section: int, stub: str) -> None:
    notebook, error = run(name)
    assert error is not None, "the blanked section must not pass its check"
    failed = [cell for cell in notebook.cells if any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
    assert len(failed) == 1 and f"check_section_{section}()" in failed[0].source, "the class cell itself runs"
    (output,) = [o for o in failed[0].outputs if o.output_type == "error"]
    shown = shown_lines(output)
    assert output.ename == "CheckFailed"
    assert len(shown) == 5, "the message alone, no traceback wall"
    assert shown[0].startswith(f"❌ Section {section} (") and "is not there yet" in shown[0]
    assert "a stub is still there" in shown[2] and stub in shown[2]
    assert shown[3].startswith("  Where:    Cell In[") and "raise NotImplementedError" in shown[3]
    assert not any("File " in line or "Traceback" in line for line in shown)


@pytest.mark.parametrize("name", ["01_init_and_start.ipynb", "03_event_handlers.ipynb"])
def test_after_a_failed_check_the_cells_below_say_so_in_one_line(name: str) -> None:
    notebook = nbformat.read(EXERCISES / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=60, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(EXERCISES)}}
    )
    client.execute()
    check = next(i for i, cell in enumerate(notebook.cells) if "check_section_" in cell.source)
    below = [cell for cell in notebook.cells[check + 1 :] if cell.cell_type == "code"]
    assert below, "the exercise has cells below its check"
    for cell in below:
        (output,) = cell.outputs
        assert output.output_type == "error" and output.ename == "SectionNotDone"
        assert shown_lines(output) == [
            f"⏭  Finish section {name[1]} ({'initialise and start' if name[1] == '1' else 'handle session events'}) "
            "first: its check above has not passed yet."
        ]


@pytest.mark.parametrize("name", ["00_setup.ipynb", "04_full_session.ipynb"])
def test_exercises_without_a_section_run_to_the_end(name: str) -> None:
    _, error = run(name)
    assert error is None

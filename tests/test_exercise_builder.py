"""``scripts/build_exercises.py``: the lessons carry the kit's class verbatim, and each exercise blanks exactly
one section of it with stubs that say what to write (no kernel needed)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

from voicelive_lab.checks import SECTION_METHODS

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build_exercises.py"
RUFF = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_exercises", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


builder = _load_builder()
REFERENCE = builder.reference_class()


def region(source: str, section: int) -> str:
    marker = builder.MARKERS[section]
    found = re.search(rf"# BEGIN {re.escape(marker)}\n(.*?)\n[ \t]*# END {re.escape(marker)}", source, re.DOTALL)
    assert found is not None
    return found.group(1)


def outside(source: str, section: int) -> str:
    return source.replace(region(source, section), "<gap>")


@pytest.mark.parametrize("section", [1, 2, 3])
def test_blanking_a_section_changes_only_that_section(section: int) -> None:
    exercise = builder.blank_section(REFERENCE, section)
    assert outside(exercise, section) == outside(REFERENCE, section), "the rest of the class is the kit's, verbatim"
    for other in {1, 2, 3} - {section}:
        assert region(exercise, other) == region(REFERENCE, other)
    gap = region(exercise, section)
    assert "NotImplementedError" in gap and f"Section {section}" in gap
    assert "self.state_callback(" not in gap or section == 3, "the solution itself is gone"
    compile(exercise, "<exercise>", "exec")  # a learner can run the cell before writing anything


def test_each_section_3_stub_says_what_its_method_does() -> None:
    gap = region(builder.blank_section(REFERENCE, 3), 3)
    docstrings = re.findall(r'def (\w+)\(.*?\):\n\s+"""(.*?)"""', gap, re.DOTALL)
    names = [name for name, _ in docstrings]
    assert tuple(names) == SECTION_METHODS[3], "one stub per method the lab's section 3 writes, in its order"
    assert len({doc for _, doc in docstrings}) == len(docstrings), "no two stubs say the same thing"
    said = dict(docstrings)
    assert "stop_playback" in said["_handle_speech_started"] and "first" in said["_handle_speech_started"]
    assert '"processing"' in said["_handle_speech_stopped"]
    assert "base64.b64encode(event.delta)" in said["_handle_audio_delta"]
    assert "self._stopping = True" in said["request_stop"]


@pytest.mark.parametrize(
    "source",
    ["class A:\n    pass", "# BEGIN CONFIGURE VOICE LIVE SESSION - ALIGN CODE WITH COMMENT\nx = 1"],
    ids=["no markers", "no END marker"],
)
def test_missing_markers_are_a_clear_error(source: str) -> None:
    with pytest.raises(builder.ExerciseBuildError, match="expected one '# BEGIN"):
        builder.blank_section(source, 2, "lesson.ipynb, cell 3")


def _lesson(section: int | None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    if section:
        nb.metadata["voicelive_lab"] = {"section": section}
    cls = nbformat.v4.new_code_cell("class BasicVoiceAssistant:\n    pass")
    cls.metadata["tags"] = ["lab-class"]
    ran = nbformat.v4.new_code_cell("print('hi')")
    ran.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    ran.execution_count = 4
    ran.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    answer = nbformat.v4.new_markdown_cell("The answer.")
    answer.metadata["tags"] = ["solution-only"]
    nb.cells = [ran, cls, answer]
    return nb


def test_a_lesson_gets_the_kits_class_and_its_exercise_is_cleaned(tmp_path: Path) -> None:
    nbformat.write(_lesson(2), tmp_path / "02_x.ipynb")
    nbformat.write(_lesson(None), tmp_path / "04_y.ipynb")
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "99_gone.ipynb").write_text("{}")

    assert builder.stale(tmp_path)
    builder.write(tmp_path)
    assert builder.stale(tmp_path) == [], "a second look finds nothing to do (deterministic)"
    assert not (tmp_path / "exercises" / "99_gone.ipynb").exists(), "leftover exercises are removed"

    lesson = nbformat.read(tmp_path / "02_x.ipynb", as_version=4)
    assert lesson.cells[1].source == REFERENCE and lesson.cells[0].outputs, "lessons keep their outputs"
    exercise = nbformat.read(tmp_path / "exercises" / "02_x.ipynb", as_version=4)
    assert [c.cell_type for c in exercise.cells] == ["code", "code"], "solution-only cells are dropped"
    assert exercise.cells[0].outputs == [] and exercise.cells[0].execution_count is None
    assert "execution" not in exercise.cells[0].metadata and "widgets" not in exercise.metadata
    assert exercise.cells[1].source == builder.blank_section(REFERENCE, 2)
    assert exercise.metadata["voicelive_lab"] == {"exercise": True, "source": "../02_x.ipynb"}
    plain = nbformat.read(tmp_path / "exercises" / "04_y.ipynb", as_version=4)
    assert plain.cells[1].source == REFERENCE, "a lesson without a section is not blanked"


def test_the_committed_lessons_and_exercises_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_exercises_pass_ruff() -> None:
    exercises = str(ROOT / "notebooks" / "exercises")
    for command in ([RUFF, "check", exercises], [RUFF, "format", "--check", exercises]):
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        assert result.returncode == 0, result.stdout + result.stderr

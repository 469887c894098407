"""``scripts/build_exercises.py``: learner exercises generated from the complete notebooks (no kernel needed)."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest

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

BASE_CELL = '''\
class VoiceAssistant:
    """Stands for the kit's base class."""

    state = "idle"


class Event:
    def __init__(self, type: str) -> None:
        self.type = type'''

BEFORE_REGION = '''\
class LabAssistant(VoiceAssistant):
    """The lab's assistant, written by the learner."""

    greeting = "hello"

'''
REGION_BODY = '''\
    # The service calls these for every event.
    async def handle_event(self, event: Event) -> None:
        # Dispatch on the type.
        if event.type == "session.updated":
            self.state = "ready"

    @staticmethod
    def describe(
        event: Event,
        *,
        verbose: bool = False,
    ) -> str:
        """Say what the event was → in one line.

        A "quoted" word and a second paragraph stay as written.
        """
        return f"event {event.type}"
'''
AFTER_REGION = """
    def untouched(self) -> int:
        return 42"""
CLASS_CELL = (
    BEFORE_REGION
    + "    # BEGIN HANDLE SESSION EVENTS\n"
    + REGION_BODY
    + "\n    # END HANDLE SESSION EVENTS\n"
    + AFTER_REGION
)
SIGNATURE = """\
    @staticmethod
    def describe(
        event: Event,
        *,
        verbose: bool = False,
    ) -> str:
"""
DOCSTRING = '''\
        """Say what the event was → in one line.

        A "quoted" word and a second paragraph stay as written.
        """
'''
SESSION_CELL = """\
%load_ext autoreload
# BEGIN CONFIGURE VOICE LIVE SESSION
def build_session(voice: str) -> dict[str, Any]:  # what the service is asked for
    return {"voice": voice, "modalities": ["text", "audio"]}


# END CONFIGURE VOICE LIVE SESSION
session = await make_session()"""


def code_cell(source: str, *, tags: list[str] | None = None, outputs: bool = True) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.id = "cell-" + hashlib.sha1(source.encode()).hexdigest()[:8]
    if outputs:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
        cell.execution_count = 3
        cell.metadata["execution"] = {"iopub.execute_input": "2025-01-01T00:00:00Z"}
        cell.metadata["ExecuteTime"] = {"end_time": "2025-01-01T00:00:01Z"}
        cell.metadata["jupyter"] = {"outputs_hidden": True, "source_hidden": False}
    if tags:
        cell.metadata["tags"] = tags
    return cell


def lesson(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.cells = list(cells)
    return nb


def write_lessons(folder: Path, **notebooks: nbformat.NotebookNode) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


def functions(tree: ast.AST) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {node.name: node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def run_builder(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


# ---------------------------------------------------------------------------------------------------------------
# One cell
# ---------------------------------------------------------------------------------------------------------------


def test_stubs_keep_signatures_docstrings_markers_and_everything_outside_the_region() -> None:
    stubbed = builder.stub_regions(CLASS_CELL, "lesson.ipynb, cell 2")

    head, rest = stubbed.split("    # BEGIN HANDLE SESSION EVENTS\n")
    region, tail = rest.split("    # END HANDLE SESSION EVENTS\n")
    assert head == BEFORE_REGION
    assert tail == AFTER_REGION
    assert region.startswith("    # The service calls these for every event.\n    async def handle_event(")
    assert SIGNATURE + DOCSTRING in region  # the multi-line signature and the docstring, verbatim
    for solution in ("Dispatch on the type", "session.updated", "self.state", "return f"):
        assert solution not in region

    tree = ast.parse(stubbed)
    original = functions(ast.parse(CLASS_CELL))
    stubs = functions(tree)
    assert isinstance(stubs["handle_event"], ast.AsyncFunctionDef)
    assert [ast.unparse(d) for d in stubs["describe"].decorator_list] == ["staticmethod"]
    for name in ("handle_event", "describe"):
        assert ast.dump(stubs[name].args) == ast.dump(original[name].args)
        assert ast.dump(stubs[name].returns) == ast.dump(original[name].returns)  # type: ignore[arg-type]
        assert ast.get_docstring(stubs[name]) == ast.get_docstring(original[name])
        statement = stubs[name].body[-1]
        assert isinstance(statement, ast.Raise) and isinstance(statement.exc, ast.Call)
        assert ast.unparse(statement.exc.func) == "NotImplementedError"
        message = ast.literal_eval(ast.unparse(statement.exc.args[0]))
        assert message == (
            f"Section 3 (handle session events) is not written yet: write {name} here, then run the check below."
        )
    assert ast.dump(stubs["untouched"]) == ast.dump(original["untouched"])
    assert region.count("# Your code here: react to each event's type") == 2


def test_the_stubbed_class_defines_and_each_method_raises_only_when_called() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(BASE_CELL, "<base>", "exec"), namespace)
    exec(compile(builder.stub_regions(CLASS_CELL, "lesson.ipynb, cell 2"), "<exercise>", "exec"), namespace)

    assistant = namespace["LabAssistant"]()  # defining and creating the class works: nothing raises yet
    assert assistant.untouched() == 42
    event = namespace["Event"]("session.updated")
    with pytest.raises(NotImplementedError, match=r"^Section 3 \(handle session events\).*write describe here"):
        assistant.describe(event, verbose=True)
    with pytest.raises(NotImplementedError, match=r"^Section 3 \(handle session events\).*write handle_event here"):
        asyncio.run(assistant.handle_event(event))
    assert assistant.state == "idle"


def test_top_level_region_in_a_cell_with_ipython_syntax() -> None:
    stubbed = builder.stub_regions(SESSION_CELL, "lesson.ipynb, cell 4")
    assert stubbed.startswith("%load_ext autoreload\n# BEGIN CONFIGURE VOICE LIVE SESSION\n")
    assert stubbed.endswith("\n\n\n# END CONFIGURE VOICE LIVE SESSION\nsession = await make_session()")
    # The comment after the signature's colon is part of the signature line and stays.
    assert "def build_session(voice: str) -> dict[str, Any]:  # what the service is asked for\n    #" in stubbed
    assert '"voice": voice' not in stubbed
    namespace: dict[str, Any] = {"Any": Any}
    region = stubbed.split("\n", 1)[1].rsplit("\n", 1)[0]
    exec(compile(region, "<exercise>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"^Section 2 \(configure the session\).*build_session"):
        namespace["build_session"]("alloy")


def test_one_line_bodies_trailing_body_comments_and_section_one() -> None:
    source = textwrap.dedent(
        """\
        class Lab:
            # BEGIN VOICE LIVE ASSISTANT IMPLEMENTATION
            async def start(self): await self.connect()

            def stop(self) -> None:
                self.closed = True
                # the connection closes itself
            # a comment about the section stays
            # END VOICE LIVE ASSISTANT IMPLEMENTATION
        """
    )
    stubbed = builder.stub_regions(source, "lesson.ipynb, cell 1")
    assert "    async def start(self):\n        # Your code here: async with connect(...) as conn: keep conn" in stubbed
    assert "the connection closes itself" not in stubbed
    assert "    # a comment about the section stays\n    # END VOICE LIVE ASSISTANT IMPLEMENTATION\n" in stubbed
    assert "Section 1 (initialise and start the assistant) is not written yet: write stop here" in stubbed
    ast.parse(stubbed)


def test_cells_without_markers_are_unchanged() -> None:
    source = "# Begin by connecting (an ordinary comment)\nx = 1  # END of story\n"
    assert builder.stub_regions(source, "lesson.ipynb, cell 1") == source


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("# BEGIN HANDLE SESSION EVENTS\ndef f():\n    pass\n", r"line 1: .*is never closed"),
        ("def f():\n    pass\n# END HANDLE SESSION EVENTS\n", r"line 3: .*with no '# BEGIN HANDLE SESSION EVENTS'"),
        (
            "# BEGIN HANDLE SESSION EVENTS\ndef f():\n    pass\n# END CONFIGURE VOICE LIVE SESSION\n",
            r"line 4: .*closes the region opened by '# BEGIN HANDLE SESSION EVENTS' on line 1",
        ),
        (
            "# BEGIN HANDLE SESSION EVENTS\n# BEGIN CONFIGURE VOICE LIVE SESSION\n",
            r"line 2: .*inside the region opened by",
        ),
        ("# BEGIN HANDLE AUDIO EVENTS\ndef f():\n    pass\n", r"line 1: unknown section marker .*HANDLE AUDIO EVENTS"),
        ("# begin handle session events\n", r"line 1: write the marker exactly as '# BEGIN HANDLE SESSION EVENTS'"),
        (
            "class A:\n    # BEGIN HANDLE SESSION EVENTS\n    limit = 3\n\n    def f(self):\n        pass\n"
            "    # END HANDLE SESSION EVENTS\n",
            r"line 3: .*only function definitions, comments and blank lines, but it has 'limit = 3' \(Assign\)",
        ),
        (
            "# BEGIN HANDLE SESSION EVENTS\n%time f()\n# END HANDLE SESSION EVENTS\n",
            r"line 2: .*is not valid Python on its own",
        ),
        (
            "# BEGIN HANDLE SESSION EVENTS\n# nothing yet\n# END HANDLE SESSION EVENTS\n",
            r"line 1: .*has no function in it",
        ),
    ],
)
def test_bad_markers_and_regions_are_clear_errors(source: str, error: str) -> None:
    with pytest.raises(builder.ExerciseBuildError, match=r"^lesson\.ipynb, cell 7, " + error):
        builder.stub_regions(source, "lesson.ipynb, cell 7")


# ---------------------------------------------------------------------------------------------------------------
# One notebook
# ---------------------------------------------------------------------------------------------------------------


def test_build_exercise_clears_outputs_drops_solution_cells_and_marks_the_notebook() -> None:
    solution = code_cell("print('the answer')", tags=["solution-only"])
    note = nbformat.v4.new_markdown_cell("The solution works because...")
    note.metadata["tags"] = ["solution-note"]
    nb = lesson(
        nbformat.v4.new_markdown_cell("# Lesson"),
        code_cell(BASE_CELL),
        code_cell(CLASS_CELL, tags=["keep-me"]),
        solution,
        note,
    )
    before = nbformat.writes(nb)

    exercise = builder.build_exercise(nb, "03_events.ipynb")

    assert nbformat.writes(nb) == before  # the lesson itself is untouched
    assert [cell.cell_type for cell in exercise.cells] == ["markdown", "code", "code"]
    for cell in exercise.cells[1:]:
        assert cell.outputs == [] and cell.execution_count is None
        assert not {"execution", "ExecuteTime"} & set(cell.metadata)
        assert cell.metadata["jupyter"] == {"source_hidden": False}
    assert exercise.cells[1].source == BASE_CELL
    assert exercise.cells[2].metadata["tags"] == ["keep-me"]
    assert exercise.cells[2].source == builder.stub_regions(CLASS_CELL, "x")
    assert exercise.metadata["voicelive_lab"] == {"exercise": True, "source": "../03_events.ipynb"}
    assert "widgets" not in exercise.metadata
    assert exercise.metadata["kernelspec"]["name"] == "python3"
    nbformat.validate(exercise)


def test_errors_name_the_notebook_and_the_cell(tmp_path: Path) -> None:
    bad = code_cell("class A:\n    # BEGIN HANDLE SESSION EVENTS\n    x = 1\n    # END HANDLE SESSION EVENTS\n")
    notebooks = write_lessons(tmp_path / "notebooks", **{"02_session": lesson(code_cell(BASE_CELL), bad)})

    with pytest.raises(builder.ExerciseBuildError, match=rf"02_session\.ipynb, cell 2 \(id {bad.id}\), line 3: "):
        builder.plan_exercises(notebooks)

    result = run_builder("--notebooks", "notebooks", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: notebooks/02_session.ipynb, cell 2 (id {bad.id}), line 3: ")
    assert not (notebooks / "exercises").exists()


# ---------------------------------------------------------------------------------------------------------------
# The folder and the command line
# ---------------------------------------------------------------------------------------------------------------


def test_build_writes_every_exercise_deterministically_and_removes_leftovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the paths printed are relative to the working directory
    notebooks = write_lessons(
        tmp_path / "notebooks",
        **{
            "01_start": lesson(code_cell("print('hi')")),
            "03_events": lesson(code_cell(BASE_CELL), code_cell(CLASS_CELL)),
        },
    )
    (notebooks / "exercises" / "nested").mkdir(parents=True)
    write_lessons(notebooks / "exercises" / "nested", **{"99_ignored": lesson()})  # not a source: not recursed into
    write_lessons(notebooks / "exercises", **{"02_gone": lesson()})

    assert builder.main(["--notebooks", "notebooks"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "wrote notebooks/exercises/01_start.ipynb",
        "wrote notebooks/exercises/03_events.ipynb",
        "removed notebooks/exercises/02_gone.ipynb (its source notebooks/02_gone.ipynb is gone)",
    ]
    written = {path.name: path.read_bytes() for path in (notebooks / "exercises").glob("*.ipynb")}
    assert sorted(written) == ["01_start.ipynb", "03_events.ipynb"]
    assert (notebooks / "exercises" / "nested" / "99_ignored.ipynb").exists()
    assert not (notebooks / "exercises" / "exercises").exists()

    exercise = json.loads(written["03_events.ipynb"])
    assert exercise["metadata"]["voicelive_lab"] == {"exercise": True, "source": "../03_events.ipynb"}
    assert written["03_events.ipynb"].endswith(b"}\n")
    assert str(tmp_path) not in written["03_events.ipynb"].decode()

    assert builder.main(["--notebooks", "notebooks"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "unchanged notebooks/exercises/01_start.ipynb",
        "unchanged notebooks/exercises/03_events.ipynb",
    ]
    assert {path.name: path.read_bytes() for path in (notebooks / "exercises").glob("*.ipynb")} == written

    # A fresh build from a re-read copy of the lessons gives the very same bytes.
    again = builder.plan_exercises(notebooks)
    assert {path.name: text.encode() for path, text in again.exercises.items()} == written


def test_check_reports_stale_missing_and_leftover_exercises_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    notebooks = write_lessons(
        tmp_path / "notebooks",
        **{"01_start": lesson(code_cell("print('hi')")), "03_events": lesson(code_cell(CLASS_CELL))},
    )
    assert builder.main(["--notebooks", str(notebooks)]) == 0
    assert builder.main(["--check", "--notebooks", str(notebooks)]) == 0
    assert "exercises up to date" in capsys.readouterr().out

    exercises = notebooks / "exercises"
    stale = exercises / "03_events.ipynb"
    stale.write_text(stale.read_text().replace("is not written yet", "is done"))
    (exercises / "01_start.ipynb").unlink()
    leftover = exercises / "02_gone.ipynb"
    nbformat.write(lesson(), leftover)
    before = {path.name: path.read_bytes() for path in exercises.iterdir()}

    assert builder.main(["--check", "--notebooks", "notebooks"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "missing notebooks/exercises/01_start.ipynb",
        "stale notebooks/exercises/03_events.ipynb",
        "leftover notebooks/exercises/02_gone.ipynb (no notebooks/02_gone.ipynb)",
    ]
    assert "python scripts/build_exercises.py" in lines[3]
    assert {path.name: path.read_bytes() for path in exercises.iterdir()} == before

    # A lesson edited after the last build makes its exercise stale too.
    assert builder.main(["--notebooks", str(notebooks)]) == 0
    nb = nbformat.read(notebooks / "01_start.ipynb", as_version=4)
    nb.cells.append(code_cell("print('new')"))
    nbformat.write(nb, notebooks / "01_start.ipynb")
    capsys.readouterr()
    assert builder.main(["--check", "--notebooks", str(notebooks)]) == 1
    assert capsys.readouterr().out.startswith("stale ")


@pytest.mark.skipif(not Path(RUFF).is_file(), reason="ruff is not installed")
def test_exercises_pass_ruff_when_their_lessons_do(tmp_path: Path) -> None:
    """The stubs are laid out as ``ruff format`` would lay them out, even for long names and deep classes."""
    long_name = "_handle_conversation_item_input_audio_transcription_completed"
    deep = textwrap.dedent(
        f"""\
        class Outer:
            class Inner(VoiceAssistant):
                # BEGIN VOICE LIVE ASSISTANT IMPLEMENTATION
                def {long_name}(self, event: Event) -> None:
                    \"\"\"Record what the learner said.\"\"\"
                    self.state = event.type

                # END VOICE LIVE ASSISTANT IMPLEMENTATION"""
    )
    cells = [code_cell(BASE_CELL), code_cell(CLASS_CELL), code_cell(deep)]
    lessons = write_lessons(tmp_path / "lessons", **{"04_ruff": lesson(*cells)})
    options = ["--isolated", "--line-length", "120"]
    for command in (["format", "--check", "--diff"], ["check", "--select", "E,W,F,I,B,UP,SIM,RUF"]):
        source = subprocess.run([RUFF, *command, *options, str(lessons)], capture_output=True, text=True, check=False)
        assert source.returncode == 0, "the synthetic lesson itself must be ruff clean:\n" + source.stdout
    builder.write_exercises(lessons)
    exercise = (lessons / "exercises" / "04_ruff.ipynb").read_text()
    assert f"write {long_name} here" in exercise
    for command in (["format", "--check", "--diff"], ["check", "--select", "E,W,F,I,B,UP,SIM,RUF"]):
        result = subprocess.run(
            [RUFF, *command, *options, str(lessons / "exercises")], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_committed_exercises_are_up_to_date(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guard for the real lessons: fails when ``notebooks/exercises/`` was not rebuilt after an edit."""
    if not list((ROOT / "notebooks").glob("*.ipynb")):
        pytest.skip("no lesson notebooks in notebooks/ yet")
    monkeypatch.chdir(ROOT)
    status = builder.main(["--check", "--notebooks", "notebooks"])
    output = capsys.readouterr()
    assert status == 0, output.out + output.err

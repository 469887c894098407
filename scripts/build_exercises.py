#!/usr/bin/env python3
"""Keep the lab's class in the lessons, and make the learner exercises from the lessons.

1. Lessons 01-03 each show the kit's whole lab-shaped class, ``BasicVoiceAssistant`` from
   ``voicelive_lab/assistant.py``, in the code cell tagged ``lab-class``. That module is the one source of the
   class: this script copies it into those cells, so the lessons cannot drift from the code the kit runs.
2. Each lesson whose notebook metadata says ``"voicelive_lab": {"section": N}`` becomes an exercise in
   ``notebooks/exercises/`` with section N blanked: the lines between that section's ``# BEGIN …`` and
   ``# END …`` markers are replaced by the section's stub (below), at the BEGIN marker's indentation. Line
   by line, in the spirit of nbgrader's ClearSolutions. The other two sections keep the kit's code, so a
   learner can start at any section. Other lessons are copied as they are.

3. The lessons beyond the lab (05 onwards) mark the learner's part of any code cell with ``# BEGIN EXERCISE``
   and ``# END EXERCISE`` and keep its stub in the cell's metadata (``"voicelive_lab": {"stub": "..."}``); the
   exercise has the stub between the markers instead, at the BEGIN marker's indentation.

Exercises have their outputs, execution counts, run metadata and widget state cleared, and cells tagged
``solution-only`` dropped. The output is deterministic.

Usage::

    python scripts/build_exercises.py            # update the lessons' class cells and the exercises
    python scripts/build_exercises.py --check    # write nothing; exit 1 if anything is out of date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXERCISES_DIR = NOTEBOOKS_DIR / "exercises"
REFERENCE = REPO_ROOT / "voicelive_lab" / "assistant.py"
CLASS_TAG = "lab-class"
DROPPED_TAG = "solution-only"
RUN_METADATA_KEYS = ("execution", "ExecuteTime", "collapsed", "scrolled")
METADATA_KEY = "voicelive_lab"
#: Lessons beyond the lab mark the learner's part of a code cell with ``# BEGIN EXERCISE`` / ``# END EXERCISE``
#: and give its stub in the cell's metadata: ``"voicelive_lab": {"stub": "<code>"}``.
EXERCISE_MARKER = "EXERCISE"

MARKERS = {
    1: "VOICE LIVE ASSISTANT IMPLEMENTATION - ALIGN CODE WITH COMMENT",
    2: "CONFIGURE VOICE LIVE SESSION - ALIGN CODE WITH COMMENT",
    3: "HANDLE SESSION EVENTS - ALIGN CODE WITH COMMENT",
}

# Each stub is written as it sits at its BEGIN marker's indentation. Section 1 ends inside start(): the rest
# of start() follows its END marker, so the stub must open start() for it.
STUBS = {
    1: '''\
def __init__(self, endpoint, credential, model, voice, instructions, state_callback=None):
    """Keep the five settings on self (self.endpoint = endpoint, and so on for credential, model, voice and
    instructions). Start unconnected: self.connection = None, self._response_cancelled = False and
    self._stopping = False. Keep state_callback, or a function that does nothing when it is None."""
    raise NotImplementedError("Section 1: write __init__ here (its docstring says what it keeps).")

async def start(self):
    """Import what the rest of start() uses: connect from azure.ai.voicelive.aio; AzureStandardVoice,
    InputAudioFormat, Modality, OutputAudioFormat, RequestSession and ServerVad from azure.ai.voicelive.models.
    Everything after the END marker below is written for you."""
    raise NotImplementedError("Section 1: write the imports at the head of start() here.")
''',
    2: """\
# Build a RequestSession: modalities text and audio, self.instructions, the voice start() prepared
# (voice_cfg), PCM16 audio in and out, and ServerVad(threshold=0.5, prefix_padding_ms=300,
# silence_duration_ms=500). Then send it: await conn.session.update(session=...).
raise NotImplementedError("Section 2: configure the session here (the comment above says how).")
""",
    3: '''\
async def _handle_event(self, event, conn, verbose=False):
    """Compare event.type with ServerEventType (from azure.ai.voicelive.models) and await the handler for it:
    SESSION_UPDATED, INPUT_AUDIO_BUFFER_SPEECH_STARTED (give it conn), INPUT_AUDIO_BUFFER_SPEECH_STOPPED,
    RESPONSE_AUDIO_DELTA (give it event), RESPONSE_AUDIO_DONE and ERROR (give it event). On RESPONSE_DONE set
    self._response_cancelled = False. If verbose, _broadcast a debug log naming the event type."""
    raise NotImplementedError("Section 3: write _handle_event here (its docstring says what it does).")

async def _handle_session_updated(self):
    """The service accepted the session: self.state_callback("ready", <a short message for the user>)."""
    raise NotImplementedError("Section 3: write _handle_session_updated here.")

async def _handle_speech_started(self, conn):
    """The user began to talk. Read assistant_state.get("state") *first*; then set the state "listening" and
    _broadcast {"type": "control", "action": "stop_playback"} to drop queued reply audio. If the state you
    read was "assistant_speaking" or "processing", set self._response_cancelled = True and
    await conn.response.cancel()."""
    raise NotImplementedError("Section 3: write _handle_speech_started here.")

async def _handle_speech_stopped(self):
    """The user's turn is over and the service is preparing a reply: set the state "processing"."""
    raise NotImplementedError("Section 3: write _handle_speech_stopped here.")

async def _handle_audio_delta(self, event):
    """A piece of the spoken reply. Return at once if self._response_cancelled. Otherwise set the state
    "assistant_speaking" (unless it already is) and _broadcast {"type": "audio", "audio": <base64 text>}:
    event.delta is raw PCM bytes, so encode it once with base64.b64encode(event.delta).decode("utf-8")."""
    raise NotImplementedError("Section 3: write _handle_audio_delta here.")

async def _handle_audio_done(self):
    """All of the reply's audio has arrived: self._response_cancelled = False, then the state "ready"."""
    raise NotImplementedError("Section 3: write _handle_audio_done here.")

async def _handle_error(self, event):
    """The service reported a problem: set the state "error" with a message made from event.error.message."""
    raise NotImplementedError("Section 3: write _handle_error here.")

def request_stop(self):
    """Someone asked the session to end: set self._stopping = True (start()'s event loop checks it)."""
    raise NotImplementedError("Section 3: write request_stop here.")
''',
}


class ExerciseBuildError(ValueError):
    """A lesson's markers or class cell cannot be used."""


def reference_class() -> str:
    """The text of the kit's class, from ``class BasicVoiceAssistant`` to the end of its module."""
    text = REFERENCE.read_text(encoding="utf-8")
    start = text.find("\nclass BasicVoiceAssistant")
    if start < 0:
        raise ExerciseBuildError(f"{REFERENCE} has no class BasicVoiceAssistant")
    return text[start + 1 :].rstrip("\n")


def blank_section(source: str, section: int, where: str = "cell") -> str:
    """Replace what lies between section ``section``'s markers with its stub, at the BEGIN marker's indent."""
    trailing_blank = section in (1, 3)  # as ruff lays it out: a blank line after the last function, before END
    return blank_between(source, MARKERS[section], STUBS[section], where, trailing_blank)


def blank_between(source: str, marker: str, stub_text: str, where: str, trailing_blank: bool = False) -> str:
    """Replace the lines between ``# BEGIN <marker>`` and ``# END <marker>`` with ``stub_text``, indented alike."""
    lines = source.split("\n")
    begin = [i for i, line in enumerate(lines) if line.strip() == f"# BEGIN {marker}"]
    end = [i for i, line in enumerate(lines) if line.strip() == f"# END {marker}"]
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise ExerciseBuildError(f"{where}: expected one '# BEGIN {marker}' and, below it, one '# END {marker}'")
    indent = lines[begin[0]][: len(lines[begin[0]]) - len(lines[begin[0]].lstrip())]
    stub = [indent + line if line else "" for line in stub_text.rstrip("\n").split("\n")]
    if trailing_blank:
        stub.append("")
    return "\n".join(lines[: begin[0] + 1] + stub + lines[end[0] :])


def with_reference_class(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The lesson with its ``lab-class`` cell holding the kit's class verbatim."""
    lesson = nbformat.from_dict(notebook)
    for cell in lesson.cells:
        if CLASS_TAG in cell.metadata.get("tags", []):
            cell.source = reference_class()
    return lesson


def build_exercise(lesson: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    exercise = nbformat.from_dict(lesson)
    section = exercise.metadata.get(METADATA_KEY, {}).get("section")
    exercise.cells = [cell for cell in exercise.cells if DROPPED_TAG not in cell.metadata.get("tags", [])]
    for index, cell in enumerate(exercise.cells):
        for key in RUN_METADATA_KEYS:
            cell.metadata.pop(key, None)
        cell.metadata.get("jupyter", {}).pop("outputs_hidden", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if section and CLASS_TAG in cell.metadata.get("tags", []):
                cell.source = blank_section(cell.source, section, f"{name}, cell {index}")
            stub = cell.metadata.get(METADATA_KEY, {}).get("stub")
            if stub is not None:
                cell.source = blank_between(cell.source, EXERCISE_MARKER, stub, f"{name}, cell {index}")
    exercise.metadata.pop("widgets", None)
    exercise.metadata[METADATA_KEY] = {"exercise": True, "source": f"../{name}"}
    return exercise


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def planned(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[Path, str]:
    """Every file this script writes, with the text it should hold."""
    files: dict[Path, str] = {}
    for path in sorted(notebooks_dir.glob("*.ipynb")):
        lesson = with_reference_class(nbformat.read(path, as_version=4))
        files[path] = notebook_text(lesson)
        files[notebooks_dir / "exercises" / path.name] = notebook_text(build_exercise(lesson, path.name))
    return files


def stale(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    files = planned(notebooks_dir)
    extra = set((notebooks_dir / "exercises").glob("*.ipynb")) - set(files)
    wrong = [p for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    return sorted(wrong) + sorted(extra)


def write(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    files = planned(notebooks_dir)
    changed = []
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for path in set((notebooks_dir / "exercises").glob("*.ipynb")) - set(files):
        path.unlink()
        changed.append(path)
    return sorted(changed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is out of date")
    args = parser.parse_args(argv)
    try:
        paths = stale() if args.check else write()
    except ExerciseBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(("out of date: " if args.check else "wrote ") + str(path.relative_to(REPO_ROOT)))
    if args.check and paths:
        print("Run: python scripts/build_exercises.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

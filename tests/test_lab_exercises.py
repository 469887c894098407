"""The exercises as a learner coming from the Microsoft Learn lab meets them: the lab's own code blocks pasted
between the lab's markers, and the mistakes learners make, each run through the real exercise notebook in a
real kernel against the practice server. Each case asserts the verdict, that the message names the cause and
the fix, that the verdict came within 20 s, and that no session thread was left running after it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from lab_blocks import between_markers, lab_blocks, paste, with_the_barge_in_fix
from nbclient import NotebookClient
from support import shown_lines

EXERCISES = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"
NOTEBOOK = {1: "01_init_and_start.ipynb", 2: "02_session_config.ipynb", 3: "03_event_handlers.ipynb"}
VERDICT_S = 20.0
BLOCKS = lab_blocks()
THREADS_PROBE = (
    "import threading\n"
    "print(sorted(t.name for t in threading.enumerate() if t.name.startswith(('voicelive-session', 'voicelive-loop'))))"
)

pytestmark = pytest.mark.skipif(BLOCKS is None, reason="the lab's text (../shared/seeds) is not beside the repository")


def block(section: int) -> str:
    assert BLOCKS is not None
    return BLOCKS[section]


def edit(text: str, old: str, new: str) -> str:
    """Replace a piece of the lab's block that occurs exactly once."""
    assert text.count(old) == 1, f"the lab's block changed: {old!r}"
    return text.replace(old, new)


def change_line(text: str, contains: str, *new: str) -> str:
    """Replace the one line containing ``contains`` by ``new`` lines (none: delete it), at its indentation."""
    lines = text.splitlines()
    (index,) = [i for i, line in enumerate(lines) if contains in line]
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index : index + 1] = [indent + line if line else "" for line in new]
    return "\n".join(lines) + "\n"


def drop_method(text: str, name: str) -> str:
    """The block without one of its methods."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(f"async def {name}("))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith(("def ", "async def "))), len(lines)
    )
    return "\n".join(lines[:start] + lines[end:]) + "\n"


@dataclass(frozen=True)
class Case:
    section: int
    name: str
    code: str  # what the learner puts between the section's markers
    passes: bool
    clues: tuple[str, ...] = ()  # words the message must contain: the cause and the fix
    indent: str | None = None  # None: the BEGIN marker's indentation (as the lab asks)
    keep_stub: bool = False  # the code is pasted above the exercise's stub, which stays below it


def cases() -> list[Case]:
    if BLOCKS is None:
        return []
    one, two, three = block(1), block(2), block(3)
    fixed = with_the_barge_in_fix(three)
    processing = 'self.state_callback("processing", "Processing your input…")'
    return [
        # ---- section 1: __init__ and the head of start()
        Case(1, "the lab's block verbatim", one, True),
        Case(1, "pasted at column 0", one, False, ("column 0", "Tab"), indent=""),
        Case(1, "pasted two spaces in", one, False, ("IndentationError", "4 spaces"), indent="  "),
        Case(1, "pasted above the stub", one, False, ("written twice", "delete"), keep_stub=True),
        Case(1, "the stub left as it is", "", False, ("stub", "__init__")),
        Case(1, "pasted with a tab", one, False, ("TabError", "spaces only"), indent="\t"),
        Case(
            1,
            "asyncio.sleep without await",
            one.rstrip() + "\n    import asyncio\n\n    asyncio.sleep(0.5)\n",
            False,
            ("without `await`", "await asyncio.sleep(0.5)"),
        ),
        Case(1, "a missing attribute", change_line(one, "self._stopping = False"), False, ("_stopping",)),
        Case(1, "the voice not kept", change_line(one, "self.voice = voice"), False, ("self.voice",)),
        Case(
            1, "a missing import", change_line(one, "ServerVad,"), False, ("NameError", "ServerVad", "head of start()")
        ),
        Case(
            1,
            "a blocking start()",
            one.rstrip() + "\n    import time\n\n    time.sleep(30)\n",
            False,
            ("blocked the event loop", "time.sleep(30)", "await asyncio.sleep"),
        ),
        Case(
            1,
            "a busy wait in __init__",
            change_line(
                one,
                "self.instructions = instructions",
                "self.instructions = instructions",
                "while self.instructions == instructions:",
                "    pass",
            ),
            False,
            ("blocked the event loop", "while self.instructions"),
        ),
        Case(
            1,
            "the parameters in another order",
            edit(one, "    credential,\n    model: str,\n", "    model: str,\n    credential,\n"),
            False,
            ("self.credential",),
        ),
        # ---- section 2: the session configuration, inside start()
        Case(2, "the lab's block verbatim", two, True),
        Case(2, "modalities in the other order", edit(two, "TEXT, Modality.AUDIO", "AUDIO, Modality.TEXT"), True),
        Case(
            2,
            "the voice built another way",
            edit(
                two,
                "voice=voice_cfg,",
                "voice=voice_cfg if self.voice == 'alloy' else AzureStandardVoice(name=self.voice),",
            ),
            True,
        ),
        Case(
            2,
            "the update never sent",
            change_line(two, "await conn.session.update"),
            False,
            ("no session.update", "await conn.session.update"),
        ),
        Case(
            2,
            "the update not awaited",
            edit(two, "await conn.session", "conn.session"),
            False,
            ("without `await`", "await conn.session.update"),
        ),
        Case(
            2,
            "audio only",
            edit(two, "[Modality.TEXT, Modality.AUDIO]", "[Modality.AUDIO]"),
            False,
            ("modalities", "Modality.TEXT"),
        ),
        Case(
            2,
            "an Azure voice as plain text",
            edit(two, "voice=voice_cfg", "voice=self.voice"),
            False,
            ("refused", "AzureStandardVoice", "voice_cfg"),
        ),
        Case(2, "a stricter VAD", edit(two, "threshold=0.5", "threshold=0.8"), False, ("threshold", "0.5")),
        Case(
            2,
            "a typo in a model name",
            edit(two, "Modality.TEXT", "Modality.TXT"),
            False,
            ("AttributeError", "TXT", "spelling"),
        ),
        Case(2, "pasted at column 0", two, False, ("IndentationError", "16"), indent=""),
        Case(
            2, "pasted 12 spaces in", two, False, ("start 12 spaces in", "# Configure VoiceLive", "16"), indent=" " * 12
        ),
        Case(2, "the stub left as it is", "", False, ("stub", "Section 2")),
        Case(2, "pasted above the stub", two, False, ("stub",), keep_stub=True),
        # ---- section 3: the event handlers
        Case(
            3,
            "the lab's block verbatim",
            three,
            False,
            ("played to the end", "and then read it", "in _handle_speech_started", "read the state *first*"),
        ),
        Case(3, "the lab's block with the one-line fix", fixed, True),
        Case(3, "pasted at column 0", three, False, ("column 0", "Tab"), indent=""),
        Case(3, "pasted above the stubs", fixed, False, ("written twice", "delete"), keep_stub=True),
        Case(3, "the stubs left as they are", "", False, ("stub", "_handle_event")),
        Case(
            3,
            "asyncio.sleep without await in a handler",
            change_line(fixed, processing, "import asyncio", "", "asyncio.sleep(1)", processing),
            False,
            ("without `await`", "await asyncio.sleep(1)"),
        ),
        Case(
            3,
            "a missing handler",
            drop_method(fixed, "_handle_speech_stopped"),
            False,
            ("_handle_speech_stopped", "has no"),
        ),
        Case(
            3,
            "a typo in an event type",
            edit(fixed, "RESPONSE_AUDIO_DELTA:", "RESPONSE_AUDIO_DELTAS:"),
            False,
            ("RESPONSE_AUDIO_DELTAS", "spelling"),
        ),
        Case(
            3,
            "a handler not awaited",
            edit(fixed, "await self._handle_speech_stopped()", "self._handle_speech_stopped()"),
            False,
            ("without `await`", "_handle_speech_stopped"),
        ),
        Case(
            3,
            "an exception in a handler",
            change_line(fixed, processing, 'self.state_callback("processing", assistant_state["message"] + 1)'),
            False,
            ("TypeError", '["message"] + 1', "_handle_speech_stopped"),
        ),
        Case(
            3,
            "cancel on every speech start",
            change_line(fixed, "if current_state in {", "if True:"),
            False,
            ("although the assistant was not speaking", "assistant_speaking"),
        ),
        Case(
            3,
            "audio sent as raw bytes",
            edit(fixed, '"audio": audio_b64', '"audio": audio_data'),
            False,
            ("raw bytes", "base64.b64encode"),
        ),
        Case(
            3,
            "audio encoded twice",
            edit(fixed, "base64.b64encode(audio_data)", "base64.b64encode(base64.b64encode(audio_data))"),
            False,
            ("encoded twice", "encode it once"),
        ),
        Case(
            3,
            "a blocking handler",
            change_line(fixed, processing, "import time", "", "time.sleep(5)", processing),
            False,
            ("blocked the event loop", "time.sleep(5)"),
        ),
        Case(
            3,
            "a handler that never returns",
            change_line(fixed, processing, "import asyncio", "", "await asyncio.Event().wait()"),
            False,
            ("has not returned", "asyncio.Event().wait()"),
        ),
        Case(
            3,
            "the error handler dropped",
            change_line(fixed, 'self.state_callback("error"', "pass"),
            False,
            ("fatal error", 'state_callback("error"'),
        ),
        Case(
            3,
            "playback not flushed",
            change_line(fixed, '"action": "stop_playback"'),
            False,
            ("flushed", "stop_playback"),
        ),
        Case(
            3,
            "request_stop that does nothing",
            change_line(fixed, "self._stopping = True", "pass"),
            False,
            ("request_stop", "_stopping = True"),
        ),
    ]


class ExerciseKernel:
    """One exercise notebook in a live kernel, run up to its class cell; cases then replace that cell."""

    def __init__(self, section: int) -> None:
        self.notebook = nbformat.read(EXERCISES / NOTEBOOK[section], as_version=4)
        self.class_index = next(
            i for i, c in enumerate(self.notebook.cells) if "lab-class" in c.metadata.get("tags", [])
        )
        self.check_index = next(
            i for i, c in enumerate(self.notebook.cells) if f"check_section_{section}()" in c.source
        )
        self.stub_cell = self.notebook.cells[self.class_index].source
        self.notebook.cells.append(nbformat.v4.new_code_cell(THREADS_PROBE))
        self.probe_index = len(self.notebook.cells) - 1
        self.client = NotebookClient(
            self.notebook,
            timeout=60,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(EXERCISES)}},
        )

    def run(self, source: str) -> tuple[list[str], float, str]:
        """Run the class cell with ``source``, then the check: (what the check showed, its seconds, threads)."""
        cells = self.notebook.cells
        cells[self.class_index].source = source
        self.client.execute_cell(cells[self.class_index], self.class_index)
        began = time.monotonic()
        check = self.client.execute_cell(cells[self.check_index], self.check_index)
        seconds = time.monotonic() - began
        probe = self.client.execute_cell(cells[self.probe_index], self.probe_index)
        return _shown(check), seconds, "".join(o.get("text", "") for o in probe.outputs).strip()


def _shown(cell: nbformat.NotebookNode) -> list[str]:
    for output in cell.outputs:
        if output.output_type == "error":
            return shown_lines(output)
        if output.output_type == "execute_result":
            return output.data["text/plain"].splitlines()
    return []


@pytest.fixture(scope="module")
def kernels() -> Iterator[Callable[[int], ExerciseKernel]]:
    """Opens each exercise's kernel once, on first use, runs it up to the class cell, and closes them all."""
    opened: dict[int, ExerciseKernel] = {}
    with contextlib.ExitStack() as stack:

        def kernel_for(section: int) -> ExerciseKernel:
            if section not in opened:
                kernel = ExerciseKernel(section)
                stack.enter_context(kernel.client.setup_kernel())
                for index in range(kernel.class_index):
                    kernel.client.execute_cell(kernel.notebook.cells[index], index)
                opened[section] = kernel
            return opened[section]

        yield kernel_for


def _source(kernel: ExerciseKernel, case: Case) -> str:
    """The class cell as the learner left it: the stub, or their code between the markers."""
    if not case.code:
        return kernel.stub_cell
    code = case.code
    if case.keep_stub:
        code = code.rstrip("\n") + "\n" + between_markers(kernel.stub_cell, case.section)
    return paste(kernel.stub_cell, case.section, code, case.indent)


@pytest.mark.slow
@pytest.mark.parametrize("case", cases(), ids=lambda case: f"s{case.section}-{case.name.replace(' ', '-')}")
def test_a_pasted_section_gets_a_true_verdict_in_time(kernels, case: Case) -> None:
    kernel = kernels(case.section)
    shown, seconds, threads = kernel.run(_source(kernel, case))
    text = "\n".join(shown)
    assert shown, "the check cell showed nothing"
    assert seconds < VERDICT_S, f"the verdict took {seconds:.1f} s"
    assert threads == "[]", f"threads left running after the verdict: {threads}"
    if case.passes:
        assert shown[0].startswith(f"✅ Section {case.section}"), text
        return
    assert shown[0].startswith(f"❌ Section {case.section}"), text
    assert "Expected:" in text and "Happened:" in text and "Hint:" in text, text
    assert not any(line.startswith(("Traceback", "  File ")) for line in shown), "no traceback wall"
    assert "SessionState" not in text, "states are named as the lab names them, not as the kit's enum"
    for clue in case.clues:
        assert clue in text, f"{clue!r} missing from:\n{text}"


def test_there_are_at_least_thirty_cases_and_the_labs_blocks_are_among_them() -> None:
    names = {(case.section, case.name) for case in cases()}
    assert len(names) >= 30
    assert {(1, "the lab's block verbatim"), (2, "the lab's block verbatim"), (3, "the lab's block verbatim")} <= names

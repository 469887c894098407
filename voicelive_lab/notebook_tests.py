"""Run pytest tests written in notebook cells against an assistant class, in this kernel, and say briefly how they went.

``run_voice_tests(test_greeting, test_states, assistant=BasicVoiceAssistant)`` copies the source of each test
function into a temporary folder (never into the repository), as one test file per notebook cell, and runs pytest
on it in this process with a plugin (voice_test_plugin.py) that gives the tests the class under test and the
``talk`` fixture. pytest imports those files itself, so a failing ``assert`` explains itself as it does in any
test suite. The report names each test, and for a failure the learner's own line (``Cell In[7], line 4``) and
pytest's explanation; it holds no timings and no temporary paths, so a notebook can store it.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import itertools
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .agent_testing import VoiceSession
from .learner_code import CodeLine, is_learner_file
from .verdicts import caller_namespace
from .voice_test_plugin import PER_TEST_TIMEOUT_S, TestOutcome, VoiceTestPlugin

__all__ = ["PER_TEST_TIMEOUT_S", "TestOutcome", "TestRun", "run_voice_tests"]

#: Names of the notebook that a test file must not get: IPython's own, and tests (pytest would collect them twice).
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "_", "__", "___", "_oh", "_ih", "_dh"})
_namespaces: dict[str, dict[str, Any]] = {}
_run_numbers = itertools.count(1)


@dataclass(frozen=True)
class TestRun:
    """The outcome of every test, in the order pytest ran them; ``report()`` is what a notebook prints."""

    outcomes: tuple[TestOutcome, ...]
    #: Every conversation the tests held: (the label of the class, what happened).
    conversations: tuple[tuple[str, VoiceSession], ...] = ()
    #: pytest's own terminal output (it has timings and temporary paths, so the report leaves it out).
    output: str = ""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    @property
    def passed(self) -> int:
        return sum(o.outcome == "passed" for o in self.outcomes)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.passed

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and self.failed == 0

    def outcome(self, name: str) -> TestOutcome:
        """The outcome of the test called ``name`` (with its ``[parameters]`` when it has some)."""
        return next(o for o in self.outcomes if o.name == name)

    def report(self) -> str:
        lines = []
        for outcome in self.outcomes:
            lines.append(f"{outcome.outcome.upper():7} {outcome.name}")
            if outcome.where is not None:
                lines.append(f"        at {_stable(outcome.where)}")
            lines += [f"        {line}" for line in outcome.message.splitlines()]
        counts = [f"{self.passed} passed"] + ([f"{self.failed} failed"] if self.failed else [])
        lines.append(", ".join(counts) if self.outcomes else "no tests ran")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.report()


def _stable(line: CodeLine) -> str:
    """Where a line is, without the cell's execution number (which differs between runs of a notebook)."""
    if not line.where.startswith("Cell In["):
        return str(line)
    return f"{line.function}, line {line.lineno} of its cell: `{line.text}`"


def run_voice_tests(
    *tests: Callable[..., Any],
    assistant: type | Mapping[str, type],
    timeout_s: float = PER_TEST_TIMEOUT_S,
    conversation_timeout_s: float | None = None,
) -> TestRun:
    """Run ``tests`` (test functions of this notebook; all its ``test_*`` functions when none are given) with
    pytest against ``assistant``: one class, or several by label (each test then runs once per class).

    Each test runs on a thread of its own and is stopped after ``timeout_s``; every conversation it holds has its
    own practice server, gone when the test ends.
    """
    namespace = caller_namespace()
    chosen = list(tests) or _notebook_tests(namespace)
    for test in chosen:
        if not inspect.isfunction(test) or not test.__name__.startswith("test"):
            raise TypeError(f"{test!r} is not a test function: give functions whose names start with `test`.")
    classes = dict(assistant) if isinstance(assistant, Mapping) else {assistant.__name__: assistant}
    run_id = f"run{next(_run_numbers)}"
    folder = Path(tempfile.mkdtemp(prefix="voicelive-tests-"))
    try:
        line_map = _write_test_files(folder, run_id, chosen)
        _namespaces[run_id] = {name: value for name, value in namespace.items() if _shareable(name)}
        plugin = VoiceTestPlugin(classes, timeout_s, conversation_timeout_s, line_map)
        output = _run_pytest(folder, plugin)
    finally:
        _namespaces.pop(run_id, None)
        _forget_modules(folder)
        shutil.rmtree(folder, ignore_errors=True)
    return TestRun(tuple(plugin.outcomes), plugin.conversations(), output)


def _notebook_tests(namespace: dict[str, Any]) -> list[Callable[..., Any]]:
    tests: list[Callable[..., Any]] = [
        value
        for name, value in namespace.items()
        if name.startswith("test") and inspect.isfunction(value) and is_learner_file(value.__code__.co_filename)
    ]
    if not tests:
        raise LookupError("There are no test functions in this notebook yet: define `def test_...(talk):` first.")
    return tests


def _shareable(name: str) -> bool:
    """Notebook names a test file gets, so that tests can use the notebook's imports and helpers."""
    if name in _IPYTHON_NAMES or (name.startswith("__") and name.endswith("__")):
        return False
    if name.startswith("_i") or name.lstrip("_").isdigit():
        return False
    return not name.startswith(("test", "Test"))


def namespace_of(run_id: str) -> dict[str, Any]:
    """What a test file of run ``run_id`` starts with: the notebook's names (called from the file's first line)."""
    return _namespaces.get(run_id, {})


def _write_test_files(folder: Path, run_id: str, tests: list[Callable[..., Any]]) -> dict[tuple[str, int], CodeLine]:
    """One test file per notebook cell, with the source of its tests; returns (file, line) → the learner's line."""
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # this folder is pytest's root, not the repo
    by_cell: dict[str, list[Callable[..., Any]]] = {}
    for test in tests:
        by_cell.setdefault(test.__code__.co_filename, []).append(test)
    line_map: dict[tuple[str, int], CodeLine] = {}
    header = (
        f"from voicelive_lab.notebook_tests import namespace_of as _vl_names; globals().update(_vl_names({run_id!r}))"
    )
    for number, (cell, cell_tests) in enumerate(by_cell.items(), 1):
        path = folder / f"test_{run_id}_cell{number}.py"
        text = [header, ""]
        for test in sorted(cell_tests, key=lambda t: t.__code__.co_firstlineno):
            lines, first = inspect.getsourcelines(test)
            source = textwrap.dedent("".join(lines)).splitlines()
            for offset, line in enumerate(source):
                text.append(line)
                line_map[(str(path), len(text))] = CodeLine(cell, first + offset, test.__name__, line.strip())
            text.append("")
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return line_map


def _run_pytest(folder: Path, plugin: VoiceTestPlugin) -> str:
    arguments = [
        str(folder),
        "--rootdir",
        str(folder),
        "-c",
        str(folder / "pytest.ini"),
        "-vv",  # an assert's explanation shows whole values, not "('ready', 'li...ing')"
        "--color=no",
        "--capture=sys",  # what a test prints is shown with its failure
        "-p",
        "no:cacheprovider",  # no .pytest_cache anywhere
        "-p",
        "no:faulthandler",  # a kernel's stderr is not a file
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]
    output = io.StringIO()
    with _no_plugin_autoload(), contextlib.redirect_stdout(output):
        pytest.main(arguments, plugins=[plugin])
    return output.getvalue()


@contextlib.contextmanager
def _no_plugin_autoload() -> Iterator[None]:
    """Only this kit's plugin: the installed ones (nbval, pytest-timeout…) have no say in a notebook's tests."""
    before = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = before


def _forget_modules(folder: Path) -> None:
    """The test files' modules leave with the folder, so the next run imports its own files afresh."""
    root = str(folder)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(root):
            del sys.modules[name]

"""The pytest plugin behind ``run_voice_tests``: the class under test, the ``talk`` fixture, a time limit per test,
and each test's outcome with the learner's own line.

Fixtures a test can ask for:

- ``assistant_class``: the class under test (with several classes, each test runs once per class);
- ``talk``: ``talk("hello.wav", talk_over("interrupt.wav"))`` holds that conversation with the class under test
  (agent_testing.talk_to) and returns its :class:`~voicelive_lab.agent_testing.VoiceSession`. The same
  conversation with the same class is held once per run and shared, so four tests of one greeting cost one session.

Each test function runs on a thread of its own: one that has not finished after the time limit is stopped and
reported as such, with the line it was waiting at, and the run goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from .agent_testing import CONVERSATION_TIMEOUT_S, Step, VoiceSession, talk_to
from .learner_code import CodeLine, code_line, frames_of, is_learner_file
from .loop_watch import _raise_in_thread

PER_TEST_TIMEOUT_S = 20.0
MAX_MESSAGE_LINES = 6
#: Lines of pytest's explanations that only make sense on a command line.
_COMMAND_LINE_ADVICE = ("Use -v to get more diff", "Use -v to get the full diff")


@dataclass(frozen=True)
class TestOutcome:
    """How one test went: ``outcome`` is passed, failed (an assert), error (another exception, or the test could
    not start), timeout or skipped."""

    name: str
    outcome: str
    message: str = ""
    where: CodeLine | None = None
    error_type: str | None = None
    assistant: str | None = None  # the label of the class it ran against

    __test__ = False


class Talk:
    """The ``talk`` fixture: ``talk(*steps)`` holds that conversation with the class under test, once per run."""

    def __init__(
        self, assistant_class: type, held: dict[tuple[type, tuple[Step, ...]], VoiceSession], timeout_s: float
    ) -> None:
        self.assistant_class = assistant_class
        self._held = held
        self._timeout_s = timeout_s

    def __call__(self, *steps: Step) -> VoiceSession:
        """Hold this conversation with the class under test (once per run) and return what happened."""
        key = (self.assistant_class, steps)
        if key not in self._held:
            self._held[key] = talk_to(self.assistant_class, *steps, timeout_s=self._timeout_s)
        return self._held[key]

    def __repr__(self) -> str:
        return "talk"


class TestTimedOut(Exception):
    """A test that had not finished in time; ``line`` is the learner's line it was at."""

    __test__ = False

    def __init__(self, message: str, line: CodeLine | None) -> None:
        super().__init__(message)
        self.line = line


class VoiceTestPlugin:
    """Registered with ``pytest.main(..., plugins=[...])`` for one run of notebook tests."""

    def __init__(
        self,
        classes: Mapping[str, type],
        timeout_s: float,
        conversation_timeout_s: float | None,
        line_map: Mapping[tuple[str, int], CodeLine],
    ) -> None:
        if not classes:
            raise ValueError("give at least one assistant class to test")
        self.classes = dict(classes)
        self.timeout_s = timeout_s
        self.conversation_timeout_s = conversation_timeout_s or min(CONVERSATION_TIMEOUT_S, max(1.0, timeout_s - 1))
        self.line_map = dict(line_map)
        self.outcomes: list[TestOutcome] = []
        self._conversations: dict[tuple[type, tuple[Step, ...]], VoiceSession] = {}

    def conversations(self) -> tuple[tuple[str, VoiceSession], ...]:
        """Every conversation held in this run, with the label of the class it was held with."""
        labels = {id(cls): label for label, cls in self.classes.items()}
        return tuple((labels.get(id(cls), cls.__name__), held) for (cls, _), held in self._conversations.items())

    # ----------------------------------------------------------------- fixtures

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if len(self.classes) > 1 and "assistant_class" in metafunc.fixturenames:
            metafunc.parametrize("assistant_class", list(self.classes.values()), ids=list(self.classes), indirect=True)

    @pytest.fixture
    def assistant_class(self, request: pytest.FixtureRequest) -> type:
        return getattr(request, "param", next(iter(self.classes.values())))

    @pytest.fixture
    def talk(self, assistant_class: type) -> Talk:
        return Talk(assistant_class, self._conversations, self.conversation_timeout_s)

    # ----------------------------------------------------------------- running a test, bounded in time

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool:
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        self._run_bounded(pyfuncitem.obj, arguments, pyfuncitem.name)
        return True

    def _run_bounded(self, function: Callable[..., Any], arguments: dict[str, Any], name: str) -> None:
        outcome: dict[str, BaseException] = {}

        def run() -> None:
            try:
                result = function(**arguments)
                if inspect.isawaitable(result):
                    asyncio.run(_awaited(result))
            except BaseException as error:  # handed to pytest on its own thread below
                outcome["error"] = error

        worker = threading.Thread(target=run, name=f"voicelive-test-{name}", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if worker.is_alive():
            frame = sys._current_frames().get(worker.ident or 0)
            line = self._learner_line_in(frames_of(frame))
            _raise_in_thread(worker.ident or 0, f"The test was stopped after {self.timeout_s:g} s.")
            worker.join(1.0)
            raise TestTimedOut(f"the test had not finished after {self.timeout_s:g} s, so it was stopped", line)
        if "error" in outcome:
            raise outcome["error"]

    # ----------------------------------------------------------------- outcomes

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.outcomes.append(self._outcome(item, call, report))
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            reason = _error_lines(report.longreprtext) or "pytest could not load the tests"
            self.outcomes.append(TestOutcome("(loading the tests)", "error", reason))

    def _outcome(self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> TestOutcome:
        label = self._label_of(item)
        if report.passed:
            return TestOutcome(item.name, "passed", assistant=label)
        if report.skipped:
            return TestOutcome(item.name, "skipped", _skip_reason(report), assistant=label)
        error = call.excinfo.value if call.excinfo is not None else None
        if error is None or report.when == "setup":
            # The test could not start: a fixture it names does not exist, or one failed.
            message = _error_lines(report.longreprtext) or "the test could not start"
            return TestOutcome(item.name, "error", message, self._definition_of(item), assistant=label)
        kind = type(error).__name__
        if isinstance(error, TestTimedOut):
            return TestOutcome(item.name, "timeout", str(error), error.line, kind, label)
        failed = isinstance(error, (AssertionError, pytest.fail.Exception))
        message = _explain(error)
        if report.capstdout.strip():
            message += "\nprinted: " + _first_lines(report.capstdout.strip(), 3)
        return TestOutcome(item.name, "failed" if failed else "error", message, self._line_of(error), kind, label)

    def _label_of(self, item: pytest.Item) -> str | None:
        callspec = getattr(item, "callspec", None)
        cls = callspec.params.get("assistant_class") if callspec is not None else None
        return next((label for label, known in self.classes.items() if known is cls), None)

    def _definition_of(self, item: pytest.Item) -> CodeLine | None:
        code = getattr(getattr(item, "obj", None), "__code__", None)
        return None if code is None else self.line_map.get((code.co_filename, code.co_firstlineno))

    def _line_of(self, error: BaseException) -> CodeLine | None:
        """The innermost line of the learner's code in the error's traceback."""
        found = None
        for frame in traceback.extract_tb(error.__traceback__):
            line = self._learner_line(frame.filename, frame.lineno or 0, frame.name)
            found = line or found
        return found

    def _learner_line_in(self, frames: list[Any]) -> CodeLine | None:
        found = None
        for frame in frames:
            line = self._learner_line(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
            found = line or found
        return found

    def _learner_line(self, filename: str, lineno: int, function: str) -> CodeLine | None:
        """A line of a test file as the learner wrote it in the notebook, or a line of the notebook's own code."""
        if (filename, lineno) in self.line_map:
            return self.line_map[(filename, lineno)]
        if any(filename == known for known, _ in self.line_map):
            return None  # the test file's own first line
        return code_line(filename, lineno, function) if is_learner_file(filename) else None


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _explain(error: BaseException) -> str:
    """pytest's explanation of a failed assert, or the exception and its message."""
    text = str(error).split("Full diff:")[0].strip()  # the diff of every line repeats what is said above it
    kind = "Failed" if isinstance(error, pytest.fail.Exception) else type(error).__name__
    return f"{kind}: {_first_lines(text, MAX_MESSAGE_LINES)}" if text else kind


def _first_lines(text: str, count: int) -> str:
    lines = [
        line.rstrip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith(_COMMAND_LINE_ADVICE)
    ]
    return "\n".join(lines[:count] + (["…"] if len(lines) > count else []))


def _error_lines(longrepr: str) -> str:
    """The ``E`` lines of a pytest report (what went wrong), without pytest's decoration."""
    lines = [line[1:].strip() for line in longrepr.splitlines() if line.startswith("E ")]
    return _first_lines("\n".join(lines), MAX_MESSAGE_LINES)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else "skipped"

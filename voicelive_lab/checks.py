"""Checks for the lab's three sections: run the learner's ``BasicVoiceAssistant`` in a real session against a
private practice server, and say honestly whether it works; when not, what was expected, what happened,
the learner's own line, and the fix.

Each check ends with a verdict within 20 seconds and never passes code it could not see work: a check that
runs out of time says so. A failed check raises :class:`CheckFailed`, which a notebook shows as its message
alone (no traceback). ``require_check(n)`` lets the cells below a check say "finish section n first".

This module reads the learner's class and runs a check; the sessions each section's check holds are in
``checks_setup`` (sections 1 and 2) and ``checks_events`` (section 3), and ``checks_diagnosis`` explains why a
session did not do what was expected.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from . import class_cell
from .check_harness import OutOfTime
from .checks_events import run_section_3
from .checks_setup import run_section_1, run_section_2
from .learner_code import CodeLine, code_line, is_learner_file
from .mock.hearing import warm_up
from .verdicts import CheckFailed, CheckPassed, SectionNotDone, caller_namespace, forget, mark_passed, require_check

__all__ = [
    "CheckFailed",
    "CheckPassed",
    "SectionNotDone",
    "check_section_1",
    "check_section_2",
    "check_section_3",
    "require_check",
]

LAB_CLASS = "BasicVoiceAssistant"
VERDICT_S = 20.0
MARGIN_S = 2.5  # kept back from the budget for closing the session and the server
#: The methods each section of the lab writes; they must be the learner's own, in the class itself.
SECTION_METHODS = {
    1: ("__init__", "start"),
    2: ("start",),
    3: (
        "_handle_event",
        "_handle_session_updated",
        "_handle_speech_started",
        "_handle_speech_stopped",
        "_handle_audio_delta",
        "_handle_audio_done",
        "_handle_error",
        "request_stop",
    ),
}


def check_section_1(assistant_class: type | None = None) -> CheckPassed:
    """``__init__`` keeps the lab's settings and flags; ``start()`` connects, runs the session, and stops."""
    return _check(1, assistant_class, run_section_1)


def check_section_2(assistant_class: type | None = None) -> CheckPassed:
    """The session the service receives is the lab's: text and audio, instructions, voice rule, PCM16, VAD."""
    return _check(2, assistant_class, run_section_2)


def check_section_3(assistant_class: type | None = None) -> CheckPassed:
    """A spoken conversation: the lab's states, the reply's audio, barge-in, a harmless and a fatal error."""
    return _check(3, assistant_class, run_section_3)


# ----------------------------------------------------------------- the common part


def _check(section: int, assistant_class: type | None, scenario: Callable[[type, float], CheckPassed]) -> CheckPassed:
    forget(section)
    cls, source = _learner_class(section, assistant_class, caller_namespace())
    _read_the_class(section, cls, source)
    warm_up(None)  # the practice agent's models load once per kernel, before the check's clock starts
    deadline = time.monotonic() + VERDICT_S - MARGIN_S
    failure: CheckFailed | None = None
    with _coroutines_never_awaited() as unawaited:
        try:
            passed = scenario(cls, deadline)
        except OutOfTime as late:
            failure = CheckFailed(
                section,
                f"{late.what}, within the check's {VERDICT_S:.0f} s",
                "the check ran out of time before it could see that happen, so it cannot say the section works",
                "run the check again; if it happens every time, something in the session waits too long.",
            )
        except CheckFailed as failed:
            failure = failed
    if unawaited:  # the root cause of whatever else went wrong, and wrong even if nothing else did
        coroutine, line = unawaited[0]
        raise CheckFailed(
            section,
            "every coroutine your code calls is awaited",
            f"your code called `{coroutine}(...)` without `await`, so it never ran (Python only warned about it)",
            f"write `await` in front of the call: `await {line.text}`.",
            where=str(line),
        )
    if failure is not None:
        raise failure from None
    mark_passed(section, cls)
    return passed


@contextmanager
def _coroutines_never_awaited() -> Iterator[list[tuple[str, CodeLine]]]:
    """Collect the coroutines the learner's code made but never awaited, while a check's session runs.

    Python reports each with a RuntimeWarning at the line that dropped it. The warnings filters are the
    process's, so this catches them on the session's thread too; other warnings are shown as usual."""
    found: list[tuple[str, CodeLine]] = []
    show = warnings.showwarning

    def collect(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        named = re.match(r"coroutine '(.+)' was never awaited", str(message))
        if category is RuntimeWarning and named and is_learner_file(filename):
            found.append((named.group(1), code_line(filename, lineno, "")))
        else:
            show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.filterwarnings("always", message="coroutine .* was never awaited", category=RuntimeWarning)
        warnings.showwarning = collect
        yield found


def _learner_class(section: int, given: type | None, namespace: dict[str, Any]) -> tuple[type, str]:
    """The learner's class and the source it was written in (the class cell, or its file outside Jupyter)."""
    name = given.__name__ if given is not None else LAB_CLASS
    cell = class_cell.last_class_cell(namespace, name)
    problem = class_cell.compile_problem(cell) if cell is not None else None
    if problem is not None:
        raise CheckFailed(
            section,
            f"the cell with `class {name}` runs",
            f"its last run stopped before the class existed: {problem.what}",
            problem.hint,
            where=problem.where,
        )
    cls = given if given is not None else namespace.get(name)
    if not isinstance(cls, type):
        raise CheckFailed(
            section,
            f"a class named {name}",
            f"there is no class {name} in this notebook yet",
            f"run the cell that defines `class {name}` (above this one), then this check again.",
        )
    if cell is not None and not class_cell.is_fresh(cls, cell):
        raise CheckFailed(
            section,
            f"the cell with `class {name}` runs to the end",
            f"its last run failed (the error is shown under it), so {name} is still an older version",
            "fix the error shown under the class cell and run that cell again, then this check.",
        )
    return cls, cell if cell is not None else class_cell.source_of(cls)


def _read_the_class(section: int, cls: type, source: str) -> None:
    """What the class's text shows before it runs: missing or misplaced methods, stubs left over, no await."""
    for method in SECTION_METHODS[section]:
        if method in vars(cls) and _is_learners(vars(cls)[method]):
            continue
        misplaced = class_cell.misplaced_method(source, cls.__name__, method) if source else None
        raise CheckFailed(
            section,
            f"{cls.__name__} has its own `{method}` (section {section} writes it)",
            misplaced.what if misplaced else f"the class has no `{method}`",
            misplaced.hint if misplaced else f"paste or write `{method}` between the section's markers.",
            where=misplaced.where if misplaced else None,
        )
    if not source:
        return
    twice = class_cell.duplicate_methods(source, cls.__name__)
    if twice:
        name, first, last = twice[0]
        raise CheckFailed(
            section,
            f"each method is written once in {cls.__name__}",
            f"`{name}` is written twice (lines {first} and {last}); Python keeps only the last one",
            "delete the version you replaced: usually the exercise's stub, left below the code you pasted.",
        )
    unawaited = class_cell.unawaited_call(source, cls.__name__)
    if unawaited is not None:
        raise CheckFailed(
            section, "every coroutine call is awaited", unawaited.what, unawaited.hint, where=unawaited.where
        )


def _is_learners(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    return code is None or is_learner_file(code.co_filename)

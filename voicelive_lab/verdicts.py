"""What every check in the kit tells a learner, and how the cells below a check wait for it.

A *task* is what a check judges: a section of the lab (1, 2 or 3) or a lesson's exercise, named by its label
(e.g. ``"Exercise 05 (one turn, then two)"``). A failed check raises :class:`CheckFailed`, shown in a notebook
as its message alone: expected, happened, where (the learner's own line) and a hint. A passing check returns
:class:`CheckPassed`, shown as a green line. ``require_check(task)`` stops a cell in one line until the task's
check has passed for the code that is in the notebook now.
"""

from __future__ import annotations

import html
import sys
from typing import Any

Task = int | str
SECTION_TITLES = {1: "initialise and start", 2: "configure the session", 3: "handle session events"}
MAX_FIELD = 420

_passed: dict[Task, Any] = {}


def task_label(task: Task) -> str:
    """``Section 2 (configure the session)`` for a lab section; an exercise's label as it is."""
    return f"Section {task} ({SECTION_TITLES[task]})" if isinstance(task, int) else task


def shorten(text: str) -> str:
    """One line, at most MAX_FIELD characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 1] + "…"


class CheckFailed(Exception):
    """Work that does not do its job yet, explained for the learner: expected, happened, where, and the fix."""

    def __init__(self, task: Task, expected: str, happened: str, hint: str, where: str | None = None) -> None:
        self.task = task
        lines = [
            f"{task_label(task)} is not there yet.",
            f"  Expected: {shorten(expected)}",
            f"  Happened: {shorten(happened)}",
        ]
        if where:
            lines.append(f"  Where:    {shorten(where)}")
        lines.append(f"  Hint:     {shorten(hint)}")
        super().__init__("\n".join(lines))

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of a traceback."""
        return ["❌ " + line if index == 0 else line for index, line in enumerate(str(self).splitlines())]


class CheckPassed:
    """What a passing check returns; a notebook shows it as a green line (and any tips below it)."""

    def __init__(self, task: Task, what: str, tips: tuple[str, ...] = ()) -> None:
        self.task = task
        self.tips = tips
        self.message = f"✅ {task_label(task)} works: {what}"

    def __repr__(self) -> str:
        return "\n".join([self.message, *(f"   Tip: {tip}" for tip in self.tips)])

    def _repr_html_(self) -> str:
        tips = "".join(f"<div>💡 {html.escape(tip)}</div>" for tip in self.tips)
        return f'<div style="color:#1a7f37;font-weight:600">{html.escape(self.message)}</div>{tips}'


class SectionNotDone(Exception):
    """Shown in one line by IPython: the cell below a check that has not passed yet."""

    def _render_traceback_(self) -> list[str]:
        return [f"⏭  {self}"]


def forget(task: Task) -> None:
    """A check of ``task`` has begun: until it passes, the cells below it wait."""
    _passed.pop(task, None)


def mark_passed(task: Task, work: Any) -> None:
    """``work`` (the learner's class, function or settings) passed the check of ``task``."""
    _passed[task] = work


def require_check(task: Task) -> None:
    """Stop a cell, in one line, until the check of ``task`` has passed for the learner's current code."""
    if task not in _passed:
        raise SectionNotDone(f"Finish {_lower_first(task_label(task))} first: its check above has not passed yet.")
    work = _passed[task]
    name = getattr(work, "__name__", None)
    if name and callable(work):
        current = caller_namespace().get(name)
        if callable(current) and current is not work:
            again = f"the section {task} check" if isinstance(task, int) else f"the check of {task_label(task)}"
            raise SectionNotDone(f"{name} changed since its check passed: run {again} again.")


def caller_namespace() -> dict[str, Any]:
    """The globals of the code that called into the kit: the notebook's namespace in a notebook."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("voicelive_lab"):
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_globals if frame is not None else {}


def _lower_first(label: str) -> str:
    return label[0].lower() + label[1:] if label.startswith(("Section", "Exercise")) else label

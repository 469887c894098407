"""The learner's class cell, read as source: did its last run fail, and what in it is plainly wrong.

The checks run the learner's class, but some mistakes are clearer in the text than in what the code does:
a cell that does not compile (the lab's classic: a paste at the wrong indentation), a class object left over
from an earlier run, a method nested in the wrong place, a stub left below the pasted code, or a coroutine
called without ``await`` (which then never runs).
"""

from __future__ import annotations

import ast
import linecache
import re
from dataclasses import dataclass
from typing import Any

from .learner_code import MAX_LINE_SHOWN

#: Calls on the connection that return coroutines (the SDK's async API).
CONNECTION_CALLS = ("session.update", "response.cancel", "response.create", "input_audio_buffer.append")


@dataclass(frozen=True)
class CellProblem:
    """Something wrong in the class cell's text: what, on which line, and how to fix it."""

    what: str
    line: int
    text: str
    hint: str

    @property
    def where(self) -> str:
        text = self.text if len(self.text) <= MAX_LINE_SHOWN else self.text[: MAX_LINE_SHOWN - 1] + "…"
        return f"the class cell, line {self.line}: `{text}`"


def last_class_cell(namespace: dict[str, Any], class_name: str) -> str | None:
    """The source of the last cell run in this kernel that defines ``class <class_name>`` (IPython only)."""
    history = namespace.get("In")
    if not isinstance(history, list):
        return None
    pattern = re.compile(rf"^class\s+{re.escape(class_name)}\b", re.MULTILINE)
    return next((cell for cell in reversed(history) if isinstance(cell, str) and pattern.search(cell)), None)


def _transformed(source: str) -> str:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.transform_cell(source) if shell is not None else source


def compile_problem(source: str) -> CellProblem | None:
    """Why the cell does not compile, with the lab's usual cause (indentation) spelled out."""
    try:
        compile(_transformed(source), "<class cell>", "exec")
    except SyntaxError as error:
        lines = source.splitlines()
        what = f"{type(error).__name__}: {error.msg}"
        misaligned = _misaligned_paste(lines) if isinstance(error, IndentationError) else None
        if misaligned is not None:
            index, hint = misaligned
            return CellProblem(what, index + 1, lines[index].strip(), hint)
        line = error.lineno or 0
        text = (lines[line - 1] if 0 < line <= len(lines) else error.text or "").rstrip()
        return CellProblem(f"{type(error).__name__}: {error.msg}", line, text.strip(), _indentation_hint(text, error))
    return None


COLUMN_0 = (
    "this `def` starts at column 0, outside the class. Indent the pasted block so its `def` lines line up "
    "with the `# BEGIN` comment (4 spaces): select the lines and press Tab."
)


def _misaligned_paste(lines: list[str]) -> tuple[int, str] | None:
    """The first line pasted between a section's markers that does not start where its BEGIN marker does."""
    for begin, marker in enumerate(lines):
        if not marker.strip().startswith("# BEGIN "):
            continue
        expected = marker[: len(marker) - len(marker.lstrip())]
        first = next((i for i in range(begin + 1, len(lines)) if lines[i].strip()), None)
        if first is None or lines[first].strip().startswith("# END "):
            continue
        line = lines[first]
        indent = line[: len(line) - len(line.lstrip())]
        if indent == expected:
            continue
        if "\t" in indent:
            return (
                first,
                "this line is indented with a tab: use spaces only (4 per level), as the rest of the class does.",
            )
        if not indent and line.startswith(("def ", "async def ")):
            return first, COLUMN_0
        return first, (
            f"the pasted lines start {len(indent)} spaces in, but the `# BEGIN` comment above them starts "
            f"{len(expected)} spaces in: they must line up with it. Select the pasted lines and press Tab or "
            "Shift+Tab until they do."
        )
    return None


def _def_outside_the_class(lines: list[str]) -> int | None:
    """The first ``def`` at column 0 after the class line: a paste that left the class."""
    start = next((i for i, line in enumerate(lines) if line.startswith("class ")), None)
    if start is None:
        return None
    return next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("def ", "async def "))), None)


def _indentation_hint(text: str, error: SyntaxError) -> str:
    indent = len(text) - len(text.lstrip(" "))
    if "\t" in text[: len(text) - len(text.lstrip())]:
        return "this line is indented with a tab: use spaces only (4 per level), as the rest of the class does."
    if not isinstance(error, IndentationError):
        return "fix the line shown; if it came from a paste, check that the whole block was copied."
    if text.lstrip().startswith(("def ", "async def ")) and indent == 0:
        return COLUMN_0
    return (
        "the pasted lines must start where the `# BEGIN` comment above them starts: 4 spaces for the methods "
        "(sections 1 and 3), 16 for the session configuration inside start() (section 2). Select the pasted "
        "lines and press Tab or Shift+Tab until they line up."
    )


def source_of(cls: type) -> str:
    """The text of the cell (or file) the class's methods were compiled from; empty if unknown."""
    code = next((f.__code__ for f in vars(cls).values() if hasattr(f, "__code__")), None)
    return "".join(linecache.getlines(code.co_filename)) if code is not None else ""


def is_fresh(cls: type, source: str) -> bool:
    """Whether ``cls`` was made by this cell's source (not left over from an earlier, working run)."""
    defined_in = source_of(cls).strip()
    return not defined_in or defined_in == _transformed(source).strip()


def _class_node(source: str, class_name: str) -> ast.ClassDef | None:
    try:
        tree = ast.parse(_transformed(source))
    except SyntaxError:
        return None
    return next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == class_name), None)


def misplaced_method(source: str, class_name: str, method: str) -> CellProblem | None:
    """Where a method the class lacks was written instead: outside the class, or inside another function."""
    node = _class_node(source, class_name)
    if node is None:
        return None
    lines = source.splitlines()
    outside = _def_outside_the_class(lines)
    if outside is not None and re.match(rf"(async )?def {method}\b", lines[outside]):
        return CellProblem(f"`{method}` is written outside the class", outside + 1, lines[outside].strip(), COLUMN_0)
    for parent in ast.walk(node):
        if parent is node or not isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for child in ast.walk(parent):
            if child is parent or not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if child.name == method:
                return CellProblem(
                    f"`{method}` is written inside `{parent.name}`, so it is not a method of the class",
                    child.lineno,
                    lines[child.lineno - 1].strip(),
                    "indent it like the `# BEGIN` comment above it (4 spaces), not deeper.",
                )
    return None


def duplicate_methods(source: str, class_name: str) -> list[tuple[str, int, int]]:
    """Methods the class body defines twice: (name, first line, last line). Python keeps the last one."""
    node = _class_node(source, class_name)
    if node is None:
        return []
    seen: dict[str, int] = {}
    twice: list[tuple[str, int, int]] = []
    for child in node.body:
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if child.name in seen:
                twice.append((child.name, seen[child.name], child.lineno))
            seen[child.name] = child.lineno
    return twice


def unawaited_call(source: str, class_name: str) -> CellProblem | None:
    """A coroutine called without ``await``: one of the class's own async methods, or the SDK's on ``conn``."""
    node = _class_node(source, class_name)
    if node is None:
        return None
    async_methods = {n.name for n in node.body if isinstance(n, ast.AsyncFunctionDef)}
    awaited = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Await)}
    lines = source.splitlines()
    for call in ast.walk(node):
        if not isinstance(call, ast.Call) or id(call) in awaited:
            continue
        name = _called_name(call.func)
        own = name.startswith("self.") and name[5:] in async_methods
        sdk = any(name.endswith("." + attr) or name == attr for attr in CONNECTION_CALLS) and name.startswith(
            ("conn.", "self.connection.")
        )
        if own or sdk:
            return CellProblem(
                f"`{name}(...)` is called without `await`",
                call.lineno,
                lines[call.lineno - 1].strip(),
                f"`{name}` is a coroutine: without `await` in front of it, it never runs (Python only warns "
                "that it was never awaited). Write `await " + name + "(...)`.",
            )
    return None


def _called_name(func: ast.expr) -> str:
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))

#!/usr/bin/env python3
"""Generate the learner exercises in ``notebooks/exercises/`` from the complete lesson notebooks.

The complete notebooks ``notebooks/*.ipynb`` (with their outputs) are the single source. Each one becomes
``notebooks/exercises/<same name>``: the same notebook with the code learners write blanked out. That code is
marked in code cells by pairs of comment lines, one pair per section of the Voice Live lab::

    # BEGIN VOICE LIVE ASSISTANT IMPLEMENTATION   ...   # END VOICE LIVE ASSISTANT IMPLEMENTATION   (section 1)
    # BEGIN CONFIGURE VOICE LIVE SESSION          ...   # END CONFIGURE VOICE LIVE SESSION          (section 2)
    # BEGIN HANDLE SESSION EVENTS                 ...   # END HANDLE SESSION EVENTS                 (section 3)

A marked region (at top level or inside a class body) holds only function definitions, comments and blank
lines. In the exercise every function keeps its decorators, its signature exactly as written and its
docstring; its body becomes a ``# Your code here: ...`` hint and a ``raise NotImplementedError(...)`` that
names the section. The markers and the comments between functions stay. The stubs are laid out the way
``ruff format`` lays them out (line length 120), so the exercises pass the repository's lint.

Besides that, the exercise has every output and execution count cleared, drops the cell metadata that
running the notebook leaves behind (``execution``, ``ExecuteTime``, ``collapsed``, ``scrolled``,
``jupyter.outputs_hidden``) and the saved widget state, drops cells tagged ``solution-only`` or
``solution-note``, and records ``"voicelive_lab": {"exercise": true, "source": "../<name>"}`` in the
notebook metadata. The output is deterministic: the same sources give byte-identical exercises.

Usage::

    python scripts/build_exercises.py            # write notebooks/exercises/, remove exercises with no source
    python scripts/build_exercises.py --check    # write nothing; exit 1 if any exercise is stale, missing or left over
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import os
import re
import sys
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXERCISES_DIRNAME = "exercises"
#: The repository's line length (pyproject.toml, ``[tool.ruff]``): stubs are wrapped the way ruff would.
LINE_LENGTH = 120

#: Cells with one of these tags are left out of the exercises.
DROPPED_CELL_TAGS = ("solution-only", "solution-note")
#: Cell metadata that running or viewing a notebook leaves behind.
RUN_METADATA_KEYS = ("execution", "ExecuteTime", "collapsed", "scrolled")
METADATA_KEY = "voicelive_lab"


@dataclass(frozen=True)
class Section:
    """One section of the lab, with the marker name that delimits its code."""

    number: int
    marker: str
    title: str
    guidance: str

    @property
    def begin(self) -> str:
        return f"# BEGIN {self.marker}"

    @property
    def end(self) -> str:
        return f"# END {self.marker}"


SECTIONS = (
    Section(
        1,
        "VOICE LIVE ASSISTANT IMPLEMENTATION",
        "initialise and start the assistant",
        "connect with the endpoint and credential, configure the session, then handle each event.",
    ),
    Section(
        2,
        "CONFIGURE VOICE LIVE SESSION",
        "configure the session",
        "ask for text and audio, the instructions, the voice, PCM16 both ways and server VAD.",
    ),
    Section(
        3,
        "HANDLE SESSION EVENTS",
        "handle session events",
        "react to each event's type: track the state, play audio, stop on barge-in, report errors.",
    ),
)
SECTIONS_BY_MARKER = {section.marker: section for section in SECTIONS}
#: Hints for functions whose job the section's one-line guidance does not spell out.
FUNCTION_HINTS = {
    "__init__": "store the five settings on self, set self.connection = None and self._stopping = False, "
    "then call self.set_options(**options).",
    "start": "async with connect(...) as conn: keep conn in self.connection, await self._configure_session(conn), "
    "then pass each event to self._handle_event(event, conn) until self._stopping is set.",
}

# A comment line that looks like a marker: "# BEGIN ..." / "# END ..." (checked strictly afterwards).
_MARKER_LIKE = re.compile(r"^[ \t]*#[ \t]*(?P<kind>BEGIN|END)[ \t]+(?P<name>\S.*?)[ \t]*$", re.IGNORECASE)
_FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
_OPENING, _CLOSING = frozenset("([{"), frozenset(")]}")


class ExerciseBuildError(ValueError):
    """A lesson notebook's markers or marked code cannot be turned into an exercise."""


# --------------------------------------------------------------------------------------------------
# Stubbing the marked regions of one cell
# --------------------------------------------------------------------------------------------------


@dataclass
class _Region:
    section: Section
    begin: int  # index of the BEGIN line in the cell's lines
    end: int  # index of the END line


@dataclass
class _Block:
    """A region's lines parsed on their own (wrapped in ``if True:`` when indented, so no text changes)."""

    lines: list[str]
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=list)
    shift: int = 0  # how many lines the wrapper adds in front


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _width(text: str) -> int:
    return len(text.expandtabs(4))


def _char_col(line: str, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; slicing needs characters."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _find_regions(lines: list[str], where: str) -> list[_Region]:
    regions: list[_Region] = []
    open_region: _Region | None = None
    for index, line in enumerate(lines):
        match = _MARKER_LIKE.match(line)
        if match is None:
            continue
        kind, name = match["kind"], match["name"]
        known = name.upper() in SECTIONS_BY_MARKER
        if not known and kind != kind.upper():
            continue  # an ordinary comment such as "# Begin by connecting"
        at = f"{where}, line {index + 1}"
        if not known:
            names = ", ".join(section.marker for section in SECTIONS)
            raise ExerciseBuildError(
                f"{at}: unknown section marker {line.strip()!r}; the sections are: {names}",
            )
        section = SECTIONS_BY_MARKER[name.upper()]
        canonical = section.begin if kind.upper() == "BEGIN" else section.end
        if line.strip() != canonical:
            raise ExerciseBuildError(f"{at}: write the marker exactly as {canonical!r}, not {line.strip()!r}")
        if kind.upper() == "BEGIN":
            if open_region is not None:
                raise ExerciseBuildError(
                    f"{at}: {canonical!r} inside the region opened by {open_region.section.begin!r} on line "
                    f"{open_region.begin + 1}; close it first with {open_region.section.end!r}",
                )
            open_region = _Region(section, index, -1)
        else:
            if open_region is None:
                raise ExerciseBuildError(f"{at}: {canonical!r} with no {section.begin!r} before it")
            if open_region.section is not section:
                raise ExerciseBuildError(
                    f"{at}: {canonical!r} closes the region opened by {open_region.section.begin!r} on line "
                    f"{open_region.begin + 1}; expected {open_region.section.end!r}",
                )
            open_region.end = index
            regions.append(open_region)
            open_region = None
    if open_region is not None:
        raise ExerciseBuildError(
            f"{where}, line {open_region.begin + 1}: {open_region.section.begin!r} is never closed; "
            f"add {open_region.section.end!r} after the last function of the section",
        )
    return regions


def _parse_block(lines: list[str], first_line: int, section: Section, where: str) -> _Block:
    """Parse a region's lines exactly as written. ``first_line`` is the cell line number of ``lines[0]``."""
    block = _Block(lines)
    code = [line for line in lines if _is_code(line)]
    if not code:
        raise ExerciseBuildError(
            f"{where}, line {first_line - 1}: the {section.begin!r} region has no function in it",
        )
    block.shift = 1 if _indent_of(code[0]) else 0
    text = ("if True:\n" if block.shift else "") + "".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        line = first_line + (error.lineno or 1) - 1 - block.shift
        raise ExerciseBuildError(
            f"{where}, line {line}: the {section.begin!r} region is not valid Python on its own ({error.msg}); "
            "it may hold only function definitions, comments and blank lines",
        ) from None
    body = tree.body[0].body if block.shift else tree.body  # type: ignore[attr-defined]
    for node in body:
        if not isinstance(node, _FUNCTION_TYPES):
            line = first_line + node.lineno - 1 - block.shift
            statement = lines[node.lineno - 1 - block.shift].strip()
            raise ExerciseBuildError(
                f"{where}, line {line}: the {section.begin!r} region may hold only function definitions, "
                f"comments and blank lines, but it has {statement!r} ({type(node).__name__})",
            )
        block.functions.append(node)
    return block


def _signature_end(lines: list[str], def_index: int, last_index: int, where: str) -> tuple[int, int]:
    """Line index and character column just after the colon that ends the ``def`` starting on ``def_index``."""
    text = "".join(lines[def_index : last_index + 1])
    depth, seen_def = 0, False
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NAME and token.string == "def":
                seen_def = True
            elif token.type == tokenize.OP:
                if token.string in _OPENING:
                    depth += 1
                elif token.string in _CLOSING:
                    depth -= 1
                elif token.string == ":" and depth == 0 and seen_def:
                    return def_index + token.end[0] - 1, token.end[1]
    except (tokenize.TokenError, SyntaxError) as error:  # pragma: no cover - the region parsed already
        raise ExerciseBuildError(
            f"{where}: cannot read the signature on region line {def_index + 1}: {error}"
        ) from None
    raise ExerciseBuildError(f"{where}: cannot find the end of the signature on region line {def_index + 1}")


def _string_literal(text: str) -> str:
    return f'"{text}"' if '"' not in text and "\\" not in text else repr(text)


def _raise_lines(indent: str, message: str) -> list[str]:
    """``raise NotImplementedError(message)`` laid out as ``ruff format`` does at this indentation."""
    one_line = f"{indent}raise NotImplementedError({_string_literal(message)})"
    if _width(one_line) <= LINE_LENGTH:
        return [one_line]
    inner = indent + ("\t" if "\t" in indent else "    ")
    if _width(inner + _string_literal(message)) <= LINE_LENGTH:
        parts = [message]
    else:  # too long for one string even on its own line: ruff keeps an implicit concatenation as is
        parts = [""]
        for piece in re.split(r"(?<=[:,] )", message):
            if parts[-1] and _width(inner + _string_literal(parts[-1] + piece)) > LINE_LENGTH:
                parts.append("")
            parts[-1] += piece
    return [f"{indent}raise NotImplementedError(", *(inner + _string_literal(part) for part in parts), f"{indent})"]


def _hint_lines(indent: str, guidance: str) -> list[str]:
    """``# Your code here: <guidance>``, continued on further comment lines only if it would be too long."""
    words = f"Your code here: {guidance}".split()
    lines: list[str] = []
    current = f"{indent}#"
    for word in words:
        if current != f"{indent}#" and _width(f"{current} {word}") > LINE_LENGTH:
            lines.append(current)
            current = f"{indent}#"
        current = f"{current} {word}"
    lines.append(current)
    return lines


def _stub_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    lines: list[str],
    shift: int,
    section: Section,
    where: str,
) -> tuple[int, int, list[str]]:
    """First and last region line index the function occupies, and the lines of its stub."""
    start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)]) - 1 - shift
    def_index = node.lineno - 1 - shift
    last = (node.end_lineno or node.lineno) - 1 - shift
    def_width = _width(_indent_of(lines[def_index]))
    # Comments indented like the body, right after its last statement, still belong to the function.
    index = last + 1
    while index < len(lines) and (not lines[index].strip() or not _is_code(lines[index])):
        if lines[index].strip() and _width(_indent_of(lines[index])) > def_width:
            last = index
        elif lines[index].strip():
            break
        index += 1

    sig_index, sig_col = _signature_end(lines, def_index, last, where)
    signature = lines[start:sig_index]
    rest = lines[sig_index][sig_col:]
    if not rest.strip() or rest.lstrip().startswith("#"):
        signature.append(lines[sig_index].rstrip("\r\n") + "\n")  # keep a comment after the colon
    else:
        signature.append(lines[sig_index][:sig_col] + "\n")  # the body started on the signature's line

    first = node.body[0]
    first_line = lines[first.lineno - 1 - shift]
    first_col = _char_col(first_line, first.col_offset)
    if first.lineno - 1 - shift > sig_index and not first_line[:first_col].strip():
        body_indent = first_line[:first_col]
    else:
        def_indent = _indent_of(lines[def_index])
        body_indent = def_indent + ("\t" if "\t" in def_indent else "    ")

    stub = list(signature)
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        end_line = lines[(first.end_lineno or first.lineno) - 1 - shift]
        end_col = _char_col(end_line, first.end_col_offset or 0)
        if first.lineno == first.end_lineno:
            docstring = first_line[first_col:end_col]
        else:
            middle = lines[first.lineno - shift : (first.end_lineno or first.lineno) - 1 - shift]
            docstring = first_line[first_col:] + "".join(middle) + end_line[:end_col]
        stub.append(f"{body_indent}{docstring}\n")
    message = (
        f"Section {section.number} ({section.title}) is not written yet: "
        f"write {node.name} here, then run the check below."
    )
    stub.extend(line + "\n" for line in _hint_lines(body_indent, FUNCTION_HINTS.get(node.name, section.guidance)))
    stub.extend(line + "\n" for line in _raise_lines(body_indent, message))
    return start, last, stub


def _signature_dump(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """Everything about a function but its body, without positions."""
    parts = [type(node).__name__]
    for name in node._fields:
        if name == "body":
            continue
        value = getattr(node, name)
        if isinstance(value, list):
            parts.append(name + "=" + ",".join(ast.dump(item) for item in value))
        elif isinstance(value, ast.AST):
            parts.append(f"{name}={ast.dump(value)}")
        else:
            parts.append(f"{name}={value!r}")
    return "|".join(parts)


def _stub_region(region: _Region, lines: list[str], where: str) -> list[str]:
    inner = lines[region.begin + 1 : region.end]
    block = _parse_block(inner, region.begin + 2, region.section, where)
    out: list[str] = []
    position = 0
    for node in block.functions:
        start, last, stub = _stub_function(node, inner, block.shift, region.section, where)
        out.extend(inner[position:start])
        out.extend(stub)
        position = last + 1
    out.extend(inner[position:])

    # The stubs must parse, with every signature and docstring as before and a body that only raises.
    stubbed = _parse_block(out, region.begin + 2, region.section, where)
    for before, after in zip(block.functions, stubbed.functions, strict=True):
        body = after.body
        if ast.get_docstring(before, clean=False) is not None:
            body = body[1:]
        if (
            _signature_dump(before) != _signature_dump(after)
            or ast.get_docstring(before, clean=False) != ast.get_docstring(after, clean=False)
            or len(body) != 1
            or not isinstance(body[0], ast.Raise)
        ):  # pragma: no cover - a bug in this script, not in the notebook
            raise ExerciseBuildError(f"{where}: the stub of {before.name} does not match its source")
    return out


def _parse_cell(source: str) -> ast.Module | None:
    """Parse a cell as IPython would run it, tolerating top-level ``await`` and line magics; None if not Python."""
    lines = source.splitlines(keepends=True)
    if lines and lines[0].lstrip().startswith("%%"):
        return None  # a cell magic: the rest of the cell is not necessarily Python
    plain = [f"{_indent_of(line)}pass\n" if line.lstrip().startswith(("%", "!")) else line for line in lines]
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        tree = compile("".join(plain), "<cell>", "exec", flags=flags, dont_inherit=True)
    except SyntaxError:
        return None
    assert isinstance(tree, ast.Module)
    return tree


def stub_regions(source: str, where: str) -> str:
    """Replace the body of every function in the cell's marked regions with a stub that names its section.

    ``source`` is a code cell's source; ``where`` names the cell in error messages (for example
    ``"notebooks/02_session.ipynb, cell 7"``). A cell with no markers comes back unchanged. Raises
    ExerciseBuildError for unbalanced, nested or misnamed markers and for a region that holds anything but
    function definitions, comments and blank lines.
    """
    lines = source.splitlines(keepends=True)
    regions = _find_regions(lines, where)
    if not regions:
        return source
    if not lines[-1].endswith("\n"):
        lines[-1] += "\n"  # restored below
    out: list[str] = []
    position = 0
    for region in regions:
        out.extend(lines[position : region.begin + 1])
        out.extend(_stub_region(region, lines, where))
        position = region.end
    out.extend(lines[position:])
    result = "".join(out)
    if not source.endswith("\n"):
        result = result[:-1]
    if _parse_cell(source) is not None and _parse_cell(result) is None:  # pragma: no cover - a bug here
        raise ExerciseBuildError(f"{where}: the cell with its stubs is not valid Python any more")
    return result


# --------------------------------------------------------------------------------------------------
# Whole notebooks
# --------------------------------------------------------------------------------------------------


def _cell_where(where: str, index: int, cell: Any) -> str:
    cell_id = cell.get("id")
    return f"{where}, cell {index}" + (f" (id {cell_id})" if cell_id else "")


def _clean_cell_metadata(metadata: dict[str, Any]) -> None:
    for key in RUN_METADATA_KEYS:
        metadata.pop(key, None)
    jupyter = metadata.get("jupyter")
    if isinstance(jupyter, dict):
        jupyter.pop("outputs_hidden", None)
        if not jupyter:
            del metadata["jupyter"]


def build_exercise(
    nb: nbformat.NotebookNode,
    name: str | None = None,
    *,
    where: str | None = None,
) -> nbformat.NotebookNode:
    """The exercise version of a complete lesson notebook (the argument is left unchanged).

    ``name`` is the lesson's file name (``"02_session.ipynb"``), recorded as the exercise's source;
    ``where`` names the notebook in error messages (defaults to ``name``).
    """
    where = where or name or "notebook"
    exercise = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(exercise.cells, start=1):
        metadata = cell.setdefault("metadata", nbformat.NotebookNode())
        if any(tag in metadata.get("tags", ()) for tag in DROPPED_CELL_TAGS):
            continue
        _clean_cell_metadata(metadata)
        if cell.cell_type == "code":
            cell.source = stub_regions(cell.source, _cell_where(where, index, cell))
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    exercise.cells = cells
    exercise.metadata.pop("widgets", None)  # saved widget state belongs to the cleared outputs
    lab = dict(exercise.metadata.get(METADATA_KEY) or {})
    lab["exercise"] = True
    if name is not None:
        lab["source"] = f"../{name}"
    exercise.metadata[METADATA_KEY] = nbformat.from_dict(lab)
    return exercise


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """A notebook as written to disk: nbformat's JSON (sorted keys) with a final newline."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _display(path: Path) -> str:
    return Path(os.path.relpath(path)).as_posix()


@dataclass(frozen=True)
class Plan:
    """What the exercises folder should hold: the text of every exercise, and the files to remove."""

    exercises: dict[Path, str]
    leftovers: list[Path]


def plan_exercises(notebooks_dir: Path = NOTEBOOKS_DIR) -> Plan:
    """Build every exercise in memory (nothing is written)."""
    exercises_dir = notebooks_dir / EXERCISES_DIRNAME
    exercises: dict[Path, str] = {}
    for source in sorted(notebooks_dir.glob("*.ipynb")):
        nb = nbformat.reads(source.read_text(encoding="utf-8"), as_version=4)
        exercise = build_exercise(nb, source.name, where=_display(source))
        exercises[exercises_dir / source.name] = notebook_text(exercise)
    existing = sorted(exercises_dir.glob("*.ipynb")) if exercises_dir.is_dir() else []
    leftovers = [path for path in existing if path not in exercises]
    return Plan(exercises, leftovers)


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(text.encode("utf-8"))
    os.replace(temporary, path)


def write_exercises(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """Write the exercises that changed and remove those with no source; one line per exercise file."""
    plan = plan_exercises(notebooks_dir)
    report = []
    for path, text in plan.exercises.items():
        if path.is_file() and path.read_bytes() == text.encode("utf-8"):
            report.append(f"unchanged {_display(path)}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, text)
        report.append(f"wrote {_display(path)}")
    for path in plan.leftovers:
        path.unlink()
        report.append(f"removed {_display(path)} (its source {_display(notebooks_dir / path.name)} is gone)")
    return report


def check_exercises(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """Problems with the committed exercises (empty when they are exactly what this script generates)."""
    plan = plan_exercises(notebooks_dir)
    problems = []
    for path, text in plan.exercises.items():
        if not path.is_file():
            problems.append(f"missing {_display(path)}")
        elif path.read_bytes() != text.encode("utf-8"):
            problems.append(f"stale {_display(path)}")
    problems.extend(f"leftover {_display(path)} (no {_display(notebooks_dir / path.name)})" for path in plan.leftovers)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the exercises are not current")
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=NOTEBOOKS_DIR,
        help="the folder of complete notebooks (default: %(default)s); exercises go in its exercises/ folder",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check_exercises(args.notebooks)
            for problem in problems:
                print(problem)
            if problems:
                print("The exercises are out of date: run `python scripts/build_exercises.py` and commit the result.")
                return 1
            print(f"exercises up to date in {_display(args.notebooks / EXERCISES_DIRNAME)}")
            return 0
        for line in write_exercises(args.notebooks):
            print(line)
    except ExerciseBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Microsoft Learn lab's three code blocks, read from the lab's own text in ../shared/seeds (never copied
into this repository), so tests can paste them into the exercises exactly as a learner would."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
MARKERS = {
    1: "# BEGIN VOICE LIVE ASSISTANT IMPLEMENTATION - ALIGN CODE WITH COMMENT",
    2: "# BEGIN CONFIGURE VOICE LIVE SESSION - ALIGN CODE WITH COMMENT",
    3: "# BEGIN HANDLE SESSION EVENTS - ALIGN CODE WITH COMMENT",
}


def lab_blocks() -> dict[int, str] | None:
    """Section number → the lab's block, dedented; None when the lab's text is not beside the repository."""
    for path in sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []:
        blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)
        if len(blocks) == 3 and "def __init__" in blocks[0] and "RequestSession(" in blocks[1]:
            return {number: textwrap.dedent(block).strip("\n") + "\n" for number, block in enumerate(blocks, 1)}
    return None


def _region(cell: str, section: int) -> tuple[list[str], int, int, str]:
    lines = cell.splitlines()
    begin = next(i for i, line in enumerate(lines) if line.strip() == MARKERS[section])
    end = next(i for i in range(begin + 1, len(lines)) if lines[i].strip().startswith("# END "))
    return lines, begin, end, lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]


def between_markers(cell: str, section: int) -> str:
    """What a section's markers hold now (the exercise's stub, say), dedented to the BEGIN marker."""
    lines, begin, end, indent = _region(cell, section)
    return "\n".join(line[len(indent) :] for line in lines[begin + 1 : end]) + "\n"


def paste(cell: str, section: int, block: str, indent: str | None = None) -> str:
    """Replace what lies between a section's markers with ``block``, at the BEGIN marker's indentation (as the
    lab asks) unless another ``indent`` is given (as a hurried paste does)."""
    lines, begin, end, marker_indent = _region(cell, section)
    indent = marker_indent if indent is None else indent
    pasted = [indent + line if line.strip() else "" for line in block.splitlines()]
    return "\n".join(lines[: begin + 1] + pasted + lines[end:]) + "\n"


def with_the_barge_in_fix(block: str) -> str:
    """The lab's section 3 with the one-line fix: read the state *before* setting it to 'listening'."""
    read = '        current_state = assistant_state.get("state")\n'
    announce = '    self.state_callback("listening", "Listening… speak now")\n'
    assert block.count(read) == 1 and block.count(announce) == 1, "the lab's section 3 is not as expected"
    return block.replace(read, "").replace(announce, read[4:] + announce)

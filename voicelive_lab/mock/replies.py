"""An instructor's script of replies, and how a tool's output is put into words."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .brain import MATCH_SHARE, share_heard, words_of

TOOL_REPLY = "Here is what {name} returned: {summary}."
MAX_QUOTED_CHARS = 200
#: A tool output with many fields is summed up by its first few.
MAX_SAID_KEYS = 6


class ScriptError(ValueError):
    """An instructor's script file that cannot be used, with the reason and the expected shape."""


@dataclass(frozen=True)
class ScriptedTurn:
    """One user turn of an instructor's script: what the user 'said' and what the assistant answers."""

    assistant: str
    user: str | None = None


class ReplyScript:
    """The assistant's lines: turns with a ``user`` phrase answer it when heard, the others answer by turn number.

    Anything the script does not cover goes to the practice brain.
    """

    def __init__(self, turns: list[ScriptedTurn] | tuple[ScriptedTurn, ...] = ()) -> None:
        self.turns = tuple(turns)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ReplyScript:
        """Read ``{"turns": [{"user": "...", "assistant": "..."}, ...]}`` (or just the list) from JSON."""
        file = Path(path)
        try:
            data: Any = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScriptError(f"Reply script {file} does not exist.") from None
        except json.JSONDecodeError as error:
            raise ScriptError(
                f"Reply script {file} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})."
            ) from None
        turns = data.get("turns") if isinstance(data, dict) else data
        if not isinstance(turns, list):
            raise ScriptError(f'Reply script {file} must hold {{"turns": [...]}} or a list of turns.')
        parsed = []
        for number, turn in enumerate(turns, start=1):
            if not isinstance(turn, dict) or not isinstance(turn.get("assistant"), str):
                raise ScriptError(f"Turn {number} of {file} needs an 'assistant' string.")
            user = turn.get("user")
            if user is not None and not isinstance(user, str):
                raise ScriptError(f"Turn {number} of {file}: 'user' must be a string when given.")
            parsed.append(ScriptedTurn(assistant=turn["assistant"], user=user))
        return cls(parsed)

    def scripted(self, turn: int) -> ScriptedTurn | None:
        """The scripted turn ``turn`` (1-based), or None past the end of the script."""
        return self.turns[turn - 1] if 0 < turn <= len(self.turns) else None

    def reply_for(self, turn: int, heard: str) -> str | None:
        """The scripted reply: a turn whose ``user`` phrase the words match, else turn ``turn`` if it has none."""
        matches = [(share_heard(words_of(heard), scripted.user), scripted) for scripted in self.turns if scripted.user]
        score, best = max(matches, key=lambda match: match[0], default=(0.0, None))
        if best is not None and score >= MATCH_SHARE:
            return best.assistant
        scripted = self.scripted(turn)
        return scripted.assistant if scripted is not None and scripted.user is None else None


def reply_to_tool_output(name: str, output: str) -> str:
    return TOOL_REPLY.format(name=name.replace("_", " "), summary=summarize_output(output))


def summarize_output(output: str) -> str:
    """A tool's JSON output as a short phrase: ``{"temp": 21}`` → ``temp is 21``."""
    try:
        value = json.loads(output)
    except (json.JSONDecodeError, TypeError):
        value = output
    if isinstance(value, dict) and value:
        fields = list(value.items())[:MAX_SAID_KEYS]
        said = [f"{key.replace('_', ' ')[:40]} is {str(item)[:60]}" for key, item in fields]
        return ", ".join(said)[:MAX_QUOTED_CHARS]
    text = str(value).strip()
    return text[:MAX_QUOTED_CHARS] if text else "nothing"

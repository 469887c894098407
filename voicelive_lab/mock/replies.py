"""What the practice assistant says: a default script that teaches, or an instructor's script file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_AUDIO_REPLIES = (
    "Hello! I heard {speech} of speech. I am the practice server: I hear sound, not words.",
    "I heard {speech} this time. Talk over me to see barge-in.",
    "That was {speech}. A dot env file with your endpoint switches you to Azure.",
)
LATER_AUDIO_REPLY = "Turn {turn}: I heard {speech} of speech."
TEXT_REPLY = 'You wrote: "{text}". The practice server repeats it back; Azure would answer it.'
TOOL_REPLY = "The {name} tool answered: {summary}. That is what I would tell you."
MAX_QUOTED_CHARS = 200


class ScriptError(ValueError):
    """An instructor's script file that cannot be used, with the reason and the expected shape."""


@dataclass(frozen=True)
class ScriptedTurn:
    """One user turn of an instructor's script: what the user 'said' and what the assistant answers."""

    assistant: str
    user: str | None = None


def describe_speech(speech_ms: int) -> str:
    seconds = speech_ms / 1000
    return f"{seconds:.1f} seconds"


def placeholder_transcript(speech_ms: int) -> str:
    """Offline there is no recognizer: the transcript says how much speech was heard."""
    if speech_ms <= 0:
        return "(no speech heard)"
    return f"({speech_ms / 1000:.1f} s of speech)"


class ReplyScript:
    """The assistant's lines, turn by turn. Turns past the end of a script use the default lines."""

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

    def user_transcript(self, turn: int, speech_ms: int) -> str:
        scripted = self.scripted(turn)
        if scripted is not None and scripted.user is not None:
            return scripted.user
        return placeholder_transcript(speech_ms)

    def reply_to_audio(self, turn: int, speech_ms: int) -> str:
        scripted = self.scripted(turn)
        if scripted is not None:
            return scripted.assistant
        template = DEFAULT_AUDIO_REPLIES[turn - 1] if turn <= len(DEFAULT_AUDIO_REPLIES) else LATER_AUDIO_REPLY
        return template.format(turn=turn, speech=describe_speech(speech_ms))

    def reply_to_text(self, turn: int, text: str) -> str:
        scripted = self.scripted(turn)
        if scripted is not None:
            return scripted.assistant
        quoted = " ".join(text.split())
        if len(quoted) > MAX_QUOTED_CHARS:
            quoted = quoted[: MAX_QUOTED_CHARS - 1] + "…"
        return TEXT_REPLY.format(text=quoted)

    def reply_to_tool_output(self, name: str, output: str) -> str:
        return TOOL_REPLY.format(name=name.replace("_", " "), summary=summarize_output(output))


def summarize_output(output: str) -> str:
    """A tool's JSON output as a short phrase: ``{"temp": 21}`` → ``temp is 21``."""
    try:
        value = json.loads(output)
    except (json.JSONDecodeError, TypeError):
        value = output
    if isinstance(value, dict) and value:
        return ", ".join(f"{key.replace('_', ' ')} is {item}" for key, item in value.items())
    text = str(value).strip()
    return text[:MAX_QUOTED_CHARS] if text else "nothing"

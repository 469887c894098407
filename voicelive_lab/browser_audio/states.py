"""The page's words for its microphone and speaker states, and how the kernel side puts them in a status line."""

from __future__ import annotations

#: Page states that end a session: the device cannot work until the learner changes something.
FAILURES = {
    "denied": "denied",
    "no-microphone": "no microphone",
    "unavailable": "microphone unavailable",
    "insecure": "insecure page",
    "blocked": "blocked in VS Code",
    "unsupported": "unsupported browser",
    "ended": "microphone stopped",
    "error": "error",
    "lost": "page lost",
}

#: Page states that are fine, in the words of a status line.
PROGRESS = {
    "off": "ready",
    "starting": "starting in the page",
    "listening": "listening",
    "ready": "ready to play",
    "playing": "playing",
    "suspended": "waiting for a click on the page (the browser holds sound back until then)",
}

WAITING = "waiting for the page"


def is_failure(state: str) -> bool:
    return state in FAILURES


def describe(state: str, message: str = "") -> str:
    """A status line: ``"listening"``, or ``"denied: The browser denied the microphone. …"``."""
    if state in FAILURES:
        return f"{FAILURES[state]}: {message}" if message else FAILURES[state]
    return PROGRESS.get(state, state)

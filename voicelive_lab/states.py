"""SessionState: the states of a voice session, as the lab's class names them.

A ``str`` enumeration, so ``SessionState.READY == "ready"`` and the lab's own code (which passes plain strings to
``state_callback``) fits unchanged. The kit's code uses the members, so a misspelt state fails at once instead of
falling through a dictionary lookup; a state a learner's class reports that is not one of these is shown as it
is, with a note saying which states the lab uses.
"""

from __future__ import annotations

from enum import Enum


class SessionState(str, Enum):
    IDLE = "idle"
    STARTING = "starting"
    READY = "ready"
    LISTENING = "listening"
    PROCESSING = "processing"
    ASSISTANT_SPEAKING = "assistant_speaking"
    ERROR = "error"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """How the panel's badge writes it: "assistant speaking"."""
        return self.value.replace("_", " ")


#: While connected: the states between "ready" and the end of a session.
CONNECTED = frozenset(
    {SessionState.READY, SessionState.LISTENING, SessionState.PROCESSING, SessionState.ASSISTANT_SPEAKING}
)
#: A session that reached one of these has ended.
ENDED = frozenset({SessionState.ERROR, SessionState.STOPPED})


def as_state(name: str) -> SessionState | str:
    """The member for a state's name, or the name itself when it is not one of the lab's states."""
    try:
        return SessionState(name)
    except ValueError:
        return name


def unknown_state_note(name: str) -> str:
    known = ", ".join(f'"{state.value}"' for state in SessionState if state is not SessionState.IDLE)
    return f'Your class reported the state "{name}", which is not one of the lab\'s: {known}.'

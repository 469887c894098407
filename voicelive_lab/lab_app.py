"""What the lab's Flask module (``flask_app.py``) gave its assistant class, routed to the session running it.

The lab's handlers talk to the page through two module globals: ``_broadcast(message)`` (status, logs,
``{"type": "audio", "audio": <base64>}`` and ``{"type": "control", "action": "stop_playback"}``) and the
``assistant_state`` dict. Here they reach whichever session runs the calling code: each session (a panel's,
a check's private one) runs on its own thread and binds a :class:`SessionChannel` there, so two sessions in
one kernel never cross. Outside a session, messages are only logged and the state reads ``idle``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .learner_code import describe_code_error, is_connection_error
from .states import SessionState

log = logging.getLogger("voicelive_lab.lab_app")

_BASE64_TEXT = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")
IDLE_STATE: dict[str, Any] = {"state": SessionState.IDLE, "message": "", "last_error": None, "connected": False}
CONNECTED_STATES = frozenset(
    {SessionState.READY, SessionState.LISTENING, SessionState.PROCESSING, SessionState.ASSISTANT_SPEAKING}
)
AUDIO_FORM = '{"type": "audio", "audio": base64.b64encode(pcm_bytes).decode("utf-8")}'


class BroadcastFormatError(ValueError):
    """A ``_broadcast`` message in a form the page could not use; says which form it expects."""


class SessionChannel:
    """Where one session's broadcasts and state go. The session's owner supplies the callbacks."""

    def __init__(
        self,
        *,
        on_audio: Callable[[bytes], None] = lambda pcm: None,
        on_stop_playback: Callable[[], None] = lambda: None,
        on_log: Callable[[str, str], None] = lambda level, text: None,
        on_event: Callable[[Any], None] = lambda event: None,
    ) -> None:
        self.on_audio = on_audio
        self.on_stop_playback = on_stop_playback
        self.on_log = on_log
        self.on_event = on_event
        self.state: dict[str, Any] = dict(IDLE_STATE)
        #: The exception that ended the session, when ``explain_failure`` reported one.
        self.failure: BaseException | None = None
        #: ("set", state) and ("read", state) in order: lets a check see *when* the handlers read the state.
        self.journal: deque[tuple[str, str]] = deque(maxlen=500)

    def set_state(self, state: str, message: str) -> None:
        connected = state in CONNECTED_STATES or (state == SessionState.ERROR and self.state["connected"])
        last_error = message if state == SessionState.ERROR else self.state["last_error"]
        self.state = {"state": state, "message": message, "last_error": last_error, "connected": connected}
        self.journal.append(("set", state))


_bound = threading.local()


@contextmanager
def bound_channel(channel: SessionChannel) -> Iterator[SessionChannel]:
    """Route ``_broadcast`` and ``assistant_state`` on this thread to ``channel`` (one session per thread)."""
    previous = getattr(_bound, "channel", None)
    _bound.channel = channel
    try:
        yield channel
    finally:
        _bound.channel = previous


def current_channel() -> SessionChannel | None:
    return getattr(_bound, "channel", None)


def _broadcast(message: dict[str, Any]) -> None:
    """Tell the session's page something, as the lab's app did: audio, ``stop_playback``, a log or a status."""
    if not isinstance(message, dict):
        raise BroadcastFormatError(f"_broadcast takes a dict such as {AUDIO_FORM}, not {type(message).__name__}.")
    kind = message.get("type")
    channel = current_channel()
    if kind == "audio":
        pcm = _audio_of(message)
        if channel is not None:
            channel.on_audio(pcm)
    elif kind == "control" and message.get("action") == "stop_playback":
        if channel is not None:
            channel.on_stop_playback()
    elif kind == "event":
        if channel is not None:
            channel.on_event(message.get("event"))
    elif kind == "status" and channel is not None:
        channel.on_log("status", f"{message.get('state')}: {message.get('message', '')}")
    elif channel is not None:
        level = str(message.get("level", "info"))
        channel.on_log(level, str(message.get("msg") or message.get("event_type") or message.get("message") or ""))
    if channel is None:
        log.debug("no session is running here; not sent: %s", kind)


def _audio_of(message: dict[str, Any]) -> bytes:
    """The PCM16 in an audio message, or an error that names the mistake and the form to use."""
    audio = message.get("audio")
    if isinstance(audio, (bytes, bytearray)):
        if _BASE64_TEXT.match(bytes(audio)[:4096] or b"-"):
            raise BroadcastFormatError(
                'The audio is base64 *bytes*; the page expects text. Add .decode("utf-8"): ' + AUDIO_FORM
            )
        raise BroadcastFormatError(
            "The audio is raw bytes; the page expects base64 text. Encode the delta once: " + AUDIO_FORM
        )
    if not isinstance(audio, str):
        raise BroadcastFormatError(f"The audio is {type(audio).__name__}; the page expects base64 text: {AUDIO_FORM}")
    try:
        pcm = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise BroadcastFormatError(f"The audio is not base64 text. Encode the delta bytes: {AUDIO_FORM}") from None
    if len(pcm) >= 16 and _BASE64_TEXT.match(pcm):
        raise BroadcastFormatError(
            "The audio was base64-encoded twice: event.delta is already raw PCM bytes (the SDK decoded it), "
            "so encode it once: " + AUDIO_FORM
        )
    if len(pcm) % 2:
        raise BroadcastFormatError("The audio has an odd number of bytes; PCM16 has 2 bytes per sample.")
    return pcm


class _AssistantState(Mapping[str, Any]):
    """The lab's ``assistant_state`` dict (state, message, last_error, connected) of the session running now."""

    def _current(self) -> dict[str, Any]:
        channel = current_channel()
        return IDLE_STATE if channel is None else channel.state

    def __getitem__(self, key: str) -> Any:
        channel = current_channel()
        value = self._current()[key]
        if channel is not None and key == "state":
            channel.journal.append(("read", value))
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return repr(dict(self._current()))


assistant_state: Mapping[str, Any] = _AssistantState()


def explain_failure(error: BaseException, endpoint: str) -> str:
    """Why a session ended: a connection problem in plain words, or a bug with the line that raised it."""
    from .errors import explain_connection_error

    channel = current_channel()
    if channel is not None:
        channel.failure = error
    if is_connection_error(error):
        return explain_connection_error(error, endpoint)
    return describe_code_error(error)

"""Fault injection: ways to make the practice server misbehave on purpose, for tests and lessons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _server_error() -> dict[str, Any]:
    return {
        "type": "server_error",
        "code": "internal_server_error",
        "message": "The practice server was told to fail here (fault injection).",
        "param": None,
    }


@dataclass(frozen=True)
class Faults:
    """Each fault counts the server events sent on one connection; ``None`` switches a fault off."""

    #: Refuse every WebSocket handshake with this HTTP status (e.g. 503), before the upgrade.
    reject_handshake: int | None = None
    #: Close the socket right after this many server events.
    close_after_events: int | None = None
    #: Close the socket in the middle of a response, after this many ``response.audio.delta`` events.
    close_after_audio_deltas: int | None = None
    #: WebSocket close code for the two closes above (1000 normal, 1011 server error).
    close_code: int = 1011
    #: Send ``error`` (a server ``error`` event's payload) after this many events.
    error_after_events: int | None = None
    error: dict[str, Any] = field(default_factory=_server_error)
    #: Close the socket (with ``close_code``) right after sending the injected error.
    close_after_error: bool = False
    #: Send a frame that is not JSON after this many events.
    malformed_after_events: int | None = None
    #: Go silent after this many events: the socket stays open (pings answered) but nothing more is sent.
    silent_after_events: int | None = None
    #: Wait this long before every server event.
    event_delay_ms: float = 0.0

"""The SDK's private parts the kit relies on, each behind one function.

``tests/test_sdk_quirks.py`` fails when azure-ai-voicelive changes any of them:

- the close code of a connection the service closed: the SDK keeps it on its private aiohttp WebSocket;
- the SDK's warning about a CLOSING frame, which here only means that Stop closed the socket;
- the aiohttp session the SDK's ``connect`` leaves unclosed when it is cancelled during the handshake (Stop
  while connecting). aiohttp has already dropped the half-open connection, so only asyncio's "Unclosed client
  session" report would remain, once per Stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType

#: The module of the SDK whose logger reports an unexpected WebSocket message type.
SDK_CONNECTION_LOGGER = "azure.ai.voicelive.aio._patch"
CLOSING_FRAME_WARNING = "Unexpected WebSocket message type: %s"
UNCLOSED_SESSION = "Unclosed client session"

log = logging.getLogger(__name__)


def close_code(connection: Any) -> int | None:
    """The WebSocket close code of an SDK connection, or None while it is open (or for another object)."""
    return getattr(getattr(connection, "_connection", None), "close_code", None)


class _OwnCloseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == CLOSING_FRAME_WARNING and record.args == (WSMsgType.CLOSING,))


_own_close_filter = _OwnCloseFilter()


def quiet_own_close() -> None:
    """Drop the SDK's warning about a CLOSING frame (Stop closing the socket is not news). Safe to call twice."""
    logging.getLogger(SDK_CONNECTION_LOGGER).addFilter(_own_close_filter)


def forgive_cancelled_connect(loop: asyncio.AbstractEventLoop, stopping: Callable[[], bool]) -> None:
    """On ``loop``, drop asyncio's "Unclosed client session" report once ``stopping()`` is true (the SDK's
    ``connect`` was cancelled mid-handshake); every other report goes to the loop's default handler."""

    def handler(handled_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == UNCLOSED_SESSION and stopping():
            log.debug("the SDK's connect was cancelled by Stop; its aiohttp session was left unclosed")
            return
        handled_loop.default_exception_handler(context)

    loop.set_exception_handler(handler)

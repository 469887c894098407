"""Checking client events before the session acts on them: the service's error shape, with the ``param`` named."""

from __future__ import annotations


class ClientEventError(Exception):
    """A client event the service would refuse; becomes an ``error`` event, the session goes on."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param

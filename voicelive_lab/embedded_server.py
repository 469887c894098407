"""The practice server a kernel shares when no endpoint is configured, started the first time it is needed.

:func:`practice_server` starts it (once per process, whatever the thread) and stops it when Python exits.
:class:`FromPracticeServer` is how :class:`~voicelive_lab.config.Settings` gets its endpoint and credential
from it without starting it early: reading ``settings.endpoint`` starts the server, while ``load_settings()``,
``settings.describe()`` and ``voicelive-lab doctor`` never do.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar, overload

if TYPE_CHECKING:
    from voicelive_lab.mock import MockServer

__all__ = ["FromPracticeServer", "practice_server", "running_practice_server"]

T = TypeVar("T")

_server: MockServer | None = None
_server_script: str | None = None
_server_lock = threading.Lock()


def practice_server(script: str | os.PathLike[str] | None = None) -> MockServer:
    """Start (once per process) and return the shared embedded practice server.

    ``script`` (an instructor's reply script) only applies when the server is first created.
    """
    global _server, _server_script
    with _server_lock:
        if _server is None:
            from voicelive_lab.mock import MockServer

            script_str = None if script is None else os.fspath(script)
            server = MockServer(script=script_str) if script_str else MockServer()
            server.start()
            _server, _server_script = server, script_str
            atexit.register(server.stop)
        return _server


def running_practice_server() -> tuple[MockServer | None, str | None]:
    """The shared practice server if it has been started (else None), and the script it was started with."""
    with _server_lock:
        return _server, _server_script


class FromPracticeServer(Generic[T]):
    """A field of a frozen dataclass that, left out or given None, reads its value from the shared practice server.

    The server starts on the first read, with the instance's ``practice_script``; a value given is kept as is.
    """

    def __init__(self, from_server: Callable[[MockServer], T]) -> None:
        self._from_server = from_server
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> None: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> T | None:
        if instance is None:
            return None  # the field's default, as the dataclass reads it from the class
        given: T | None = instance.__dict__[self._name]
        if given is not None:
            return given
        return self._from_server(practice_server(getattr(instance, "practice_script", None)))

    def __set__(self, instance: object, value: T | None) -> None:
        instance.__dict__[self._name] = value  # only the dataclass's __init__ gets here: the class is frozen

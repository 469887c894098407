"""The SDK's private parts the kit relies on (voicelive_lab/sdk_quirks.py): each test fails when the SDK changes.

A failure here means azure-ai-voicelive moved or fixed something: update sdk_quirks.py (or drop the quirk).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from azure.ai.voicelive.aio import _patch as sdk_connection
from azure.ai.voicelive.aio import connect
from azure.core.credentials import AzureKeyCredential
from support import run, session, settings_for

from voicelive_lab.audio import RecordingSpeaker, WavMicrophone
from voicelive_lab.config import Settings
from voicelive_lab.mock import Faults, MockServer
from voicelive_lab.runner import SessionRunner
from voicelive_lab.sdk_quirks import (
    CLOSING_FRAME_WARNING,
    SDK_CONNECTION_LOGGER,
    UNCLOSED_SESSION,
    close_code,
)


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """An endpoint that accepts TCP connections and never answers the WebSocket handshake."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_the_close_code_of_a_closed_connection_is_read(make_server) -> None:
    server: MockServer = make_server(faults=Faults(close_after_events=1, close_code=4002))

    async def closed_code() -> tuple[int | None, int | None]:
        async with session(server) as connection:
            before = close_code(connection)
            async for _event in connection:
                pass  # until the server closes
            return before, close_code(connection)

    assert run(closed_code()) == (None, 4002)


def test_the_sdk_still_warns_about_closing_frames_on_the_logger_the_kit_filters() -> None:
    assert sdk_connection.log.name == SDK_CONNECTION_LOGGER
    assert f'"{CLOSING_FRAME_WARNING}"' in inspect.getsource(sdk_connection)


def test_the_sdk_still_leaves_its_session_unclosed_when_connect_is_cancelled(silent_listener: str) -> None:
    """Why forgive_cancelled_connect exists; when this fails, the SDK closes its session itself: drop the quirk."""
    reports: list[str] = []

    async def cancelled_connect() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: reports.append(context["message"]))
        attempt = asyncio.ensure_future(
            connect(endpoint=silent_listener, credential=AzureKeyCredential("k"), model="gpt-4o").__aenter__()
        )
        await asyncio.sleep(0.3)
        attempt.cancel()
        await asyncio.gather(attempt, return_exceptions=True)
        del attempt
        gc.collect()

    run(cancelled_connect())
    assert UNCLOSED_SESSION in reports


def test_stop_while_connecting_prints_nothing(silent_listener: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(
        backend="azure",
        endpoint=silent_listener,
        credential=AzureKeyCredential("k"),
        model="gpt-4o",
        voice="en-US-JennyNeural",
        instructions="Be brief.",
    )
    runner = SessionRunner(settings, microphone=WavMicrophone(realtime=False), speaker=RecordingSpeaker(realtime=False))
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            runner.start()
            time.sleep(0.3)  # in the handshake, which never completes
            assert runner.stop()
            assert runner.state == "stopped" and runner.last_error is None
        gc.collect()
    shown = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert not shown, shown
    assert any("connect was cancelled by Stop" in record.getMessage() for record in caplog.records)


def test_a_closing_frame_after_stop_is_not_reported(make_server, caplog: pytest.LogCaptureFixture) -> None:
    runner = SessionRunner(
        settings_for(make_server()), microphone=WavMicrophone(realtime=False), speaker=RecordingSpeaker(realtime=False)
    )
    with caplog.at_level(logging.WARNING, logger=SDK_CONNECTION_LOGGER):
        for _ in range(5):
            runner.start()
            assert runner.wait_for_state("ready", timeout=10)
            assert runner.stop()
    assert not [r for r in caplog.records if r.name == SDK_CONNECTION_LOGGER], caplog.text

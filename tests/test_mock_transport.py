"""The practice server's transport: frame limits, odd credentials, timeouts, stuck clients, the connection's query."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import numpy as np
import pytest
from azure.ai.voicelive.models import AgentConfig, ResponseSession
from support import barrier, collect, is_type, run, session, types

from voicelive_lab.mock import MockServer
from voicelive_lab.mock.recognizer import PlaceholderRecognizer

LIMIT = 16 * 1024 * 1024


@pytest.fixture
def quick(make_server: Callable[..., MockServer]) -> Callable[..., MockServer]:
    """Servers that stream as fast as they can and need no speech recognizer."""

    def start(**options: Any) -> MockServer:
        return make_server(speed=math.inf, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer(), **options)

    return start


# ----------------------------------------------------------------- raw sockets


def open_socket(server: MockServer, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # a small window: the server's writes block as soon as the client stops reading
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", server.port))
    return sock


def upgrade_request(target: str = "/voice-live/realtime", extra_headers: bytes = b"") -> bytes:
    return (
        (
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        ).encode()
        + extra_headers
        + b"\r\n"
    )


def status_of(server: MockServer, request: bytes) -> int:
    with open_socket(server) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1024)
            assert chunk, "the server closed without an HTTP answer"
            head += chunk
    return int(head.split(b" ", 2)[1])


def text_frame(text: str) -> bytes:
    """A client's (masked) WebSocket text frame."""
    payload, mask = text.encode(), os.urandom(4)
    length = len(payload)
    if length < 126:
        header = bytes([0x81, 0x80 | length])
    elif length < 1 << 16:
        header = bytes([0x81, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + length.to_bytes(8, "big")
    masked = np.frombuffer(payload, np.uint8) ^ np.resize(np.frombuffer(mask, np.uint8), length)
    return header + mask + masked.tobytes()


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed or reset the connection (reads what is left; False on the 5 s timeout)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


# ----------------------------------------------------------------- frame size


def test_an_oversized_frame_closes_the_sdk_connection_with_1009(quick: Callable[..., MockServer]) -> None:
    server = quick()

    async def scenario() -> tuple[list[str], int | None]:
        async with session(server) as conn:
            await conn.recv()  # session.created
            await conn.send({"type": "input_audio_buffer.append", "audio": "A" * (LIMIT + 1024)})
            events = [str(event.type) async for event in conn]  # ends quietly when the server closes
            return events, conn._connection.close_code  # type: ignore[attr-defined]  # the SDK hides it

    for _ in range(3):  # the close code must not depend on who is faster
        events, code = run(scenario())
        assert events == [] and code == 1009  # "message too big"


def test_a_frame_just_under_the_limit_is_read_and_answered(quick: Callable[..., MockServer]) -> None:
    server = quick()

    async def scenario() -> tuple[str, str, int]:
        async with session(server) as conn:
            await conn.recv()
            await conn.send({"type": "no.such.event", "padding": "A" * (LIMIT - 1024), "event_id": "big"})
            error = (await barrier(conn))[0]
            return str(error.type), str(error.error.event_id), server.active_sessions

    assert run(scenario()) == ("error", "big", 1)


# ----------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/voice-live/realtime", b"api-key: \xff\xfe\r\n"),
        ("/voice-live/realtime", b"Authorization: Bearer caf\xe9\r\n"),  # latin-1, not UTF-8
        ("/voice-live/realtime?api-key=%FF%FE", b""),
        ("/voice-live/realtime?authorization=Bearer%20caf%E9", b""),
    ],
)
def test_credentials_that_are_not_utf8_get_401(quick: Callable[..., MockServer], target: str, headers: bytes) -> None:
    server = quick()
    assert status_of(server, upgrade_request(target, headers)) == 401
    assert status_of(server, upgrade_request(extra_headers=f"api-key: {server.api_key}\r\n".encode())) == 101


# ----------------------------------------------------------------- timeouts


@pytest.mark.parametrize("sent", [b"", b"GET /voice-live/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_a_connection_that_never_finishes_its_upgrade_is_closed(quick: Callable[..., MockServer], sent: bytes) -> None:
    server = quick(handshake_timeout_s=1.0)
    with open_socket(server) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        assert closed_by_server(sock), "still open 5 s after the 1 s handshake timeout"
    assert time.monotonic() - started < 3


def test_a_client_that_stops_answering_pings_is_closed_and_frees_its_slot(quick: Callable[..., MockServer]) -> None:
    server = quick(heartbeat_s=0.4, max_sessions=1)

    async def silent_client() -> list[aiohttp.WSMsgType]:
        url = f"{server.endpoint}/voice-live/realtime"
        kinds = []
        async with (
            aiohttp.ClientSession() as client,
            client.ws_connect(url, headers={"api-key": server.api_key}, autoping=False) as ws,
        ):
            await ws.receive()  # session.created
            while True:
                message = await ws.receive(timeout=5)
                kinds.append(message.type)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return kinds

    async def next_client() -> str:
        for _ in range(100):  # the server notices the end of the silent session
            if server.active_sessions == 0:
                break
            await asyncio.sleep(0.01)
        async with session(server) as conn:
            return str((await conn.recv()).type)

    kinds = run(silent_client())
    assert kinds[0] == aiohttp.WSMsgType.PING and kinds[-1] != aiohttp.WSMsgType.PING
    assert run(next_client()) == "session.created"


def test_a_client_that_answers_pings_stays_connected(quick: Callable[..., MockServer]) -> None:
    server = quick(heartbeat_s=0.2)

    async def scenario() -> list[str]:
        async with session(server) as conn:
            reading = asyncio.create_task(collect(conn, is_type("session.updated")))  # the SDK pongs while reading
            await asyncio.sleep(1.0)  # five heartbeats with nothing said
            await conn.session.update(session={"instructions": "still here"})
            return types(await reading)

    assert run(scenario()) == ["session.created", "session.updated"]


# ----------------------------------------------------------------- stopping with stuck clients


def stuck_client(server: MockServer) -> socket.socket:
    """A client that makes the server send megabytes, and never reads any of it."""
    sock = open_socket(server, receive_buffer=4096)
    sock.sendall(upgrade_request(extra_headers=f"api-key: {server.api_key}\r\n".encode()))
    sock.settimeout(1)
    text = "word " * 200_000
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    frame = text_frame(json.dumps({"type": "conversation.item.create", "item": item}))
    try:
        for _ in range(24):  # each is echoed in conversation.item.created: far more than the socket buffers hold
            sock.sendall(frame)
    except TimeoutError:  # the server stopped reading: it is blocked writing to us
        pass
    return sock


def test_stop_cuts_clients_that_stopped_reading_instead_of_timing_out() -> None:
    server = MockServer(speed=math.inf, recognizer=PlaceholderRecognizer()).start()
    sockets = [stuck_client(server) for _ in range(2)]
    try:
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
        assert not server.running and server.active_sessions == 0
        assert elapsed < 5, f"stop() took {elapsed:.1f} s"
        for sock in sockets:
            sock.settimeout(5)
            assert closed_by_server(sock)
    finally:
        for sock in sockets:
            sock.close()


def test_stop_says_1001_to_a_reading_client_and_ends_an_idle_one_quietly(quick: Callable[..., MockServer]) -> None:
    server = quick()

    async def scenario() -> tuple[int | None, list[str], float]:
        async with session(server) as reading, session(server) as idle:
            await reading.recv()
            await idle.recv()  # and reads nothing more until the server has stopped
            rest = asyncio.create_task(collect_all(reading))
            started = time.monotonic()
            await asyncio.to_thread(server.stop)
            elapsed = time.monotonic() - started
            await rest
            return reading._connection.close_code, await collect_all(idle), elapsed  # type: ignore[attr-defined]

    code, idle_events, elapsed = run(scenario())
    assert code == 1001 and idle_events == [] and elapsed < 5  # 1001: "going away"


async def collect_all(conn: Any) -> list[str]:
    return [str(event.type) async for event in conn]


def test_close_all_sessions_cuts_a_stuck_client_and_serves_the_next(quick: Callable[..., MockServer]) -> None:
    server = quick(max_sessions=1)
    with stuck_client(server) as sock:
        server.close_all_sessions(1011)
        sock.settimeout(5)
        assert closed_by_server(sock)

    async def next_client() -> str:
        for _ in range(300):
            if server.active_sessions == 0:
                break
            await asyncio.sleep(0.01)
        async with session(server) as conn:
            return str((await conn.recv()).type)

    assert run(next_client()) == "session.created"


# ----------------------------------------------------------------- the connection's query


async def created_session(server: MockServer, **connect: Any) -> ResponseSession:
    async with session(server, **connect) as conn:
        event = await conn.recv()
        assert event.type == "session.created"
        return event.session


def test_deployment_is_an_alias_of_model(quick: Callable[..., MockServer]) -> None:
    server = quick()
    created = run(created_session(server, model=None, query={"deployment": "my-gpt-4o-realtime"}))
    assert created.model == "my-gpt-4o-realtime"
    assert run(created_session(server, model="gpt-4o-mini")).model == "gpt-4o-mini"


def test_agent_mode_puts_the_agent_in_the_session(quick: Callable[..., MockServer]) -> None:
    server = quick()
    created = run(
        created_session(
            server,
            model=None,
            agent_name="trivia-coach",
            project_name="practice-project",
            agent_version="2",
            conversation_id="conv_7d1e",
        )
    )
    assert isinstance(created.agent, AgentConfig)
    assert (created.agent.type, created.agent.name, created.agent.thread_id) == ("agent", "trivia-coach", "conv_7d1e")
    assert created.agent.agent_id == "asst_practice_trivia-coach"

    fresh = run(created_session(server, model=None, agent_name="trivia-coach", project_name="practice-project"))
    assert fresh.agent is not None and fresh.agent.thread_id.startswith("thread_")
    assert fresh.agent.agent_id == created.agent.agent_id  # the same agent, a new conversation
    assert run(created_session(server)).agent is None


def test_an_agent_without_its_project_is_refused_with_400(quick: Callable[..., MockServer]) -> None:
    server = quick()

    async def handshake(query: str) -> tuple[int, str]:
        url = f"{server.endpoint}/voice-live/realtime?{query}"
        async with aiohttp.ClientSession() as client:
            try:
                async with client.ws_connect(url, headers={"api-key": server.api_key}):
                    return 101, ""
            except aiohttp.WSServerHandshakeError as error:
                return error.status, error.message

    status, _ = run(handshake("agent-name=trivia-coach"))
    assert status == 400
    assert run(handshake("agent-project-name=practice-project"))[0] == 400

    async def message() -> str:
        url = f"{server.endpoint}/voice-live/realtime?agent-name=trivia-coach"
        async with aiohttp.ClientSession() as client:
            headers = {"api-key": server.api_key, "Upgrade": "websocket", "Connection": "Upgrade"}
            headers |= {"Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version": "13"}
            async with client.get(url, headers=headers) as reply:
                return str((await reply.json())["error"]["message"])

    assert "agent-project-name" in run(message())

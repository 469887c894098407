"""The handshake, keys, loopback binding, pings, fault injection and many sessions at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import pytest
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError
from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential
from support import append, collect, is_type, run, session, speech, types

from voicelive_lab.mock import Faults, MockServer


class StaticToken(AsyncTokenCredential):
    """An async token credential, as azure-identity would hand the SDK after ``az login``."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: tuple[str, ...] = ()

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes = scopes
        return AccessToken(self.token, 4_000_000_000)

    async def close(self) -> None:
        pass


async def first_event(server: MockServer, **kwargs: object) -> str:
    async with session(server, **kwargs) as conn:
        return str((await conn.recv()).type)


def test_a_wrong_key_is_refused_with_401_before_the_upgrade(server: MockServer) -> None:
    with pytest.raises(VoiceLiveConnectionError, match="401"):
        run(first_event(server, credential=AzureKeyCredential("wrong-key")))


def test_a_bearer_token_is_accepted_when_it_is_the_key(server: MockServer) -> None:
    credential = StaticToken(server.api_key)
    assert run(first_event(server, credential=credential)) == "session.created"
    assert credential.scopes == ("https://ai.azure.com/.default",)
    with pytest.raises(VoiceLiveConnectionError, match="401"):
        run(first_event(server, credential=StaticToken("eyJ-some-other-token")))


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("", {}, 401),
        ("?api-key={key}", {}, 101),
        ("?authorization=Bearer%20{key}", {}, 101),
        ("?api-version=2099-01-01&whatever=1", {"Authorization": "Bearer {key}"}, 101),
    ],
)
def test_keys_in_headers_or_query_and_unknown_parameters(
    server: MockServer, query: str, headers: dict[str, str], status: int
) -> None:
    async def handshake() -> int:
        url = f"{server.endpoint}/voice-live/realtime{query.format(key=server.api_key)}"
        filled = {name: value.format(key=server.api_key) for name, value in headers.items()}
        async with aiohttp.ClientSession() as client:
            try:
                async with client.ws_connect(url, headers=filled) as ws:
                    await ws.receive()
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert run(handshake()) == status


def test_an_endpoint_with_a_path_and_trailing_slash_still_connects(server: MockServer) -> None:
    async def scenario() -> str:
        from azure.ai.voicelive.aio import connect

        async with connect(
            endpoint=f"{server.endpoint}/openai/", credential=AzureKeyCredential(server.api_key), model="gpt-4o"
        ) as conn:
            return str((await conn.recv()).type)

    assert run(scenario()) == "session.created"


def test_other_paths_and_plain_http_get_clear_answers(server: MockServer) -> None:
    async def statuses() -> list[tuple[int, str]]:
        async with aiohttp.ClientSession() as client:
            results = []
            for path in ("/openai/realtime", "/voice-live/realtime"):
                async with client.get(server.endpoint + path, headers={"api-key": server.api_key}) as reply:
                    results.append((reply.status, (await reply.json())["error"]["message"]))
            return results

    (wrong, wrong_text), (plain, plain_text) = run(statuses())
    assert wrong == 426 and "WebSocket" in wrong_text  # any path ending in /realtime is the service
    assert plain == 426 and "WebSocket" in plain_text

    async def status_of(path: str, key: str | None = None) -> int:
        headers = {"api-key": key} if key else {}
        async with aiohttp.ClientSession() as client, client.get(server.endpoint + path, headers=headers) as reply:
            return reply.status

    assert run(status_of("/chat")) == 404
    assert run(status_of("/surrealtime", server.api_key)) == 404, "only a whole 'realtime' path segment is the service"
    assert run(status_of("/voice-live/realtime")) == 401, "the key is checked before anything else is said"
    assert run(status_of("/")) == 200


def test_the_server_only_binds_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        MockServer(host="0.0.0.0")
    with MockServer(host="::1") as server:
        assert server.endpoint.startswith("http://[::1]:")
        assert run(first_event(server)) == "session.created"


def test_a_generated_key_is_random_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with MockServer() as one, MockServer() as two:
        assert one.api_key != two.api_key and len(one.api_key) >= 24
        assert one.api_key not in repr(one)
        run(first_event(one))
        with pytest.raises(VoiceLiveConnectionError):
            run(first_event(one, credential=AzureKeyCredential(two.api_key)))
    logged = caplog.text
    assert "session" in logged and "401" in logged
    assert one.api_key not in logged and two.api_key not in logged


def test_pings_are_answered(server: MockServer) -> None:
    async def ping() -> aiohttp.WSMsgType:
        url = f"{server.endpoint}/voice-live/realtime"
        headers = {"api-key": server.api_key}
        async with aiohttp.ClientSession() as client, client.ws_connect(url, headers=headers, autoping=False) as ws:
            await ws.receive()  # session.created
            await ws.ping(b"are you there")
            return (await ws.receive()).type

    assert run(ping()) == aiohttp.WSMsgType.PONG


def close_code(conn: object) -> int | None:
    return conn._connection.close_code  # type: ignore[attr-defined]  # the SDK hides it (protocol doc §3.4)


def test_fault_close_mid_response_ends_the_sdk_loop_quietly(make_server) -> None:
    server = make_server(speed=8, faults=Faults(close_after_audio_deltas=3, close_code=1011))

    async def scenario() -> tuple[list[str], int | None]:
        async with session(server) as conn:
            await append(conn, speech("hello.wav"))
            events = [str(event.type) async for event in conn]
            return events, close_code(conn)

    events, code = run(scenario())
    assert events.count("response.audio.delta") == 3 and "response.done" not in events
    assert code == 1011


def test_fault_close_after_n_events_with_a_normal_close(make_server) -> None:
    server = make_server(faults=Faults(close_after_events=2, close_code=1000))

    async def scenario() -> tuple[list[str], int | None]:
        async with session(server) as conn:
            await conn.session.update(session={"instructions": "hi"})
            events = [str(event.type) async for event in conn]
            return events, close_code(conn)

    assert run(scenario()) == (["session.created", "session.updated"], 1000)


def test_fault_server_error_and_a_rejected_handshake(make_server) -> None:
    server = make_server(faults=Faults(error_after_events=1, close_after_error=True))

    async def scenario() -> list:
        async with session(server) as conn:
            return [event async for event in conn]

    events = run(scenario())
    assert types(events) == ["session.created", "error"]
    assert events[1].error.type == "server_error"

    server.faults = Faults(reject_handshake=503)
    with pytest.raises(VoiceLiveConnectionError, match="503"):
        run(first_event(server))


def test_fault_malformed_frame_surfaces_as_an_sdk_error(make_server) -> None:
    server = make_server(faults=Faults(malformed_after_events=1))

    async def scenario() -> None:
        async with session(server) as conn:
            async for _ in conn:
                pass

    with pytest.raises(VoiceLiveConnectionError, match="Failed to parse"):
        run(scenario())


def test_fault_silent_server_keeps_the_socket_open_but_says_nothing(make_server) -> None:
    server = make_server(faults=Faults(silent_after_events=1))

    async def scenario() -> bool:
        async with session(server) as conn:
            await conn.recv()
            await append(conn, speech("hello.wav"))
            try:
                await asyncio.wait_for(conn.recv(), 1.0)
            except asyncio.TimeoutError:
                return server.active_sessions == 1
            return False

    assert run(scenario())


def test_many_sessions_at_once(make_server) -> None:
    server = make_server(speed=8)
    pcm = speech("pyramids.wav")

    async def one() -> str:
        async with session(server) as conn:
            await append(conn, pcm, chunk_ms=100)
            return (await collect(conn, is_type("response.done"), timeout=60))[-1].response.status.value

    async def many() -> list[str]:
        return await asyncio.gather(*(one() for _ in range(20)))

    assert run(many(), timeout=90) == ["completed"] * 20
    assert server.sessions_started == 20


def test_the_session_limit_refuses_extra_sessions_until_one_ends(make_server) -> None:
    server = make_server(max_sessions=2)

    async def scenario() -> str:
        async with session(server) as first, session(server) as second:
            await first.recv()
            await second.recv()
            with pytest.raises(VoiceLiveConnectionError, match="429"):
                await first_event(server)
        for _ in range(100):  # the server notices both closes
            if server.active_sessions == 0:
                break
            await asyncio.sleep(0.01)
        return await first_event(server)

    assert run(scenario()) == "session.created"


def test_frames_over_16_mib_are_refused(server: MockServer) -> None:
    async def oversize() -> tuple[aiohttp.WSMsgType, object]:
        url = f"{server.endpoint}/voice-live/realtime"
        headers = {"api-key": server.api_key}
        async with aiohttp.ClientSession() as client, client.ws_connect(url, headers=headers) as ws:
            await ws.receive()  # session.created
            with contextlib.suppress(ConnectionError):  # the server may close while the frame is still going out
                await ws.send_str('{"type":"input_audio_buffer.append","audio":"' + "A" * (17 * 1024 * 1024) + '"}')
            message = await ws.receive()
            return message.type, message.data  # a CLOSE message carries the close code as its data

    kind, code = run(oversize())
    assert kind == aiohttp.WSMsgType.CLOSE and code == 1009  # "message too big"

"""One session that misbehaves cannot stall the others or make the shared server keep its memory.

The server, the misbehaving client and the well-behaved client each run in their own process, as they would on
a learner's machine. The well-behaved session streams paced replies meanwhile; its event lag is measured the
way the scale benchmark measures it: when the client received an event minus when the server meant to send it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import time
from multiprocessing.connection import Connection

import aiohttp
import pytest
from azure.ai.voicelive.aio import connect
from azure.core.credentials import AzureKeyCredential

from tests.support import run
from voicelive_lab.mock import MockServer
from voicelive_lab.mock.recognizer import PlaceholderRecognizer

BIG_AUDIO_ITEMS = 30
BIG_AUDIO_BYTES = 11 * 1024 * 1024  # 15 MiB once base64-encoded, the most one event may carry
#: A stall: the well-behaved reply's audio arriving a quarter of a second late is a gap a listener hears. Its p99
#: event lag is a few ms on an idle machine and about 110 ms on a loaded 2-core CI runner (the figures are printed;
#: tests/benchmarks/bench_practice_server.py measures the lag under load).
LAG_LIMIT_S = 0.25


def misbehave(endpoint: str, key: str) -> None:
    """Child process: a huge tool output to answer, an absurd tool schema, then 30 items of 15 MiB of audio."""

    async def main() -> None:
        url = endpoint.replace("http://", "ws://") + "/voice-live/realtime"
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(url, headers={"api-key": key}, max_msg_size=64 * 1024 * 1024) as ws,
        ):

            async def send(event: dict) -> None:
                await ws.send_str(json.dumps(event))

            tool = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
            await send({"type": "session.update", "session": {"tools": [tool]}})
            call = {"type": "function_call", "name": "lookup", "call_id": "call_big", "arguments": "{}"}
            await send({"type": "conversation.item.create", "item": call})
            output = json.dumps({f"field_{n}": "x" * 40 for n in range(400)})  # about 20 KB
            await send(
                {
                    "type": "conversation.item.create",
                    "item": {"type": "function_call_output", "call_id": "call_big", "output": output},
                }
            )
            await send({"type": "response.create"})
            huge = {"type": "array", "items": {"type": "string"}, "minItems": 2_000_000}
            schema = {"type": "object", "properties": {"names": huge}, "required": ["names"]}
            await send({"type": "session.update", "session": {"tools": [{**tool, "parameters": schema}]}})
            audio = base64.b64encode(bytes(BIG_AUDIO_BYTES)).decode()
            for number in range(BIG_AUDIO_ITEMS):
                content = [{"type": "input_audio", "audio": audio}]
                item = {"id": f"item_big_{number}", "type": "message", "role": "user", "content": content}
                await send({"type": "conversation.item.create", "item": item})
            await send({"type": "conversation.item.retrieve", "item_id": "item_none", "event_id": "last"})
            async for message in ws:  # wait until the server has handled everything
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(message.data)
                if event["type"] == "error" and event["error"].get("event_id") == "last":
                    break

    asyncio.run(main())


def serve(pipe: Connection) -> None:
    """Child process: the shared practice server, noting when it meant to send each event."""
    due: dict[str, float] = {}
    observer = lambda event, when: due.__setitem__(event["event_id"], when)  # noqa: E731
    with MockServer(speed=1.0, chunk_ms=40, recognizer=PlaceholderRecognizer(), observer=observer) as server:
        pipe.send((server.endpoint, server.api_key))
        pipe.recv()
    pipe.send(due)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_a_misbehaving_session_neither_stalls_another_nor_keeps_the_memory() -> None:
    spawn = multiprocessing.get_context("spawn")
    pipe, child_pipe = spawn.Pipe()
    server = spawn.Process(target=serve, args=(child_pipe,))
    server.start()
    try:
        endpoint, key = pipe.recv()
        before = rss_mb(server.pid)
        received: dict[str, float] = {}

        async def well_behaved() -> None:
            async with connect(endpoint=endpoint, credential=AzureKeyCredential(key), model="gpt-4o") as conn:
                for _ in range(3):  # about 25 s of paced replies, while the other client does its worst
                    text = [{"type": "input_text", "text": "What can you do?"}]
                    item = {"type": "message", "role": "user", "content": text}
                    await conn.send({"type": "conversation.item.create", "item": item})
                    await conn.send({"type": "response.create"})
                    async for event in conn:
                        if event.type == "response.audio.delta":
                            received[event.event_id] = time.monotonic()
                        if event.type == "response.done":
                            break
                    if not bully.is_alive():
                        break

        bully = spawn.Process(target=misbehave, args=(endpoint, key))
        bully.start()
        try:
            run(well_behaved(), timeout=120)
        finally:
            bully.join(timeout=120)
        assert bully.exitcode == 0, "the misbehaving client should end normally (its session was never closed)"
        grown = rss_mb(server.pid) - before
        pipe.send("stop")
        due = pipe.recv()
    finally:
        server.join(timeout=30)
        if server.is_alive():
            server.kill()

    lags = sorted(received[event_id] - due[event_id] for event_id in received)
    assert len(lags) > 100
    p99 = lags[int(len(lags) * 0.99)]
    print(
        f"well-behaved session's event lag: p50 {lags[len(lags) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {lags[-1] * 1000:.0f} ms; server memory grew {grown:.0f} MB"
    )
    assert p99 < LAG_LIMIT_S, f"p99 event lag {p99 * 1000:.0f} ms while the other session misbehaved"
    assert grown < 200, f"the server kept {grown:.0f} MB after 30 items of 15 MiB"

"""How well one practice server keeps pace with many concurrent SDK sessions (figures, not a test).

The server runs in its own process, as `voicelive-lab mock` would; this process drives the sessions
with the real SDK, each speaking a sample utterance in real time, turn after turn.

Event lag = when the client received an event minus when the server meant to send it. For streamed audio
and transcript deltas "meant to" is the pacing schedule; for every other event it is the moment the
server produced it. Both clocks are the same CLOCK_MONOTONIC, so the figure covers server scheduling,
the socket and the SDK's parsing.

    python tests/benchmarks/bench_practice_server.py --sessions 50 --turns 3
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import statistics
import sys
import time
import wave
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UTTERANCES = ["pyramids.wav", "rome.wav", "hello.wav"]
CHUNK_MS = 40


def serve(pipe: Connection, speed: float) -> None:
    """Child process: one MockServer that records when it meant to send each event."""
    from voicelive_lab.mock import MockServer

    due: dict[str, float] = {}
    server = MockServer(speed=speed, observer=lambda event, when: due.__setitem__(event["event_id"], when))
    server.start()
    pipe.send((server.endpoint, server.api_key))
    pipe.recv()
    server.stop()
    pipe.send((due, time.process_time()))


def load(name: str) -> bytes:
    with wave.open(str(ROOT / "assets" / "audio" / name), "rb") as wav:
        return wav.readframes(wav.getnframes()) + bytes(700 * 48)


async def one_session(endpoint: str, key: str, turns: int, received: dict[str, float]) -> int:
    """Speak ``turns`` utterances in real time while a reader notes when each event arrives."""
    from azure.ai.voicelive.aio import connect
    from azure.core.credentials import AzureKeyCredential

    replies: asyncio.Queue[None] = asyncio.Queue()

    async def read(conn) -> None:  # type: ignore[no-untyped-def]
        async for event in conn:
            received[event.event_id] = time.monotonic()
            if event.type == "response.done":
                replies.put_nowait(None)

    async with connect(endpoint=endpoint, credential=AzureKeyCredential(key), model="gpt-4o") as conn:
        reader = asyncio.create_task(read(conn))
        completed = 0
        for turn in range(turns):
            pcm = load(UTTERANCES[turn % len(UTTERANCES)])
            start = time.monotonic()
            step = CHUNK_MS * 48
            for index, offset in enumerate(range(0, len(pcm), step)):
                await asyncio.sleep(max(0.0, start + index * CHUNK_MS / 1000 - time.monotonic()))
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[offset : offset + step]).decode())
            await asyncio.wait_for(replies.get(), 60)
            completed += 1
        reader.cancel()
    return completed


async def drive(endpoint: str, key: str, sessions: int, turns: int) -> tuple[list[int], dict[str, float]]:
    received: dict[str, float] = {}
    results = await asyncio.gather(*(one_session(endpoint, key, turns, received) for _ in range(sessions)))
    return list(results), received


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--speed", type=float, default=4.0, help="server streaming speed (x real time)")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve, args=(theirs, args.speed), daemon=True)
    child.start()
    endpoint, key = ours.recv()
    began = time.monotonic()
    completed, received = asyncio.run(drive(endpoint, key, args.sessions, args.turns))
    wall = time.monotonic() - began
    ours.send("stop")
    due, server_cpu = ours.recv()
    child.join(10)

    lags = [(received[event_id] - due[event_id]) * 1000 for event_id in received if event_id in due]
    print(f"sessions              {args.sessions} concurrent, {sum(completed)} of {args.sessions * args.turns} turns")
    print(f"events received       {len(lags)} ({len(lags) / wall:.0f}/s over {wall:.1f} s)")
    print(f"event lag p50         {statistics.median(lags):.1f} ms")
    print(f"event lag p99         {percentile(lags, 0.99):.1f} ms")
    print(f"event lag max         {max(lags):.1f} ms")
    print(f"server CPU            {server_cpu:.1f} s ({server_cpu / wall:.0%} of one core)")
    print(f"client CPU            {time.process_time():.1f} s")
    return 0 if sum(completed) == args.sessions * args.turns else 1


if __name__ == "__main__":
    sys.exit(main())

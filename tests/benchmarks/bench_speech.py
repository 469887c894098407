"""How fast the practice server hears words, and what its speech parts cost in memory (figures, not a test).

Utterances of 2-4 s are spoken by eSpeak NG in several voices and speeds, streamed through the real SDK as
fast as the socket takes them, one after another in one session. Latency = the client receiving
``input_audio_transcription.completed`` minus receiving ``speech_stopped`` (one clock, this process).
Then ``--sessions`` sessions open at once, each asks one question, and the recognizer and voice are counted:
one recognizer process, one eSpeak NG library, whatever the number of sessions.

    python tests/benchmarks/bench_speech.py [--rounds 3] [--sessions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support import append, session, silence

from voicelive_lab.mock import MockServer
from voicelive_lab.mock.espeak import EspeakSettings
from voicelive_lab.mock.pcm import resample
from voicelive_lab.mock.speech import _load_espeak, loaded_espeak

QUESTIONS = (
    "Who built the pyramids of Giza?",
    "What is the capital of Japan?",
    "Tell me one thing about the Roman Empire.",
    "When was the Great Wall of China built?",
    "Who was the first emperor of Rome?",
    "Hello, can you hear me? Good morning.",
    "What is the weather like in Seattle today?",
)
VOICES = (("en-us+f3", 130), ("en-us+m3", 150), ("en+f2", 140), ("en-us+m1", 120))


def utterance(text: str, voice: str, words_per_minute: int) -> bytes:
    espeak = loaded_espeak()
    assert espeak is not None, "eSpeak NG is needed to speak the benchmark's questions"
    output = espeak.speak(text, EspeakSettings(voice, words_per_minute))
    samples = resample(output.samples / 32768.0, output.sample_rate, 24000)
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def turn(conn, pcm: bytes) -> float:  # type: ignore[no-untyped-def]
    """Speak ``pcm`` and wait for the reply; seconds from speech_stopped to the transcription's completion."""
    await append(conn, silence(200) + pcm + silence(700))
    stopped = completed = 0.0
    async for event in conn:
        now = time.perf_counter()
        if event.type == "input_audio_buffer.speech_stopped":
            stopped = now
        elif event.type == "conversation.item.input_audio_transcription.completed":
            completed = now
        elif event.type == "response.done":
            return completed - stopped
    raise RuntimeError("the session ended before the reply")


async def latency_run(server: MockServer, rounds: int) -> list[tuple[float, float]]:
    results = []
    async with session(server) as conn:
        for _ in range(rounds):
            for text in QUESTIONS:
                for voice, speed in VOICES:
                    pcm = utterance(text, voice, speed)
                    if 2.0 <= len(pcm) / 48000 <= 4.0:
                        results.append((await turn(conn, pcm), len(pcm) / 48000))
    return results


async def many_sessions(server: MockServer, count: int) -> list[float]:
    pcm = utterance(QUESTIONS[0], *VOICES[0])

    async def one() -> float:
        async with session(server) as conn:
            return await asyncio.wait_for(turn(conn, pcm), 120)

    return list(await asyncio.gather(*(one() for _ in range(count))))


def speech_processes() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "recognizer_worker" in " ".join(p.cmdline())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    me = psutil.Process()
    before_mb = me.memory_info().rss / 2**20
    with MockServer(speed=float("inf"), first_audio_delay_ms=0) as server:
        results = asyncio.run(latency_run(server, args.rounds))
        latencies = sorted(ms for ms, _ in results)
        speech_s = [s for _, s in results]
        quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
        print(f"utterances: {len(results)} of {min(speech_s):.1f}-{max(speech_s):.1f} s speech")
        print(
            f"speech_stopped -> transcription completed: p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p99 {quantiles[98] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )
        workers_before = speech_processes()
        began = time.perf_counter()
        waits = sorted(asyncio.run(many_sessions(server, args.sessions)))
        print(
            f"{args.sessions} sessions at once, one question each: {len(waits)} answered in "
            f"{time.perf_counter() - began:.1f} s; transcription waits p50 {statistics.median(waits) * 1000:.0f} ms, "
            f"max {waits[-1] * 1000:.0f} ms (one recognizer takes them in turn)"
        )
        workers = speech_processes()
        worker_mb = sum(p.memory_info().rss for p in workers) / 2**20
        print(f"recognizer processes: {len(workers_before)} before, {len(workers)} after ({worker_mb:.0f} MB RSS)")
        print(f"eSpeak NG libraries loaded in this process: {_load_espeak.cache_info().misses}")
        print(f"this process: {before_mb:.0f} MB RSS before, {me.memory_info().rss / 2**20:.0f} MB after")


if __name__ == "__main__":
    main()

"""The kit's PlaybackBuffer against the Voice Live quickstart's player design (figures, not a test).

Both players get the same simulated service: responses of 2-8 s streamed as 24 kHz PCM16 deltas in bursts,
faster than real time, with a barge-in (clear) during every third response. A simulated device clock reads
fixed blocks, as a PortAudio callback would; no real device is involved.

The baseline re-implements the quickstart's *design* (AudioPlayerAsync): a deque of int16 arrays joined
with np.concatenate inside the callback, the stream started only once more than 10 chunks are queued and
then left running; its only flush is stop(), which empties the queue and stops the stream.

Figures:
- latency: a delta's write -> its first sample played (the callback reading it, plus its place in that
  block), raw and minus what a perfect player would show (the service's own backlog), and for the first
  delta of each response (time to first audio);
- barge-in flush: clear() -> the first block of silence (the block already handed to the device still
  plays out), and how much audio was read after clear();
- CPU seconds per second of audio streamed (time.process_time of the writes and reads, harness subtracted).

    python tests/benchmarks/bench_playback.py [--responses 300] [--speed 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from voicelive_lab.audio import PlaybackBuffer

RATE = 24000
BYTES_PER_S = RATE * 2


@dataclass(frozen=True)
class Event:
    at: float  # seconds on the simulated clock
    pcm: bytes | None  # a delta, or None for a barge-in
    response: int
    first: bool = False


class Player(Protocol):
    block_s: float

    def write(self, pcm: bytes) -> None: ...
    def clear(self) -> int: ...
    def callback(self) -> int: ...
    def running(self) -> bool: ...
    def started_at(self, now: float) -> float | None: ...


class KitPlayer:
    """What Speaker does with a PlaybackBuffer: the stream runs all session; the callback copies a block."""

    def __init__(self, block_ms: int = 20):
        self.block_s = block_ms / 1000
        self.buffer = PlaybackBuffer()
        self._last = bytearray(RATE * block_ms // 1000 * 2)
        self._outdata = bytearray(len(self._last))

    def write(self, pcm: bytes) -> None:
        self.buffer.write(pcm)

    def clear(self) -> int:
        return self.buffer.clear()

    def callback(self) -> int:
        real = self.buffer.read_into(self._last)
        self._outdata[:] = self._last
        return real

    def running(self) -> bool:
        return True

    def started_at(self, now: float) -> float | None:
        return None


class QuickstartPlayer:
    """The quickstart's design, re-implemented: deque of arrays, concatenation in the callback, >10 to start."""

    def __init__(self, block_ms: int = 20):
        self.block_s = block_ms / 1000
        self.frames = RATE * block_ms // 1000
        self.queue: deque[np.ndarray] = deque()
        self.lock = threading.Lock()
        self.playing = False
        self._just_started = False
        self._outdata = np.zeros((self.frames, 1), dtype=np.int16)

    def write(self, pcm: bytes) -> None:
        with self.lock:
            self.queue.append(np.frombuffer(pcm, dtype=np.int16))
            if not self.playing and len(self.queue) > 10:
                self.playing = self._just_started = True  # stream.start()

    def clear(self) -> int:  # stop(): the design's only way to flush
        with self.lock:
            dropped = sum(item.size for item in self.queue) * 2
            self.queue.clear()
            self.playing = False
            return dropped

    def callback(self) -> int:
        with self.lock:
            data = np.empty(0, dtype=np.int16)
            while len(data) < self.frames and len(self.queue) > 0:
                item = self.queue.popleft()
                needed = self.frames - len(data)
                data = np.concatenate((data, item[:needed]))
                if len(item) > needed:
                    self.queue.appendleft(item[needed:])
            real = len(data) * 2
            if len(data) < self.frames:
                data = np.concatenate((data, np.zeros(self.frames - len(data), dtype=np.int16)))
            self._outdata[:] = data.reshape(-1, 1)
            return real

    def running(self) -> bool:
        return self.playing

    def started_at(self, now: float) -> float | None:
        if self._just_started:
            self._just_started = False
            return now  # the stream's clock starts when it is started
        return None


class NullPlayer:
    """No work at all: measures the harness, to subtract from the others' CPU time."""

    def __init__(self, block_ms: int = 20):
        self.block_s = block_ms / 1000

    def write(self, pcm: bytes) -> None:
        pass

    def clear(self) -> int:
        return 0

    def callback(self) -> int:
        return 0

    def running(self) -> bool:
        return True

    def started_at(self, now: float) -> float | None:
        return None


def service(responses: int, delta_ms: int, burst: int, speed: float, seed: int) -> list[Event]:
    """Deltas as the service streams them: ``burst`` deltas at once, bursts ``speed`` x faster than real time."""
    rng = random.Random(seed)
    events: list[Event] = []
    start = 0.5
    delta_bytes = delta_ms * 48
    for response in range(responses):
        duration = rng.uniform(2.0, 8.0)
        count = max(1, round(duration * 1000 / delta_ms))
        barge_in = start + rng.uniform(0.5, 1.5) if response % 3 == 2 else None
        at = start
        for index in range(count):
            if index and index % burst == 0:
                at += burst * delta_ms / 1000 / speed + rng.uniform(-0.01, 0.01)
            if barge_in is not None and at >= barge_in:
                break  # the service cancels the response
            pcm = np.full(delta_bytes // 2, 1000 + response % 100, dtype=np.int16).tobytes()
            events.append(Event(at, pcm, response, first=index == 0))
        if barge_in is not None:
            events.append(Event(barge_in, None, response))
        start += (barge_in - start if barge_in else duration) + 0.5 + rng.uniform(1.0, 2.0)
    return sorted(events, key=lambda event: event.at)


@dataclass
class Run:
    cpu_s: float = 0.0
    reads: list[tuple[float, int]] = field(default_factory=list)  # (time, real bytes)
    clears: list[tuple[float, int, float | None]] = field(default_factory=list)  # (time, bytes dropped, next cb)


def simulate(player: Player, events: list[Event]) -> Run:
    """Interleave the service's events with the device's callbacks on one simulated clock."""
    run = Run()
    reads, clears = run.reads, run.clears
    next_callback = 0.0
    pending_clear: list[int] = []
    cpu = time.process_time()
    for event in events:
        while player.running() and next_callback <= event.at:
            reads.append((next_callback, player.callback()))
            next_callback += player.block_s
            for index in pending_clear:
                clears[index] = (*clears[index][:2], reads[-1][0])
            pending_clear.clear()
        if event.pcm is None:
            dropped = player.clear()
            # A running stream goes silent at its next callback; a stopped one once its last block has played.
            clears.append((event.at, dropped, None if player.running() else next_callback))
            if player.running():
                pending_clear.append(len(clears) - 1)
        else:
            player.write(event.pcm)
            started = player.started_at(event.at)
            if started is not None:
                next_callback = started
    for _ in range(int(10 / player.block_s)):  # play out what is left
        if not player.running():
            break
        reads.append((next_callback, player.callback()))
        next_callback += player.block_s
    run.cpu_s = time.process_time() - cpu
    return run


def latencies(events: list[Event], run: Run) -> dict[int, float]:
    """Write -> first sample played, in ms, by index among the deltas (deltas cleared unheard are absent).

    "Played" is the callback that read the sample plus the sample's position in that block, so large blocks
    are not flattered by reading audio up to a block early.
    """
    consumed = sorted([(at, 0, n) for at, n in run.reads] + [(at, 1, n) for at, n, _ in run.clears])
    writes = [event for event in events if event.pcm is not None]
    starts = np.cumsum([0] + [len(event.pcm or b"") for event in writes[:-1]])
    heard: dict[int, float] = {}
    cursor = index = 0
    for at, kind, count in consumed:
        block_start, cursor = cursor, cursor + count
        while index < len(writes) and starts[index] < cursor:
            if kind == 0:
                heard[index] = (at + (starts[index] - block_start) / BYTES_PER_S - writes[index].at) * 1000
            index += 1
    return heard


def ideal_latencies(events: list[Event]) -> list[float]:
    """What a perfect player would show: each delta starts the instant the audio before it ends (the backlog)."""
    ideal: list[float] = []
    playing_until = 0.0
    for event in events:
        if event.pcm is None:
            playing_until = min(playing_until, event.at)
            continue
        start = max(event.at, playing_until)
        ideal.append((start - event.at) * 1000)
        playing_until = start + len(event.pcm) / BYTES_PER_S
    return ideal


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(name: str, block_ms: float, events: list[Event], run: Run, harness_cpu_s: float, audio_s: float) -> None:
    heard = latencies(events, run)
    ideal = ideal_latencies(events)
    writes = [event for event in events if event.pcm is not None]
    every = list(heard.values())
    added = [latency - ideal[index] for index, latency in heard.items()]
    first = [latency for index, latency in heard.items() if writes[index].first]
    flushes = [(done - at) * 1000 for at, _, done in run.clears if done is not None]
    cpu = max(run.cpu_s - harness_cpu_s, 0.0) / audio_s
    print(
        f"{name:<27} {percentile(every, 50):6.0f} {percentile(every, 99):6.0f}"
        f" {percentile(added, 50):6.0f} {percentile(added, 99):6.0f}"
        f" {percentile(first, 50):6.0f} {percentile(first, 99):6.0f}"
        f" {statistics.fmean(flushes):6.1f} {max(flushes):6.1f} {max(flushes) / block_ms:6.2f}"
        f" {audio_after_clear(run):6.0f} {cpu * 1e6:8.1f}"
    )


def audio_after_clear(run: Run) -> float:
    """Milliseconds of audio the device read after a clear() and before the next response's audio was written."""
    total = 0
    for at, _, _ in run.clears:
        following = [n for t, n in run.reads if t > at and t < at + 0.5]
        total += sum(following)
    return total / BYTES_PER_S * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=300)
    parser.add_argument("--speed", type=float, default=3.0, help="how much faster than real time deltas arrive")
    parser.add_argument("--burst", type=int, default=4, help="deltas per burst")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    designs: list[tuple[str, Callable[[], Player]]] = [
        ("kit PlaybackBuffer, 20 ms", lambda: KitPlayer(20)),
        ("quickstart design, 20 ms", lambda: QuickstartPlayer(20)),
        ("quickstart design, 100 ms", lambda: QuickstartPlayer(100)),
    ]
    for delta_ms in (100, 20):
        events = service(args.responses, delta_ms, args.burst, args.speed, args.seed)
        audio_s = sum(len(event.pcm) for event in events if event.pcm) / BYTES_PER_S
        barge_ins = sum(event.pcm is None for event in events)
        print(
            f"\n{args.responses} responses, {audio_s:.0f} s of audio in {delta_ms} ms deltas, bursts of "
            f"{args.burst} at {args.speed:g}x real time, {barge_ins} barge-ins"
        )
        print(
            f"{'design, device block':<27} {'lat50':>6} {'lat99':>6} {'add50':>6} {'add99':>6} {'1st50':>6}"
            f" {'1st99':>6} {'flush':>6} {'max':>6} {'blocks':>6} {'after':>6} {'CPU µs/s':>8}"
        )
        for name, make in designs:
            block_ms = make().block_s * 1000
            harness = min(simulate(NullPlayer(int(block_ms)), events).cpu_s for _ in range(3))
            runs = [simulate(make(), events) for _ in range(3)]
            report(name, block_ms, events, min(runs, key=lambda run: run.cpu_s), harness, audio_s)
    print(
        "\nlat = delta written -> its first sample played (ms, p50/p99), mostly the backlog the service sends ahead;"
        "\nadd = lat minus a perfect player's (the latency the player itself adds); 1st = first delta of each"
        " response;\nflush = clear() -> first silent block (ms: mean, max; max in device blocks); after = ms of audio"
        " read after clear();\nCPU = process time (µs) per second of audio streamed, writes and reads, harness"
        " subtracted."
    )


if __name__ == "__main__":
    main()

"""The browser microphone and speaker in a real JupyterLab + headless Chromium session (figures, not a test).

Chromium's fake capture device loops a spoken question, so the page talks to the practice server (real-time
pacing) and the server's replies play in the page, cut by the next question now and then. The notebook records,
on one clock (time.time() in the kernel, performance.timeOrigin + now() in the page, same machine):

- capture -> server append: the page's capture worklet posting a frame -> the practice server receiving that
  audio in input_audio_buffer.append (frames matched by content; all-zero frames skipped as ambiguous);
- server delta -> browser: the server sending response.audio.delta -> the chunk reaching the page, and -> the
  page's playback worklet rendering its first sample (which includes waiting behind the chunks before it);
- flush on barge-in: the server's input_audio_buffer.speech_started -> the page's worklet dropping its queue;
  and the kernel's clear() -> the same;
- frames dropped under a busy kernel: a button callback that blocks the kernel's main thread, then a thread
  that keeps the GIL busy, each for --busy seconds: frames the page sent then, frames dropped on the way,
  and the worst capture -> append latency of those frames.

    python tests/benchmarks/bench_browser_audio.py [--seconds 40] [--busy 3] [--frame-ms 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (  # noqa: E402 - tests/ is on sys.path only now
    PROBE_CELL,
    chromium,
    jupyter_server,
    open_notebook,
    page_audio_stats,
    read_probe,
    run_all_cells,
    write_fake_capture,
    write_notebook,
)

# Records into RECORD (lists of tuples), on the kernel's clock; dumped to JSON by the Finish button.
SESSION_CELL = """
import json, threading, time
from collections import defaultdict
import ipywidgets as widgets
from azure.core.credentials import AzureKeyCredential
from voicelive_lab.browser_audio import BrowserAudio, BrowserMicrophone, BrowserSpeaker
from voicelive_lab.config import Settings
from voicelive_lab.mock import MockServer
from voicelive_lab.mock import realtime_session
from voicelive_lab.mock.hearing import warm_up
from voicelive_lab.runner import SessionRunner
import base64

RECORD = defaultdict(list)
ZERO = set()

def server_event(event, _due):
    now = time.time()
    if event["type"] == "response.audio.delta":
        RECORD["deltas"].append((now, hash(base64.b64decode(event["delta"])), event.get("response_id")))
    elif event["type"] == "input_audio_buffer.speech_started":
        RECORD["speech_started"].append(now)

handlers = realtime_session.RealtimeSession._handlers
def timed_handlers(self):
    table = handlers(self)
    append = table["input_audio_buffer.append"]
    def timed(event):
        RECORD["appends"].append((time.time(), hash(base64.b64decode(event["audio"]))))
        return append(event)
    table["input_audio_buffer.append"] = timed
    return table
realtime_session.RealtimeSession._handlers = timed_handlers

THREADS = {}

def tap(direction, content, payload):
    now, kind = time.time(), content.get("kind")
    THREADS.setdefault(f"{direction} {kind}", set()).add(threading.current_thread().name)
    if direction == "in" and kind == "frame":
        zero = not any(payload)
        RECORD["frames"].append((content["seq"], content["at"] / 1000, now, None if zero else hash(payload)))
    elif direction == "out" and kind == "audio":
        RECORD["audio_out"].append((content["seq"], now, hash(payload)))
    elif direction == "out" and kind == "clear":
        RECORD["clears"].append((content["seq"], now))
    elif direction == "in" and kind == "started":
        RECORD["started"].append((content["seq"], content["at"] / 1000, (content.get("arrived") or 0) / 1000))
    elif direction == "in" and kind == "flushed":
        RECORD["flushed"].append((content["seq"], content["at"] / 1000, content["dropped"]))

warm_up(None)
server = MockServer(speed=1.0, observer=server_event).start()
settings = Settings(backend="practice", endpoint=server.endpoint, credential=AzureKeyCredential(server.api_key),
                    model="gpt-4o", voice="en-US-JennyNeural", instructions="You are a friendly history tutor.")
audio = BrowserAudio(frame_ms=FRAME_MS)
audio.trace = True
audio.tap = tap
microphone, speaker = BrowserMicrophone(audio), BrowserSpeaker(audio)
runner = SessionRunner(settings, microphone=microphone, speaker=speaker)
cpu_start = (time.time(), time.process_time())

def counters():
    return dict(dropped_kernel=microphone.frames_dropped, dropped_runner=runner.mic_blocks_dropped,
                received=microphone.frames_received, delivered=microphone.frames_delivered)

def busy(kind):
    start, before = time.time(), counters()
    THREADS.setdefault("button callback", set()).add(threading.current_thread().name)
    if kind == "main":
        time.sleep(BUSY_S)  # a slow callback: the kernel's main thread reads no widget message meanwhile
        RECORD["busy"].append((kind, start, time.time(), before))
        return
    def spin():
        while time.time() < start + BUSY_S:
            sum(range(1000))  # pure Python: holds the GIL most of the time
    def run():
        threads = [threading.Thread(target=spin) for _ in range(2)]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
        RECORD["busy"].append((kind, start, time.time(), before))
    threading.Thread(target=run).start()  # the main thread stays free; only the GIL is contended

def finish(_):
    RECORD["cpu"] = [(time.time() - cpu_start[0]), (time.process_time() - cpu_start[1])]
    RECORD["end_counters"] = counters()
    RECORD["threads"] = {key: sorted(names) for key, names in THREADS.items()}
    runner.stop(2.0)
    with open(RESULTS, "w") as out:
        json.dump(RECORD, out)

def report():
    return dict(state=runner.state, microphone=microphone.status, frames=microphone.frames_delivered,
                transcript=[line.text for line in runner.log.snapshot().transcripts][-4:])

buttons = []
for label, action in [("Block main thread", lambda _: busy("main")), ("Busy GIL", lambda _: busy("gil")),
                      ("Finish", finish)]:
    button = widgets.Button(description=label)
    button.on_click(action)
    buttons.append(button)
display(audio, widgets.HBox(buttons), start_probe(report, PROBE_PATH))
runner.start()
"""


Timed = list[tuple[float, float]]  # (when it started, on the shared clock; latency in seconds)


def spread(timed: Timed) -> str:
    """median / p95 / max in milliseconds, and how many."""
    if not timed:
        return "no samples"
    ordered = sorted(latency * 1000 for _, latency in timed)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):6.1f}  p95 {p95:6.1f}  max {ordered[-1]:7.1f} ms  (n={len(ordered)})"


def capture_to_append(record: dict[str, Any]) -> Timed:
    """Each non-zero frame: captured -> appended, matched by content, first come first served."""
    appended: dict[int, deque[float]] = defaultdict(deque)
    for at, digest in record["appends"]:
        appended[digest].append(at)
    return [
        (captured, appended[digest].popleft() - captured)
        for _seq, captured, _kernel, digest in record["frames"]
        if digest is not None and appended[digest]
    ]


def capture_to_kernel(record: dict[str, Any]) -> Timed:
    """Every frame: captured -> its message handled in the kernel."""
    return [(captured, kernel - captured) for _seq, captured, kernel, _digest in record["frames"]]


def delta_to_page(record: dict[str, Any]) -> tuple[Timed, Timed, Timed]:
    """Delta sent -> chunk at the page; -> its first sample rendered; the latter for each reply's first delta."""
    sent: dict[int, deque[tuple[float, str]]] = defaultdict(deque)
    for at, digest, response in record["deltas"]:
        sent[digest].append((at, response))
    seq_sent = {seq: sent[digest].popleft() for seq, _at, digest in record["audio_out"] if sent[digest]}
    arrive, render, first, seen = [], [], [], set()
    for seq, started, arrived in record["started"]:
        if seq in seq_sent:
            at, response = seq_sent[seq]
            if arrived:
                arrive.append((at, arrived - at))
            render.append((at, started - at))
            if response not in seen:
                seen.add(response)
                first.append((at, started - at))
    return arrive, render, first


def flush_times(record: dict[str, Any]) -> tuple[Timed, Timed]:
    """speech_started -> the page's first flush within 2 s; and kernel clear() -> the page's flush."""
    flushed = sorted((at, seq) for seq, at, _dropped in record["flushed"])
    from_server = []
    for spoken in record["speech_started"]:
        later = [at for at, _ in flushed if spoken <= at <= spoken + 2]
        if later:
            from_server.append((spoken, later[0] - spoken))
    cleared = {seq: at for seq, at in record["clears"]}
    from_kernel = [(cleared[seq], at - cleared[seq]) for at, seq in flushed if seq in cleared]
    return from_server, from_kernel


def within(timed: Timed, start: float, end: float) -> Timed:
    return [(at, latency) for at, latency in timed if start <= at <= end]


def outside(timed: Timed, windows: list[tuple[float, float]]) -> Timed:
    return [(at, latency) for at, latency in timed if not any(start <= at <= end for start, end in windows)]


def worst(timed: Timed) -> str:
    return f"{max(latency for _, latency in timed) * 1000:.0f} ms" if timed else "n/a"


def busy_figures(record: dict[str, Any]) -> list[str]:
    lines = []
    windows, arrive = record["busy"], delta_to_page(record)[0]
    to_kernel, to_server = capture_to_kernel(record), capture_to_append(record)
    for index, (kind, start, end, before) in enumerate(windows):
        after = windows[index + 1][3] if index + 1 < len(windows) else record["end_counters"]
        sent = within(to_kernel, start, end)
        dropped = sum(after[key] - before[key] for key in ("dropped_kernel", "dropped_runner"))
        name = "a callback blocking the main thread" if kind == "main" else "2 threads keeping the GIL busy"
        lines.append(
            f"  {name}, {end - start:.1f} s: page sent {len(sent)} frames, {dropped} dropped; worst capture -> "
            f"kernel {worst(sent)}, -> server append {worst(within(to_server, start, end))}; "
            f"worst delta -> page {worst(within(arrive, start, end))}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="conversation time before the busy phases")
    parser.add_argument("--busy", type=float, default=3.0, help="length of each busy phase (s)")
    parser.add_argument("--frame-ms", type=int, default=20, help="microphone frame length (10-100 ms)")
    parser.add_argument("--record", type=Path, help="also write the raw timings (JSON) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-browser-audio-") as folder:
        tmp = Path(folder)
        served = tmp / "notebooks"
        served.mkdir()
        capture = tmp / "question-loop.wav"
        write_fake_capture(capture, ROOT / "assets" / "audio" / "pyramids.wav", lead_s=0.5, tail_s=4.2)
        probe, results = tmp / "probe.json", tmp / "results.json"
        setup = f"FRAME_MS = {args.frame_ms}\nBUSY_S = {args.busy}\nPROBE_PATH = {str(probe)!r}\n"
        setup += f"RESULTS = {str(results)!r}\n"
        write_notebook(served / "bench.ipynb", PROBE_CELL, setup + SESSION_CELL)
        console: list[str] = []
        with jupyter_server(tmp, served) as lab, chromium(tmp, console, fake_capture=capture) as (_, page):
            open_notebook(page, lab, "bench.ipynb")
            run_all_cells(page)
            deadline = time.monotonic() + 90
            while read_probe(probe).get("microphone") != "listening":
                if time.monotonic() > deadline:
                    sys.exit(f"the page never started listening: {read_probe(probe)}")
                time.sleep(0.2)
            print(f"listening; talking for {args.seconds:.0f} s …", flush=True)
            time.sleep(args.seconds)
            for label in ("Block main thread", "Busy GIL"):
                page.locator("button.jupyter-button", has_text=label).click()
                time.sleep(args.busy + 3)
            page.locator("button.jupyter-button", has_text="Finish").click()
            deadline = time.monotonic() + 30
            while not results.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            stats = page_audio_stats(page)
        record = json.loads(results.read_text())
    if args.record:
        args.record.write_text(json.dumps(record))
    report(record, stats, args)


def report(record: dict[str, Any], page: dict[str, Any], args: argparse.Namespace) -> None:
    quiet = [(start - 0.5, end + 1.0) for _, start, end, _ in record["busy"]]  # figures away from the busy phases
    arrive, render, first = delta_to_page(record)
    from_server, from_kernel = flush_times(record)
    wall, cpu = record["cpu"]
    print(f"\nBrowser audio, frames of {args.frame_ms} ms, practice server paced in real time, idle kernel\n")
    print(f"capture -> kernel               {spread(outside(capture_to_kernel(record), quiet))}")
    print(f"capture -> server append        {spread(outside(capture_to_append(record), quiet))}")
    print(f"server delta -> page (arrival)  {spread(outside(arrive, quiet))}")
    print(f"server delta -> page (rendered) {spread(outside(render, quiet))}   (queued behind earlier chunks)")
    print(f"  first delta of each reply     {spread(outside(first, quiet))}")
    print(f"flush: speech_started -> page   {spread(outside(from_server, quiet))}")
    print(f"flush: kernel clear() -> page   {spread(outside(from_kernel, quiet))}")
    print("under a busy kernel:")
    for line in busy_figures(record):
        print(line)
    totals = record["end_counters"]
    print(
        f"totals: page sent {page.get('framesSent')} frames; kernel received {totals['received']}, dropped "
        f"{totals['dropped_kernel']} (BrowserMicrophone) + {totals['dropped_runner']} (runner); page played "
        f"{page.get('played', 0) / 24000:.1f} s of replies, flushed {page.get('flushes')} times"
    )
    handlers = sorted({name for key, names in record["threads"].items() if key.startswith("in ") for name in names})
    callbacks = ", ".join(record["threads"]["button callback"])
    print(f"page messages handled on: {', '.join(handlers)}; button callbacks on: {callbacks}")
    print(f"kernel CPU: {100 * cpu / wall:.0f}% of one core over {wall:.0f} s (session, practice server, widgets)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the sample learner utterances in ``assets/audio/``.

Each utterance is synthesised with ``espeak-ng`` (fixed voice, speed and pitch), resampled with
``sox`` to 24 kHz mono, trimmed of espeak's own leading/trailing silence, peak-normalised to about
-3 dBFS, padded with exact digital silence (250 ms before, 300 ms after) and written as signed
16-bit little-endian PCM WAV. A ``manifest.json`` describing every file (timings measured from the
written audio) is written next to them.

The output is deterministic: running the script twice on the same machine produces byte-identical
files. Only the committed WAV files are used by the tests and CI; this script needs the Debian
packages ``espeak-ng`` and ``sox``.

Usage::

    python scripts/make_sample_audio.py [--out-dir assets/audio]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "assets" / "audio"

SAMPLE_RATE = 24_000
SAMPLES_PER_MS = SAMPLE_RATE // 1000

# espeak-ng settings (fixed for determinism).
ESPEAK_VOICE = "en-us"
ESPEAK_SPEED_WPM = 160
ESPEAK_PITCH = 50
ESPEAK_AMPLITUDE = 100

# Post-processing.
LEAD_SILENCE_MS = 250
TAIL_SILENCE_MS = 300
PHRASE_GAP_MS = 900
PEAK_DBFS = -3.0
# Samples quieter than this (relative to full scale, before normalisation) at the very start/end of
# espeak's output are treated as silence and trimmed, so the padding added afterwards is exact.
TRIM_THRESHOLD_DBFS = -60.0

# Measurement used for the manifest (mirrors a simple energy-based VAD).
FRAME_MS = 20
SPEECH_THRESHOLD_DBFS = -40.0
FULL_SCALE = 32768.0

FloatArray = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]

TOOLS = {
    "espeak-ng": "espeak-ng",
    "sox": "sox",
}


@dataclass(frozen=True)
class Utterance:
    file: str
    phrases: tuple[str, ...]
    purpose: str

    @property
    def text(self) -> str:
        return " ".join(self.phrases)


UTTERANCES: tuple[Utterance, ...] = (
    Utterance(
        "hello.wav",
        ("Hello! Can you hear me?",),
        "Greeting / microphone check; the first turn of a conversation.",
    ),
    Utterance(
        "pyramids.wav",
        ("Who built the pyramids of Giza?",),
        "A simple history question for the tutor.",
    ),
    Utterance(
        "rome.wav",
        ("Tell me one thing about the Roman Empire.",),
        "A second history question, e.g. for multi-turn conversations.",
    ),
    Utterance(
        "weather_paris.wav",
        ("What is the weather in Paris today?",),
        "Triggers the weather tool in function-calling demos.",
    ),
    Utterance(
        "weather_london.wav",
        ("What is the weather in London today?",),
        "Triggers the weather tool; the practice recogniser hears this one (it misses this eSpeak's 'Paris').",
    ),
    Utterance(
        "interrupt.wav",
        ("Sorry, wait. Let me ask something else.",),
        "Barge-in: sent while the assistant is still answering.",
    ),
    Utterance(
        "two_phrases.wav",
        ("Good morning.", "How are you?"),
        f"Two phrases separated by exactly {PHRASE_GAP_MS} ms of digital silence, for VAD silence_duration_ms tests.",
    ),
)


def require_tools() -> dict[str, str]:
    """Return the absolute paths of the external tools, or exit with an install hint."""
    paths: dict[str, str] = {}
    missing: list[str] = []
    for tool, package in TOOLS.items():
        found = shutil.which(tool)
        if found is None:
            missing.append(f"  - '{tool}' not found on PATH; install it with: sudo apt-get install {package}")
        else:
            paths[tool] = found
    if missing:
        raise SystemExit("make_sample_audio.py needs external tools that are missing:\n" + "\n".join(missing))
    return paths


def synthesize(text: str, tools: dict[str, str], workdir: Path, stem: str) -> FloatArray:
    """Speak ``text`` with espeak-ng and return it as float32 samples at SAMPLE_RATE."""
    raw_wav = workdir / f"{stem}.espeak.wav"
    resampled = workdir / f"{stem}.f32"
    subprocess.run(
        [
            tools["espeak-ng"],
            "-v", ESPEAK_VOICE,
            "-s", str(ESPEAK_SPEED_WPM),
            "-p", str(ESPEAK_PITCH),
            "-a", str(ESPEAK_AMPLITUDE),
            "-w", str(raw_wav),
            text,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    # Resample to 24 kHz mono 32-bit float (no dither, repeatable mode); quantisation to 16-bit PCM
    # happens once, after normalisation, in quantize().
    subprocess.run(
        [
            tools["sox"], "-R", "-D", "-V1",
            str(raw_wav),
            "-t", "raw", "-e", "floating-point", "-b", "32", "-L", "-c", "1",
            str(resampled),
            "rate", "-h", str(SAMPLE_RATE),
        ],
        check=True,
    )  # fmt: skip
    return np.fromfile(resampled, dtype="<f4").astype(np.float32)


def trim(samples: FloatArray) -> FloatArray:
    """Drop leading/trailing silence; the kept length is a whole number of milliseconds."""
    threshold = 10.0 ** (TRIM_THRESHOLD_DBFS / 20.0)
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        raise RuntimeError("espeak-ng produced no audible audio")
    start, end = int(loud[0]), int(loud[-1]) + 1
    # Shorten the (already very quiet) tail by < 1 ms so that every boundary is an exact ms.
    end -= (end - start) % SAMPLES_PER_MS
    return samples[start:end]


def silence(ms: int) -> FloatArray:
    return np.zeros(ms * SAMPLES_PER_MS, dtype=np.float32)


def quantize(samples: FloatArray) -> Int16Array:
    """Scale so the peak sits at PEAK_DBFS and convert to int16 (round to nearest)."""
    peak = float(np.max(np.abs(samples)))
    gain = (10.0 ** (PEAK_DBFS / 20.0)) * (FULL_SCALE - 1) / peak
    scaled = np.round(samples.astype(np.float64) * gain)
    return np.clip(scaled, -FULL_SCALE, FULL_SCALE - 1).astype(np.int16)


def write_wav(path: Path, pcm: Int16Array) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.astype("<i2").tobytes())


def frame_dbfs(pcm: Int16Array) -> FloatArray:
    """RMS level in dBFS of consecutive FRAME_MS frames (the last frame may be shorter)."""
    frame_len = FRAME_MS * SAMPLES_PER_MS
    levels: list[float] = []
    data = pcm.astype(np.float64)
    for start in range(0, len(data), frame_len):
        frame = data[start : start + frame_len]
        rms = float(np.sqrt(np.mean(frame**2)))
        levels.append(20.0 * np.log10(rms / FULL_SCALE) if rms > 0 else -np.inf)
    return np.asarray(levels, dtype=np.float32)


def measure(pcm: Int16Array) -> dict[str, int]:
    """Speech start/end (first/last frame above SPEECH_THRESHOLD_DBFS) and the longest internal pause."""
    levels = frame_dbfs(pcm)
    active = np.flatnonzero(levels > SPEECH_THRESHOLD_DBFS)
    if active.size == 0:
        raise RuntimeError("no frame above the speech threshold")
    first, last = int(active[0]), int(active[-1])
    duration_ms = len(pcm) // SAMPLES_PER_MS
    longest = run = 0
    for is_speech in levels[first : last + 1] > SPEECH_THRESHOLD_DBFS:
        run = 0 if is_speech else run + 1
        longest = max(longest, run)
    return {
        "duration_ms": duration_ms,
        "speech_start_ms": first * FRAME_MS,
        "speech_end_ms": min((last + 1) * FRAME_MS, duration_ms),
        "longest_internal_silence_ms": longest * FRAME_MS,
    }


def zero_runs(pcm: Int16Array, min_len: int) -> list[tuple[int, int]]:
    """(start, end) sample indices of runs of exact zeros at least ``min_len`` samples long."""
    is_zero = np.concatenate(([False], pcm == 0, [False]))
    edges = np.flatnonzero(np.diff(is_zero.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= min_len]


def build(utt: Utterance, tools: dict[str, str], workdir: Path) -> tuple[Int16Array, dict[str, object]]:
    stem = Path(utt.file).stem
    segments: list[FloatArray] = [silence(LEAD_SILENCE_MS)]
    gap: tuple[int, int] | None = None
    for i, phrase in enumerate(utt.phrases):
        if i > 0:
            gap_start = sum(len(s) for s in segments)
            segments.append(silence(PHRASE_GAP_MS))
            gap = (gap_start, gap_start + PHRASE_GAP_MS * SAMPLES_PER_MS)
        segments.append(trim(synthesize(phrase, tools, workdir, f"{stem}_{i}")))
    segments.append(silence(TAIL_SILENCE_MS))
    pcm = quantize(np.concatenate(segments))

    # Sanity checks on the exact padding / gap (the trimmed speech starts and ends on non-zero samples).
    lead, tail = LEAD_SILENCE_MS * SAMPLES_PER_MS, TAIL_SILENCE_MS * SAMPLES_PER_MS
    if np.any(pcm[:lead]) or pcm[lead] == 0 or np.any(pcm[-tail:]) or pcm[-tail - 1] == 0:
        raise RuntimeError(f"{utt.file}: leading/trailing silence is not exact")

    entry: dict[str, object] = {"file": utt.file, "text": utt.text}
    stats = measure(pcm)
    entry["duration_ms"] = stats["duration_ms"]
    entry["speech_start_ms"] = stats["speech_start_ms"]
    entry["speech_end_ms"] = stats["speech_end_ms"]
    if gap is not None:
        long_zero_runs = zero_runs(pcm[lead:-tail], PHRASE_GAP_MS * SAMPLES_PER_MS // 2)
        if [(s + lead, e + lead) for s, e in long_zero_runs] != [gap]:
            raise RuntimeError(f"{utt.file}: gap is not exactly {PHRASE_GAP_MS} ms of digital silence")
        entry["gap_start_ms"] = gap[0] // SAMPLES_PER_MS
        entry["gap_end_ms"] = gap[1] // SAMPLES_PER_MS
    else:
        entry["longest_internal_silence_ms"] = stats["longest_internal_silence_ms"]
    entry["sample_rate"] = SAMPLE_RATE
    entry["purpose"] = utt.purpose
    return pcm, entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output directory")
    args = parser.parse_args(argv)
    out_dir: Path = args.out_dir
    tools = require_tools()
    out_dir.mkdir(parents=True, exist_ok=True)

    entries: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="voicelive-audio-") as tmp:
        for utt in UTTERANCES:
            pcm, entry = build(utt, tools, Path(tmp))
            write_wav(out_dir / utt.file, pcm)
            entries.append(entry)
            print(
                f"{utt.file:18s} {entry['duration_ms']:5d} ms  "
                f"speech {entry['speech_start_ms']}-{entry['speech_end_ms']} ms"
            )

    manifest = {
        "generator": "scripts/make_sample_audio.py",
        "format": {
            "container": "WAV",
            "encoding": "pcm_s16le",
            "sample_rate": SAMPLE_RATE,
            "channels": 1,
        },
        "synthesis": {
            "engine": "espeak-ng",
            "voice": ESPEAK_VOICE,
            "speed_wpm": ESPEAK_SPEED_WPM,
            "pitch": ESPEAK_PITCH,
            "peak_dbfs": PEAK_DBFS,
            "lead_silence_ms": LEAD_SILENCE_MS,
            "tail_silence_ms": TAIL_SILENCE_MS,
        },
        "measurement": {
            "frame_ms": FRAME_MS,
            "speech_threshold_dbfs": SPEECH_THRESHOLD_DBFS,
            "note": "speech_start_ms is the start of the first frame whose RMS exceeds the threshold; "
            "speech_end_ms is the end of the last such frame.",
        },
        "files": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

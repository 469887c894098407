"""Helpers the audio tests share: test tones, WAV files in any encoding, measurements, a fake sounddevice."""

from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "audio"
RATE = 24000
BYTES_PER_MS = 48
BLOCK_BYTES = 960  # 20 ms

_SUBFORMAT_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")


def tone(freq: float, ms: float, rate: int = RATE, amplitude: float = 0.5, channels: int = 1) -> npt.NDArray:
    """A sine as float samples, shape (frames, channels); every channel carries the same tone."""
    t = np.arange(int(rate * ms / 1000)) / rate
    wave = amplitude * np.sin(2 * np.pi * freq * t)
    return np.repeat(wave[:, None], channels, axis=1)


def pcm16(samples: npt.ArrayLike) -> bytes:
    """Float samples in [-1, 1] as mono PCM16 bytes."""
    return (np.clip(np.asarray(samples), -1, 32767 / 32768) * 32768).round().astype("<i2").tobytes()


def as_float(pcm: bytes) -> npt.NDArray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768


def dominant_hz(samples: npt.ArrayLike, rate: int = RATE) -> float:
    """The strongest frequency, refined by parabolic interpolation between FFT bins."""
    x = np.asarray(samples, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / x.size


def rms_db(samples: npt.ArrayLike) -> float:
    x = np.asarray(samples, dtype=np.float64)
    return 20 * math.log10(max(float(np.sqrt(np.mean(x * x))), 1e-12))


def wav_file(
    path: Path,
    samples: npt.NDArray,
    rate: int,
    encoding: str = "s16",
    *,
    extensible: bool = False,
    extra_chunks: bytes = b"",
) -> Path:
    """Write ``samples`` (frames, channels) as a WAV: encoding u8, s16, s24, s32 or f32."""
    channels = samples.shape[1]
    if encoding == "f32":
        data, tag, bits = samples.astype("<f4").tobytes(), 3, 32
    else:
        bits = {"u8": 8, "s16": 16, "s24": 24, "s32": 32}[encoding]
        ints = np.clip(np.round(samples * 2 ** (bits - 1)), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1).astype(np.int64)
        if encoding == "u8":
            data = (ints + 128).astype(np.uint8).tobytes()
        elif encoding == "s24":
            data = (ints.astype("<i4").reshape(-1, 1).view(np.uint8)[:, :3]).tobytes()
        else:
            data = ints.astype(f"<i{bits // 8}").tobytes()
        tag = 1
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block_align, block_align, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, (1 << channels) - 1) + struct.pack("<H", tag) + _SUBFORMAT_SUFFIX
    return riff(path, [(b"fmt ", fmt)], extra_chunks, [(b"data", data)])


def riff(path: Path, head: list[tuple[bytes, bytes]], middle: bytes, tail: list[tuple[bytes, bytes]]) -> Path:
    """A RIFF/WAVE file from chunks; ``middle`` is raw bytes placed between them (e.g. a LIST chunk)."""
    body = b"WAVE" + b"".join(chunk(i, d) for i, d in head) + middle + b"".join(chunk(i, d) for i, d in tail)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def chunk(chunk_id: bytes, data: bytes) -> bytes:
    """One RIFF chunk, padded to an even length as the format requires."""
    return chunk_id + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class FakePortAudioError(Exception):
    pass


class FakeStream:
    """Records how it was opened; the test drives the callback with ``tick()``."""

    def __init__(self, owner: FakeSoundDevice, direction: str, **options: Any):
        if owner.fail_open:
            raise FakePortAudioError(owner.fail_open)
        self.owner, self.direction, self.options = owner, direction, options
        self.started = self.closed = False
        owner.streams.append(self)

    def start(self) -> None:
        self.started = True

    def abort(self, ignore_errors: bool = True) -> None:
        self.started = False

    def close(self, ignore_errors: bool = True) -> None:
        self.closed = True

    def tick(self, indata: bytes | None = None) -> bytes:
        """One device period: the output block the callback produced, or the input block delivered."""
        frames = self.options["blocksize"]
        if self.direction == "output":
            out = bytearray(b"\xaa" * frames * 2)  # garbage, as a real device buffer may hold
            self.options["callback"](out, frames, None, None)
            return bytes(out)
        block = indata if indata is not None else bytes(frames * 2)
        self.options["callback"](block, frames, None, None)
        return block


class FakeSoundDevice(SimpleNamespace):
    """Enough of sounddevice for the kit: devices to list, streams to open, PortAudio errors to raise."""

    def __init__(self, inputs: int = 1, outputs: int = 1, fail_open: str | None = None):
        devices = [{"name": f"mic{i}", "max_input_channels": 1, "max_output_channels": 0} for i in range(inputs)]
        devices += [{"name": f"out{i}", "max_input_channels": 0, "max_output_channels": 2} for i in range(outputs)]
        super().__init__(PortAudioError=FakePortAudioError, devices=devices, fail_open=fail_open, streams=[])

    def query_devices(self, device: Any = None, kind: str | None = None) -> Any:
        if kind is None:
            return self.devices
        key = "max_input_channels" if kind == "input" else "max_output_channels"
        for info in self.devices:
            if info[key] > 0:
                return info
        raise FakePortAudioError("Error querying device -1")

    def get_portaudio_version(self) -> tuple[int, str]:
        return 1246720, "PortAudio V19.6.0-fake"

    def RawInputStream(self, **options: Any) -> FakeStream:
        self._check_devices("input")
        return FakeStream(self, "input", **options)

    def RawOutputStream(self, **options: Any) -> FakeStream:
        self._check_devices("output")
        return FakeStream(self, "output", **options)

    def _check_devices(self, kind: str) -> None:
        self.query_devices(kind=kind)


def why_no_virtual_audio() -> str | None:
    """None if the kit's virtual devices are reachable; else why not. Must run before sounddevice is imported."""
    if shutil.which("pactl") is None or shutil.which("parec") is None:
        return "pactl/parec are not installed (apt-get install pulseaudio)"
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as config:
        config.write("autospawn = no\n")  # probing must never start a user's PulseAudio
        config.flush()
        env = {**os.environ, "PULSE_CLIENTCONFIG": config.name}
        try:
            info = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=5, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"pactl info failed ({exc})"
    if info.returncode != 0:
        return "no PulseAudio server is reachable (PULSE_SERVER is unset or the server is down)"
    if "Default Sink: speaker\n" not in info.stdout or "Default Source: micfeed.monitor\n" not in info.stdout:
        return "the PulseAudio server does not have the kit's virtual speaker and micfeed as defaults"
    return None


START_HINT = 'start them with: eval "$(scripts/virtual_audio.sh start)"'


def make_portaudio_see_pulse() -> None:
    """PortAudio lists devices once, when sounddevice is first imported; rescan if that was before the server."""
    already_imported = "sounddevice" in sys.modules
    import sounddevice as sd

    if "pulse" not in [device["name"] for device in sd.query_devices()] and already_imported:
        sd._terminate()
        sd._initialize()
    if "pulse" not in [device["name"] for device in sd.query_devices()]:
        raise RuntimeError("PortAudio does not see PulseAudio")


class Listener:
    """Records a PulseAudio source with parec into a file (a pipe would fill up and stall it)."""

    def __init__(self, source: str, path: Path):
        self.path = path
        with path.open("wb") as out:
            self._process = subprocess.Popen(
                ["parec", f"--device={source}", "--raw", "--rate=24000", "--channels=1", "--format=s16le"],
                stdout=out,
            )
        assert wait_until(lambda: path.stat().st_size > 0), "parec records nothing"

    def stop(self) -> np.ndarray:
        self._process.terminate()
        self._process.wait(timeout=5)
        return np.frombuffer(self.path.read_bytes()[: self.path.stat().st_size // 2 * 2], dtype="<i2")

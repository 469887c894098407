"""``voicelive-lab lab | mock | doctor``: open the notebooks, run the practice server, check this machine."""

from __future__ import annotations

import argparse
import math
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

KEY_ENV = "VOICELIVE_LAB_PRACTICE_API_KEY"
DEFAULT_KEY_FILE = ".voicelive-practice.key"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicelive-lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    lab = commands.add_parser(
        "lab",
        help="open JupyterLab on the notebooks (practice server by default)",
        description="Open JupyterLab on the notebooks. Any other option is passed on to JupyterLab, e.g. "
        '`voicelive-lab lab --port 8899 --no-browser` (or `make lab ARGS="--port 8899 --no-browser"`).',
    )
    lab.add_argument("--notebooks", default="notebooks", help="folder to open (default: ./notebooks)")

    mock = commands.add_parser("mock", help="run the offline practice server until Ctrl+C")
    mock.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    mock.add_argument("--api-key", help=f"key clients must send (default: ${KEY_ENV}, else a new random key)")
    mock.add_argument("--key-file", default=DEFAULT_KEY_FILE, help="where a generated key is written")
    mock.add_argument("--seed", type=int, default=0, help="seed for ids (same seed, same ids)")
    mock.add_argument("--script", help="JSON file of scripted turns for the assistant")
    mock.add_argument("--speed", type=float, default=4.0, help="reply streaming speed, x real time (0 = no pacing)")

    commands.add_parser("doctor", help="show which service, settings and audio devices the notebooks will use")

    args, extra = parser.parse_known_args(argv)
    if args.command == "lab":
        return run_lab(Path(args.notebooks), extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "mock":
        return run_mock(args)
    return run_doctor()


def run_lab(notebooks: Path, jupyter_args: list[str]) -> int:
    if not notebooks.is_dir():
        print(f"No notebooks folder at {notebooks}: run this from the voicelive-lab checkout.", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebooks}", *jupyter_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in jupyter_args:
        command.append("--allow-root")  # containers often run as root; JupyterLab refuses without this
    os.execv(sys.executable, command)  # become JupyterLab, so Ctrl+C and SIGTERM reach it directly
    return 0  # not reached


def run_mock(args: argparse.Namespace) -> int:
    from .mock import MockServer, ScriptError

    stop = threading.Event()
    # Handle both, from the start and explicitly: a shell starts background jobs with SIGINT ignored, and Python
    # then never raises KeyboardInterrupt, so `kill -INT` would do nothing.
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    key = args.api_key or os.environ.get(KEY_ENV, "").strip()
    key_note = "the key you gave"
    if not key:
        key = secrets.token_urlsafe(24)
        key_file = Path(args.key_file)
        try:
            write_private(key_file, key + "\n")
        except OSError as error:
            print(f"Could not write the key file {key_file}: {error}", file=sys.stderr)
            return 1
        key_note = f"a new random key, written to {key_file} (not shown here)"
    try:
        server = MockServer(
            api_key=key,
            port=args.port,
            seed=args.seed,
            script=args.script,
            speed=args.speed if args.speed > 0 else math.inf,
        ).start()
    except (OSError, RuntimeError, ScriptError, ValueError) as error:
        print(f"Could not start the practice server: {error}", file=sys.stderr)
        return 1
    print(f"Voice Live practice server listening on {server.endpoint}")
    print(f"  Azure Voice Live SDK (AZURE_VOICE_LIVE_ENDPOINT): {server.endpoint}")
    print(f"  raw WebSocket clients (the quickstart, the OpenAI SDK): {websocket_url(server.endpoint)}")
    print(f"Clients must send {key_note}.")
    print("Put the key in AZURE_VOICE_LIVE_API_KEY (or the 'api-key' header). Ctrl+C stops the server.")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    server.stop()
    print("Practice server stopped.")
    return 0


def websocket_url(endpoint: str) -> str:
    """The full ws:// address that clients without the Voice Live SDK open (the SDK adds the path itself)."""
    return "ws" + endpoint.removeprefix("http") + "/voice-live/realtime"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, from the moment it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="utf-8") as file:
        if hasattr(os, "fchmod"):
            os.fchmod(file.fileno(), 0o600)  # the file may already exist with wider permissions
        file.write(text)


def run_doctor() -> int:
    from .config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"Configuration problem: {error}", file=sys.stderr)
        return 1
    print(settings.describe())
    print()
    from .audio import audio_status

    print(audio_status().describe())
    print()
    from .mock.hearing import describe_speech_parts

    print(describe_speech_parts())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

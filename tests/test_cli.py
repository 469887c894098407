"""``voicelive-lab mock`` from a shell: prints the endpoint, serves another process, never prints the key."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from support import run, session

from voicelive_lab.mock import MockServer

CLI = Path(sys.executable).with_name("voicelive-lab")


def start_cli(
    *args: str, cwd: Path, preexec_fn: Callable[[], object] | None = None
) -> tuple[subprocess.Popen[str], str, str]:
    """The CLI serving on a free port; returns it, the SDK's endpoint and the raw-WebSocket URL it printed."""
    process = subprocess.Popen(
        [str(CLI), "mock", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env={**os.environ, "VOICELIVE_LAB_PRACTICE_API_KEY": ""},
        preexec_fn=preexec_fn,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Voice Live practice server listening on http://127.0.0.1:"), first
    endpoint = first.rsplit(" ", 1)[-1].strip()
    sdk_line, raw_line = process.stdout.readline(), process.stdout.readline()
    assert sdk_line.strip().endswith(f": {endpoint}") and "SDK" in sdk_line, sdk_line
    assert "raw WebSocket" in raw_line, raw_line
    return process, endpoint, raw_line.rsplit(" ", 1)[-1].strip()


def stop_cli(process: subprocess.Popen[str], signal_number: int = signal.SIGINT) -> str:
    """Ctrl+C (or another signal), then everything it printed after the endpoint lines."""
    process.send_signal(signal_number)
    process.wait(timeout=30)  # it first lets the speech models finish loading
    assert process.stdout is not None
    output = process.stdout.read()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    return output


class RemoteServer(MockServer):
    """Stands for a server in another process: only its endpoint and key are known."""

    def __init__(self, endpoint: str, api_key: str) -> None:
        self._endpoint, self.api_key = endpoint, api_key

    @property
    def endpoint(self) -> str:  # type: ignore[override]
        return self._endpoint


async def first_event(endpoint: str, key: str) -> str:
    async with session(RemoteServer(endpoint, key)) as conn:
        return str((await conn.recv()).type)


def test_the_sdk_connects_to_the_cli_server_from_another_process(tmp_path: Path) -> None:
    key = "cli-key-5f2c8e1b9a7d"
    process, endpoint, _ = start_cli("--api-key", key, cwd=tmp_path)
    try:
        assert run(first_event(endpoint, key)) == "session.created"
        with_wrong_key = run(_refused(endpoint))
    finally:
        output = stop_cli(process)
    assert with_wrong_key
    assert "Clients must send the key you gave." in output and "Practice server stopped." in output
    assert key not in output


async def _refused(endpoint: str) -> bool:
    try:
        await first_event(endpoint, "wrong")
    except Exception as error:  # the SDK's ConnectionError
        return "401" in str(error)
    return False


def test_without_a_key_the_cli_writes_one_to_a_private_file(tmp_path: Path) -> None:
    process, endpoint, _ = start_cli(cwd=tmp_path)
    try:
        key = (tmp_path / ".voicelive-practice.key").read_text().strip()
        assert run(first_event(endpoint, key)) == "session.created"
    finally:
        output = stop_cli(process)
    assert stat.S_IMODE((tmp_path / ".voicelive-practice.key").stat().st_mode) == 0o600
    assert key not in output and ".voicelive-practice.key" in output


@pytest.mark.parametrize(
    ("signal_number", "preexec_fn"),
    [
        (signal.SIGINT, None),
        (signal.SIGINT, lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)),  # a shell's background job
        (signal.SIGTERM, None),
    ],
    ids=["ctrl-c", "sigint-to-a-background-job", "sigterm"],
)
def test_sigint_and_sigterm_stop_the_server_cleanly(
    tmp_path: Path, signal_number: int, preexec_fn: Callable[[], object] | None
) -> None:
    process, endpoint, _ = start_cli("--api-key", "k", cwd=tmp_path, preexec_fn=preexec_fn)
    try:
        assert run(first_event(endpoint, "k")) == "session.created"
    finally:
        output = stop_cli(process, signal_number)
    assert output.rstrip().endswith("Practice server stopped.")


def test_raw_websocket_clients_connect_to_the_printed_ws_url(tmp_path: Path) -> None:
    async def first_message(url: str) -> str:
        async with aiohttp.ClientSession() as client, client.ws_connect(url, headers={"api-key": "k"}) as ws:
            return str(json.loads((await ws.receive()).data)["type"])

    process, endpoint, ws_url = start_cli("--api-key", "k", cwd=tmp_path)
    try:
        assert ws_url == endpoint.replace("http://", "ws://") + "/voice-live/realtime"
        assert run(first_message(ws_url)) == "session.created"
    finally:
        stop_cli(process)


def test_a_key_file_left_readable_by_others_is_made_private(tmp_path: Path) -> None:
    key_file = tmp_path / ".voicelive-practice.key"
    key_file.write_text("an old key that was world-readable\n")
    key_file.chmod(0o644)
    process, endpoint, _ = start_cli(cwd=tmp_path)
    try:
        key = key_file.read_text().strip()
        assert run(first_event(endpoint, key)) == "session.created"
    finally:
        stop_cli(process)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and "old key" not in key


def test_a_bad_script_file_is_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    script = tmp_path / "turns.json"
    script.write_text('{"turns": [{"user": "hi"}]}')
    result = subprocess.run(
        [str(CLI), "mock", "--api-key", "k", "--script", str(script)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "Turn 1" in result.stderr and "'assistant'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_instructors_script_drives_the_transcript_and_reply(tmp_path: Path) -> None:
    from azure.ai.voicelive.models import InputTextContentPart, UserMessageItem
    from support import append, collect, is_type, speech

    script = tmp_path / "turns.json"
    script.write_text(
        '{"turns": [{"user": "Who built the pyramids?", "assistant": "Egyptian workers built them."},'
        ' {"assistant": "Rome was not built in a day."}]}'
    )
    with MockServer(api_key="k", script=script, speed=float("inf"), first_audio_delay_ms=0) as server:

        async def scenario() -> list:
            async with session(server) as conn:
                await append(conn, speech("pyramids.wav"))
                first = await collect(conn, is_type("response.done"))
                await conn.conversation.item.create(item=UserMessageItem(content=[InputTextContentPart(text="Rome?")]))
                await conn.response.create()
                return first + await collect(conn, is_type("response.done"))

        events = run(scenario())
    heard = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
    assert heard.transcript == "Who built the pyramids of Giza?", "the words heard, matched to the script's phrase"
    replies = [e.response.output[0].content[0].transcript for e in events if e.type == "response.done"]
    assert replies == ["Egyptian workers built them.", "Rome was not built in a day."]


def test_voicelive_lab_lab_serves_the_notebooks_folder(tmp_path: Path) -> None:
    import json
    import socket
    import time
    import urllib.request

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00_setup.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jupyter_dirs = {
        name: str(tmp_path / name) for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR")
    }
    process = subprocess.Popen(
        [str(CLI), "lab", "--no-browser", f"--port={port}", "--ServerApp.token=t", "--ServerApp.ip=127.0.0.1"],
        cwd=tmp_path,
        env={**os.environ, **jupyter_dirs},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token=t", timeout=2) as reply:
                    listing = json.load(reply)
                break
            except OSError:
                assert process.poll() is None, "JupyterLab exited"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert [item["name"] for item in listing["content"]] == ["00_setup.ipynb"]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "stopping voicelive-lab lab stops JupyterLab too"

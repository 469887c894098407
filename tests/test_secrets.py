"""Keys never show: not in logs (any logger, DEBUG), reprs, widget values, error messages or stored notebooks."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from azure.core.credentials import AzureKeyCredential
from support import AUDIO

from voicelive_lab.audio import RecordingSpeaker, WavMicrophone
from voicelive_lab.config import Settings, load_settings
from voicelive_lab.mock import MockServer
from voicelive_lab.runner import SessionRunner
from voicelive_lab.widgets import SessionPanel

KEY = "sk-TEST-9f8e7d6c5b4a39281706SECRET"
NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").rglob("*.ipynb"))
KEY_LIKE = re.compile(r"(api[-_]?key\W{0,6}[A-Za-z0-9_\-]{20,}|Bearer\s+[A-Za-z0-9_\-.]{20,})", re.IGNORECASE)
MACHINE_PATH = re.compile(r"(/home/[^/\s\"]+/|/Users/[^/\s\"]+/|/root/|/work/|/tmp/|[A-Z]:\\\\Users\\\\)")


def widget_values(panel: SessionPanel) -> str:
    parts = []
    for widget in [panel, *panel.children]:
        for child in [widget, *getattr(widget, "children", ())]:
            parts += [str(getattr(child, name, "")) for name in ("value", "description", "placeholder")]
    return "\n".join(parts)


def test_a_whole_session_never_shows_the_key(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: the kit's, the SDK's, azure-core's, aiohttp's
    seen: list[str] = []
    with MockServer(api_key=KEY, speed=float("inf"), first_audio_delay_ms=0) as server:
        settings = Settings(
            backend="practice",
            endpoint=server.endpoint,
            credential=AzureKeyCredential(KEY),
            model="gpt-4o",
            voice="en-US-JennyNeural",
            instructions="Be brief.",
        )
        panel = SessionPanel(
            settings, microphone=WavMicrophone(realtime=False), speaker=RecordingSpeaker(realtime=False)
        )
        summary = panel.run_turns([AUDIO / "hello.wav"], timeout=30)
        seen += [summary.report(), widget_values(panel), repr(panel), repr(panel.runner), repr(settings), str(settings)]
        seen += [repr(server), settings.describe()]

        wrong = Settings(**{**settings.__dict__, "credential": AzureKeyCredential(KEY + "-WRONG")})
        failing = SessionRunner(
            wrong, microphone=WavMicrophone(realtime=False), speaker=RecordingSpeaker(realtime=False)
        )
        failing.start()
        assert failing.wait_for_state("error", timeout=10)
        seen += [failing.last_error or "", failing.summary().report()]
    captured = capfd.readouterr()
    seen += [caplog.text, captured.out, captured.err]
    assert "401" in failing.last_error
    assert len(caplog.records) > 10, "the loggers really were listening"
    for text in seen:
        assert KEY not in text
        assert not KEY_LIKE.search(text), f"something key-like: {KEY_LIKE.search(text)}"


def test_settings_from_a_dotenv_never_show_the_key(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        f'AZURE_VOICE_LIVE_ENDPOINT="https://example.cognitiveservices.azure.com/"\nAZURE_VOICE_LIVE_API_KEY="{KEY}"\n'
    )
    settings = load_settings(env_file, environ={})
    assert settings.credential.key == KEY  # the key is there for the SDK...
    for text in (repr(settings), str(settings), settings.describe(), json.dumps(settings.sources), str(settings.notes)):
        assert KEY not in text  # ...and nowhere a learner could copy it from


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_notebooks_hold_no_secrets_or_machine_paths(notebook: Path) -> None:
    cells = json.loads(notebook.read_text())["cells"]
    for index, cell in enumerate(cells):
        texts = ["".join(cell["source"])]
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            data = output.get("data", {})
            texts += ["".join(data.get(kind, "")) for kind in ("text/plain", "text/markdown")]
        for text in texts:
            assert not KEY_LIKE.search(text), f"cell {index}: something key-like: {KEY_LIKE.search(text)}"
            assert not MACHINE_PATH.search(text), f"cell {index}: a machine path: {MACHINE_PATH.search(text)}"

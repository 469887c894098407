"""Tests for voicelive_lab.config: env-var families, .env handling, backend choice, no leaked secrets."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from azure.core.credentials import AzureKeyCredential

from voicelive_lab import embedded_server
from voicelive_lab.config import (
    DEFAULT_INSTRUCTIONS,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    ConfigError,
    Settings,
    load_settings,
)

ENDPOINT = "https://x.cognitiveservices.azure.com/"
SECRET = "k3y-SECRET-1234567890abcdef"


def write_env(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


class FakeServer:
    """Stands in for voicelive_lab.mock.MockServer where the real one is not needed."""

    instances = 0

    def __init__(self, api_key: str | None = None, *, script: str | None = None) -> None:
        type(self).instances += 1
        self.api_key = api_key or "practice-key"
        self.script = script
        self.endpoint = "http://127.0.0.1:5555"
        self.stopped = False

    def start(self) -> FakeServer:
        return self

    def stop(self) -> None:
        self.stopped = True


# --- variable families and value cleaning -------------------------------------------------


def test_lab_family_from_env_file(tmp_path: Path) -> None:
    env = write_env(
        tmp_path,
        f"AZURE_VOICE_LIVE_ENDPOINT={ENDPOINT}\nAZURE_VOICE_LIVE_API_KEY={SECRET}\n"
        "VOICE_LIVE_MODEL=gpt-4o-mini\nVOICE_LIVE_VOICE=en-US-AvaNeural\nVOICE_LIVE_INSTRUCTIONS=Be brief.\n",
    )
    s = load_settings(env, environ={})
    assert s.backend == "azure"
    assert s.endpoint == ENDPOINT
    assert isinstance(s.credential, AzureKeyCredential)
    assert s.credential.key == SECRET
    assert (s.model, s.voice, s.instructions) == ("gpt-4o-mini", "en-US-AvaNeural", "Be brief.")
    assert s.sources["endpoint"] == "AZURE_VOICE_LIVE_ENDPOINT (.env)"
    assert s.sources["credential"] == "AZURE_VOICE_LIVE_API_KEY (.env)"
    assert s.sources["model"] == "VOICE_LIVE_MODEL (.env)"
    assert s.credential_kind == "API key"
    assert s.notes == ()
    assert s.env_file == str(env)


def test_sdk_family_from_environment(tmp_path: Path) -> None:
    environ = {
        "AZURE_VOICELIVE_ENDPOINT": ENDPOINT,
        "AZURE_VOICELIVE_API_KEY": SECRET,
        "AZURE_VOICELIVE_MODEL": "gpt-4o-realtime-preview",
        "AZURE_VOICELIVE_VOICE": "en-US-Ava:DragonHDLatestNeural",
        "AZURE_VOICELIVE_INSTRUCTIONS": "Speak like a pirate.",
    }
    s = load_settings(write_env(tmp_path), environ=environ)
    assert s.backend == "azure"
    assert s.endpoint == ENDPOINT
    assert s.credential.key == SECRET
    assert s.model == "gpt-4o-realtime-preview"
    assert s.voice == "en-US-Ava:DragonHDLatestNeural"
    assert s.instructions == "Speak like a pirate."
    assert s.sources["endpoint"] == "AZURE_VOICELIVE_ENDPOINT (environment)"
    assert s.sources["credential"] == "AZURE_VOICELIVE_API_KEY (environment)"
    assert s.sources["instructions"] == "AZURE_VOICELIVE_INSTRUCTIONS (environment)"


def test_lab_family_wins_and_conflicts_are_noted(tmp_path: Path) -> None:
    other_secret = "0ther-SECRET-fedcba0987654321"
    environ = {
        "AZURE_VOICE_LIVE_ENDPOINT": ENDPOINT,
        "AZURE_VOICELIVE_ENDPOINT": "https://other.cognitiveservices.azure.com/",
        "AZURE_VOICE_LIVE_API_KEY": SECRET,
        "AZURE_VOICELIVE_API_KEY": other_secret,
        "VOICE_LIVE_MODEL": "gpt-4o",
        "AZURE_VOICELIVE_MODEL": "gpt-4o",  # same value: no note
    }
    s = load_settings(write_env(tmp_path), environ=environ)
    assert s.endpoint == ENDPOINT
    assert s.credential.key == SECRET
    assert s.sources["endpoint"] == "AZURE_VOICE_LIVE_ENDPOINT (environment)"
    assert s.sources["model"] == "VOICE_LIVE_MODEL (environment)"
    notes = "\n".join(s.notes)
    assert len(s.notes) == 2
    assert "AZURE_VOICE_LIVE_ENDPOINT" in notes and "AZURE_VOICELIVE_ENDPOINT" in notes
    assert "AZURE_VOICE_LIVE_API_KEY" in notes and "AZURE_VOICELIVE_API_KEY" in notes
    assert SECRET not in notes and other_secret not in notes
    assert other_secret not in s.describe()


def test_quoted_and_padded_values_are_cleaned(tmp_path: Path) -> None:
    environ = {
        "AZURE_VOICE_LIVE_ENDPOINT": f'  "{ENDPOINT}"  ',
        "AZURE_VOICE_LIVE_API_KEY": f"'{SECRET}'",
        "VOICE_LIVE_VOICE": "  en-US-AvaNeural \t",
    }
    s = load_settings(write_env(tmp_path), environ=environ)
    assert s.endpoint == ENDPOINT
    assert s.credential.key == SECRET
    assert s.voice == "en-US-AvaNeural"


def test_quotes_inside_env_file_quotes_are_cleaned(tmp_path: Path) -> None:
    env = write_env(
        tmp_path,
        f"AZURE_VOICE_LIVE_ENDPOINT=\"  '{ENDPOINT}' \"\nAZURE_VOICE_LIVE_API_KEY=\"'{SECRET}'\"\n",
    )
    s = load_settings(env, environ={})
    assert s.endpoint == ENDPOINT
    assert s.credential.key == SECRET


def test_empty_or_blank_values_count_as_unset(tmp_path: Path) -> None:
    environ = {
        "AZURE_VOICE_LIVE_ENDPOINT": "   ",
        "AZURE_VOICELIVE_ENDPOINT": ENDPOINT,
        "AZURE_VOICE_LIVE_API_KEY": '""',
        "AZURE_VOICELIVE_API_KEY": SECRET,
        "VOICE_LIVE_MODEL": "",
    }
    s = load_settings(write_env(tmp_path), environ=environ)
    assert s.sources["endpoint"] == "AZURE_VOICELIVE_ENDPOINT (environment)"
    assert s.credential.key == SECRET
    assert s.model == DEFAULT_MODEL
    assert s.notes == ()


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env = write_env(
        tmp_path,
        f"AZURE_VOICE_LIVE_ENDPOINT={ENDPOINT}\nAZURE_VOICE_LIVE_API_KEY=file-key\nVOICE_LIVE_VOICE=file-voice\n",
    )
    environ = {"AZURE_VOICE_LIVE_API_KEY": SECRET, "VOICE_LIVE_VOICE": "env-voice"}
    s = load_settings(env, environ=environ)
    assert s.credential.key == SECRET
    assert s.voice == "env-voice"
    assert s.sources["voice"] == "VOICE_LIVE_VOICE (environment)"
    assert s.sources["credential"] == "AZURE_VOICE_LIVE_API_KEY (environment)"
    assert s.sources["endpoint"] == "AZURE_VOICE_LIVE_ENDPOINT (.env)"


def test_env_file_is_not_copied_into_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICE_LIVE_VOICE", raising=False)
    env = write_env(tmp_path, f"AZURE_VOICE_LIVE_ENDPOINT={ENDPOINT}\nVOICE_LIVE_VOICE=file-voice\n")
    load_settings(env, environ={"AZURE_VOICE_LIVE_API_KEY": SECRET})
    assert "VOICE_LIVE_VOICE" not in os.environ


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(
        write_env(tmp_path),
        environ={"AZURE_VOICE_LIVE_ENDPOINT": ENDPOINT, "AZURE_VOICE_LIVE_API_KEY": SECRET},
    )
    assert s.model == DEFAULT_MODEL == "gpt-4o"
    assert s.voice == DEFAULT_VOICE == "en-US-JennyNeural"
    assert s.instructions == DEFAULT_INSTRUCTIONS and DEFAULT_INSTRUCTIONS
    assert s.sources["model"] == s.sources["voice"] == s.sources["instructions"] == "default"
    assert s.sources["backend"] == "default"


def test_missing_explicit_env_file_is_noted(tmp_path: Path) -> None:
    s = load_settings(
        tmp_path / "nope.env",
        environ={"AZURE_VOICE_LIVE_ENDPOINT": ENDPOINT, "AZURE_VOICE_LIVE_API_KEY": SECRET},
    )
    assert s.env_file is None
    assert any("nope.env" in note for note in s.notes)


def test_env_file_discovered_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_env(tmp_path, f"AZURE_VOICELIVE_ENDPOINT={ENDPOINT}\nAZURE_VOICELIVE_API_KEY={SECRET}\n")
    sub = tmp_path / "notebooks"
    sub.mkdir()
    monkeypatch.chdir(sub)
    s = load_settings(environ={})
    assert s.endpoint == ENDPOINT
    assert s.sources["endpoint"] == "AZURE_VOICELIVE_ENDPOINT (.env)"
    assert s.env_file is not None and Path(s.env_file) == tmp_path / ".env"


# --- credentials ---------------------------------------------------------------------------


def test_endpoint_without_key_uses_entra_id(tmp_path: Path) -> None:
    from azure.identity.aio import DefaultAzureCredential

    s = load_settings(write_env(tmp_path, f"AZURE_VOICE_LIVE_ENDPOINT={ENDPOINT}\n"), environ={})
    try:
        assert s.backend == "azure"
        assert isinstance(s.credential, DefaultAzureCredential)
        assert s.credential_kind == "Microsoft Entra ID (DefaultAzureCredential)"
        assert any("az login" in note for note in s.notes)
        assert "Microsoft Entra ID" in s.describe()
    finally:
        asyncio.run(s.credential.close())


# --- backend selection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:8765", "ws://localhost:8765/", "http://[::1]:8765", "http://127.3.4.5"],
)
def test_loopback_http_endpoint_is_external_practice(tmp_path: Path, endpoint: str) -> None:
    s = load_settings(
        write_env(tmp_path),
        environ={"AZURE_VOICE_LIVE_ENDPOINT": endpoint, "AZURE_VOICE_LIVE_API_KEY": SECRET},
    )
    assert s.backend == "practice"
    assert s.endpoint == endpoint
    assert s.credential.key == SECRET
    assert s.sources["endpoint"] == "AZURE_VOICE_LIVE_ENDPOINT (environment)"


def test_https_loopback_is_not_practice(tmp_path: Path) -> None:
    s = load_settings(
        write_env(tmp_path),
        environ={"AZURE_VOICE_LIVE_ENDPOINT": "https://localhost:8443", "AZURE_VOICE_LIVE_API_KEY": SECRET},
    )
    assert s.backend == "azure"


def test_external_practice_without_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AZURE_VOICE_LIVE_API_KEY"):
        load_settings(write_env(tmp_path), environ={"AZURE_VOICE_LIVE_ENDPOINT": "http://127.0.0.1:8765"})


def test_backend_azure_override_uses_endpoint(tmp_path: Path) -> None:
    s = load_settings(
        write_env(tmp_path, "VOICELIVE_LAB_BACKEND= Azure \n"),
        environ={"AZURE_VOICE_LIVE_ENDPOINT": "http://127.0.0.1:8765", "AZURE_VOICE_LIVE_API_KEY": SECRET},
    )
    assert s.backend == "azure"
    assert s.sources["backend"] == "VOICELIVE_LAB_BACKEND (.env)"


def test_backend_azure_without_endpoint_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write_env(tmp_path), environ={"VOICELIVE_LAB_BACKEND": "azure"})
    message = str(info.value)
    assert "AZURE_VOICE_LIVE_ENDPOINT" in message
    assert "AZURE_VOICELIVE_ENDPOINT" in message
    assert ".env" in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", ["mock", "Azur", "offline"])
def test_bad_backend_value(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write_env(tmp_path), environ={"VOICELIVE_LAB_BACKEND": value})
    message = str(info.value)
    assert repr(value) in message
    assert "'practice'" in message and "'azure'" in message


@pytest.mark.parametrize(
    "endpoint",
    ["my-resource.cognitiveservices.azure.com", "htps://x", "https://", "ftp://x.example.com", "http://x:port"],
)
def test_malformed_endpoint(tmp_path: Path, endpoint: str) -> None:
    env = write_env(tmp_path, f"AZURE_VOICELIVE_ENDPOINT={endpoint}\nAZURE_VOICELIVE_API_KEY={SECRET}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(env, environ={})
    message = str(info.value)
    assert repr(endpoint) in message
    assert "AZURE_VOICELIVE_ENDPOINT (.env)" in message
    assert "https://<your-resource>.cognitiveservices.azure.com/" in message
    assert SECRET not in message


def test_backend_practice_override_ignores_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeServer()
    monkeypatch.setattr(embedded_server, "practice_server", lambda script=None: fake)
    environ = {
        "VOICELIVE_LAB_BACKEND": "  PRACTICE ",
        "AZURE_VOICE_LIVE_ENDPOINT": ENDPOINT,
        "AZURE_VOICE_LIVE_API_KEY": SECRET,
        "VOICE_LIVE_VOICE": "en-US-AvaNeural",
    }
    s = load_settings(write_env(tmp_path), environ=environ)
    assert s.backend == "practice"
    assert s.endpoint == fake.endpoint
    assert s.credential.key == fake.api_key
    assert s.voice == "en-US-AvaNeural"
    assert s.sources["endpoint"] == "embedded practice server"
    assert any("ignored" in note and "AZURE_VOICE_LIVE_ENDPOINT" in note for note in s.notes)
    assert SECRET not in repr(s) and SECRET not in s.describe()


def test_no_endpoint_uses_embedded_practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeServer()
    seen: list[object] = []

    def fake_practice_server(script: object = None) -> FakeServer:
        seen.append(script)
        return fake

    monkeypatch.setattr(embedded_server, "practice_server", fake_practice_server)
    monkeypatch.setattr(embedded_server, "_server", None)
    s = load_settings(write_env(tmp_path, "VOICELIVE_LAB_PRACTICE_SCRIPT=replies.json\n"), environ={})
    assert s.backend == "practice"
    assert "Endpoint:     starts when first used  [embedded practice server]" in s.describe()
    assert s.credential_kind == "API key"
    assert seen == [], "loading and describing the settings start no server"
    assert s.endpoint == "http://127.0.0.1:5555"
    assert isinstance(s.credential, AzureKeyCredential)
    assert s.sources["credential"] == "embedded practice server"
    assert set(seen) == {"replies.json"}  # the script is what the server starts with


# --- secrets never shown -------------------------------------------------------------------


def test_secret_never_shown(tmp_path: Path) -> None:
    s = load_settings(
        write_env(tmp_path, f"AZURE_VOICE_LIVE_API_KEY={SECRET}\n"),
        environ={"AZURE_VOICE_LIVE_ENDPOINT": ENDPOINT},
    )
    assert s.credential.key == SECRET
    for text in (repr(s), str(s), s.describe(), f"{s}", f"{s!r}", repr([s]), repr(s.sources), repr(s.notes)):
        assert SECRET not in text
    assert "API key" in s.describe()
    assert ENDPOINT in s.describe()
    assert "AZURE_VOICE_LIVE_API_KEY (.env)" in s.describe()


def test_settings_is_frozen(tmp_path: Path) -> None:
    environ = {"AZURE_VOICE_LIVE_ENDPOINT": ENDPOINT, "AZURE_VOICE_LIVE_API_KEY": SECRET}
    s = load_settings(write_env(tmp_path), environ=environ)
    assert isinstance(s, Settings)
    with pytest.raises(AttributeError):
        s.endpoint = "https://elsewhere/"  # type: ignore[misc]


# --- the shared practice server ------------------------------------------------------------


def test_practice_server_is_created_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    class CountingServer(FakeServer):
        instances = 0

        def start(self) -> CountingServer:
            time.sleep(0.02)  # widen the window in which a second thread could sneak in
            return self

    fake_module = types.ModuleType("voicelive_lab.mock")
    fake_module.MockServer = CountingServer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "voicelive_lab.mock", fake_module)
    monkeypatch.setattr(embedded_server, "_server", None)
    monkeypatch.setattr(embedded_server, "_server_script", None)
    stoppers: list[object] = []
    monkeypatch.setattr(embedded_server.atexit, "register", stoppers.append)

    results: list[object] = []

    def worker() -> None:
        results.append(embedded_server.practice_server("s.json"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert CountingServer.instances == 1
    assert len({id(r) for r in results}) == 1
    assert results[0].script == "s.json"  # type: ignore[attr-defined]
    assert len(stoppers) == 1


def _real_mock_server() -> None:
    mock = pytest.importorskip("voicelive_lab.mock")
    if not hasattr(mock, "MockServer"):
        pytest.skip("voicelive_lab.mock.MockServer is not available yet")


def test_embedded_practice_server_real(tmp_path: Path) -> None:
    _real_mock_server()
    s = load_settings(write_env(tmp_path), environ={})
    assert s.backend == "practice"
    assert s.endpoint.startswith("http://127.0.0.1:")
    assert isinstance(s.credential, AzureKeyCredential) and s.credential.key
    assert s.sources["endpoint"] == "embedded practice server"


def test_embedded_practice_server_is_shared(tmp_path: Path) -> None:
    _real_mock_server()
    first = load_settings(write_env(tmp_path), environ={})
    second = load_settings(write_env(tmp_path), environ={"VOICE_LIVE_VOICE": "en-US-AvaNeural"})
    assert first.endpoint == second.endpoint
    assert first.credential.key == second.credential.key
    assert embedded_server.practice_server() is embedded_server.practice_server()

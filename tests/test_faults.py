"""Faults a classroom meets: each ends in a clear message (cause and fix), and the runner can start again."""

from __future__ import annotations

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.identity import CredentialUnavailableError
from support import AUDIO, settings_for

from voicelive_lab.audio import RecordingSpeaker, WavMicrophone
from voicelive_lab.config import Settings
from voicelive_lab.mock import Faults, MockServer
from voicelive_lab.runner import SessionRunner


class NotSignedIn(AsyncTokenCredential):
    """What DefaultAzureCredential does on a laptop that never ran `az login`."""

    async def get_token(self, *scopes: str, **kwargs: object):  # type: ignore[no-untyped-def]
        raise CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token")

    async def close(self) -> None:
        pass


def runner_for(settings: Settings) -> SessionRunner:
    return SessionRunner(settings, microphone=WavMicrophone(realtime=False), speaker=RecordingSpeaker(realtime=False))


def failure_of(settings: Settings) -> str:
    runner = runner_for(settings)
    runner.start()
    assert runner.wait_for_state("error", timeout=15), runner.state
    assert runner.wait_for(lambda snap: not runner.running, timeout=2), "the session thread ended"
    return runner.last_error or ""


def with_endpoint(server: MockServer, endpoint: str, credential: object | None = None) -> Settings:
    base = settings_for(server)
    return Settings(**{**base.__dict__, "endpoint": endpoint, "credential": credential or base.credential})


@pytest.mark.parametrize(
    ("endpoint", "clues"),
    [
        ("https://127.0.0.1:{port}", ["secure", "http://"]),
        ("http://voicelive-lab-missing.invalid", ["could not be found", "typos"]),
        ("http://127.0.0.1:9", ["refused", "endpoint"]),
    ],
)
def test_wrong_endpoints_are_explained(server: MockServer, endpoint: str, clues: list[str]) -> None:
    message = failure_of(with_endpoint(server, endpoint.format(port=server.port)))
    for clue in clues:
        assert clue in message, message


def test_keyless_sign_in_without_az_login_is_explained(server: MockServer) -> None:
    message = failure_of(with_endpoint(server, server.endpoint, NotSignedIn()))
    assert "az login" in message and "AZURE_VOICE_LIVE_API_KEY" in message


@pytest.mark.parametrize("code", [1000, 1011])
def test_the_service_closing_mid_reply_is_an_error_and_the_runner_recovers(make_server, code: int) -> None:
    server = make_server(speed=4, faults=Faults(close_after_audio_deltas=3, close_code=code))
    runner = runner_for(settings_for(server))
    runner.start()
    assert runner.wait_for_state("ready", timeout=10)
    runner.microphone.say(AUDIO / "hello.wav")  # type: ignore[attr-defined]
    assert runner.wait_for_state("error", timeout=10)
    assert f"close code {code}" in (runner.last_error or "") and "closed the session" in (runner.last_error or "")
    assert runner.wait_for(lambda snap: not runner.running, timeout=2)

    server.faults = Faults()
    runner.start()
    assert runner.wait_for_state("ready", timeout=10) and runner.stop()


def test_a_wrong_key_is_explained_without_showing_it(server: MockServer) -> None:
    message = failure_of(with_endpoint(server, server.endpoint, AzureKeyCredential("k3y-typo-0000")))
    assert "401" in message and "AZURE_VOICE_LIVE_API_KEY" in message and "k3y-typo-0000" not in message


def test_a_busy_service_is_explained(make_server) -> None:
    server = make_server(faults=Faults(reject_handshake=503))
    message = failure_of(settings_for(server))
    assert "busy" in message and "503" in message and "Start again" in message


def test_a_malformed_frame_from_the_service_is_explained(make_server) -> None:
    server = make_server(faults=Faults(malformed_after_events=2))
    message = failure_of(settings_for(server))
    assert "not valid JSON" in message

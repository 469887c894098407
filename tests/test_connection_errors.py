"""Real connection failures through the SDK, each explained by its cause: the type behind the SDK's error."""

from __future__ import annotations

import asyncio
import math
import socket

import pytest
from azure.ai.voicelive.aio import connect
from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError

from voicelive_lab.errors import explain_connection_error
from voicelive_lab.mock import Faults, MockServer
from voicelive_lab.mock.recognizer import PlaceholderRecognizer


class NoSignIn(AsyncTokenCredential):
    """A keyless credential with nobody signed in, as DefaultAzureCredential is without `az login`."""

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token.")

    async def close(self) -> None:
        pass


def failure(endpoint: str, credential: object) -> BaseException:
    """The exception ``connect`` raises for this endpoint and credential (it must fail)."""

    async def attempt() -> None:
        async with connect(endpoint=endpoint, credential=credential, model="gpt-4o") as conn:  # type: ignore[arg-type]
            await conn.recv()

    try:
        asyncio.run(asyncio.wait_for(attempt(), 15))
    except Exception as error:
        return error
    raise AssertionError(f"connecting to {endpoint} should have failed")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server():
    with MockServer(speed=math.inf, recognizer=PlaceholderRecognizer()) as running:
        yield running


def test_a_wrong_key_is_explained_as_401(server: MockServer) -> None:
    error = failure(server.endpoint, AzureKeyCredential("wrong"))
    assert "refused the credentials (HTTP 401)" in explain_connection_error(error, server.endpoint)


def test_a_busy_service_is_explained_by_its_status() -> None:
    with MockServer(faults=Faults(reject_handshake=503), recognizer=PlaceholderRecognizer()) as busy:
        error = failure(busy.endpoint, AzureKeyCredential(busy.api_key))
        assert "busy or not taking new sessions (HTTP 503)" in explain_connection_error(error, busy.endpoint)


def test_nothing_listening_is_explained_as_refused() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    message = explain_connection_error(failure(endpoint, AzureKeyCredential("k")), endpoint)
    assert "the connection was refused" in message


def test_https_to_the_practice_server_is_explained_as_tls(server: MockServer) -> None:
    endpoint = server.endpoint.replace("http://", "https://")
    message = explain_connection_error(failure(endpoint, AzureKeyCredential(server.api_key)), endpoint)
    assert "does not speak TLS" in message


def test_an_unknown_host_is_explained_as_dns() -> None:
    endpoint = "https://no-such-resource.invalid"
    message = explain_connection_error(failure(endpoint, AzureKeyCredential("k")), endpoint)
    assert "could not be found (DNS)" in message


def test_keyless_sign_in_without_credentials_says_az_login(server: MockServer) -> None:
    message = explain_connection_error(failure(server.endpoint, NoSignIn()), server.endpoint)
    assert "az login" in message

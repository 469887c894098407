"""Plain-language explanations for what goes wrong in a session: the cause, and the fix.

The cause is read from the exception types along the ``__cause__`` / ``__context__`` chain (the SDK wraps
aiohttp's errors, which wrap the socket's); the message text is only a last resort.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import aiohttp
from azure.core.exceptions import ClientAuthenticationError


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception behind it, nearest first (each once)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        os_error = getattr(current, "os_error", None)  # aiohttp keeps the socket's error here, not as a cause
        if isinstance(os_error, BaseException) and id(os_error) not in seen:
            yield os_error
            seen.add(id(os_error))
        current = current.__cause__ or current.__context__


def http_status(error: BaseException) -> int | None:
    """The HTTP status of a refused WebSocket handshake, if that is what failed."""
    for cause in causes(error):
        if isinstance(cause, aiohttp.ClientResponseError):
            return cause.status
    return None


def _first(error: BaseException, *kinds: type[BaseException]) -> BaseException | None:
    return next((cause for cause in causes(error) if isinstance(cause, kinds)), None)


def explain_connection_error(error: BaseException, endpoint: str) -> str:
    """Why a connection failed or broke, naming the endpoint (never a key) and what to check."""
    host = urlsplit(endpoint).netloc or endpoint
    status = http_status(error)
    if status is not None:
        return _explain_status(status, host)
    if _first(error, ClientAuthenticationError) is not None:
        return (
            "Keyless sign-in (Microsoft Entra ID) found no credentials: run `az login`, or set "
            "AZURE_VOICE_LIVE_API_KEY to use a key instead."
        )
    if _first(error, socket.gaierror) is not None:
        return f"The host name in {endpoint} could not be found (DNS). Check the endpoint for typos."
    if _first(error, ssl.SSLError, aiohttp.ClientSSLError) is not None:
        return (
            f"A secure (https/wss) connection to {host} failed. If this is the local practice server, use "
            "http:// — it does not speak TLS."
        )
    if _first(error, ConnectionRefusedError) is not None:
        return f"Could not reach {host}: the connection was refused. Is the endpoint right, and is the service running?"
    if _first(error, asyncio.TimeoutError, TimeoutError) is not None:
        return f"{host} did not answer in time. Check the endpoint and your network."
    text = f"{type(error).__name__}: {error}"
    if "Failed to parse message" in text:  # the SDK raises a plain error for a frame that is not JSON
        return f"{host} sent a message that is not valid JSON, so the session was ended."
    return f"The session failed: {text}"


def _explain_status(status: int, host: str) -> str:
    if status == 401:
        return (
            f"{host} refused the credentials (HTTP 401): the API key is wrong for this resource, or the "
            "token is not accepted. Check AZURE_VOICE_LIVE_API_KEY (or sign in with `az login` for keyless access)."
        )
    if status == 403:
        return (
            f"{host} denied access (HTTP 403): the signed-in account needs the Cognitive Services User role "
            "on the resource, or the key belongs to another resource."
        )
    if status == 404:
        return (
            f"Nothing at {host} serves Voice Live (HTTP 404). The endpoint should look like "
            "https://<your-resource>.cognitiveservices.azure.com/"
        )
    if status in (429, 503):
        return f"{host} is busy or not taking new sessions (HTTP {status}). Wait a moment, then press Start again."
    return f"{host} refused the connection (HTTP {status})."

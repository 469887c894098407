"""Plain-language explanations for what goes wrong in a session: the cause, and the fix."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit


def _http_status(error: BaseException) -> int | None:
    """The HTTP status of a refused WebSocket handshake, if that is what failed."""
    current: BaseException | None = error
    while current is not None:
        status = getattr(current, "status", None)
        if isinstance(status, int):
            return status
        current = current.__cause__ or current.__context__
    found = re.search(r"\b([1-5]\d\d), message=", str(error))
    return int(found.group(1)) if found else None


def explain_connection_error(error: BaseException, endpoint: str) -> str:
    """Why a connection failed or broke, naming the endpoint (never a key) and what to check."""
    host = urlsplit(endpoint).netloc or endpoint
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, asyncio.TimeoutError):
        return f"{host} did not answer in time. Check the endpoint and your network."
    status = _http_status(error)
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
    if any(clue in text for clue in ("Name or service not known", "nodename nor servname", "getaddrinfo")):
        return f"The host name in {endpoint} could not be found (DNS). Check the endpoint for typos."
    if any(clue in text for clue in ("SSLError", "[SSL", "WRONG_VERSION_NUMBER", "CERTIFICATE_VERIFY")):
        return (
            f"A secure (https/wss) connection to {host} failed. If this is the local practice server, use "
            "http:// — it does not speak TLS."
        )
    if any(clue in text for clue in ("Connect call failed", "Cannot connect to host", "Connection refused")):
        return f"Could not reach {host}: the connection was refused. Is the endpoint right, and is the service running?"
    if "CredentialUnavailable" in text or "ClientAuthenticationError" in text:
        return (
            "Keyless sign-in (Microsoft Entra ID) found no credentials: run `az login`, or set "
            "AZURE_VOICE_LIVE_API_KEY to use a key instead."
        )
    if "Failed to parse message" in text:
        return f"{host} sent a message that is not valid JSON, so the session was ended."
    return f"The session failed: {text}"

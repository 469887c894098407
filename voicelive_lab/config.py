"""Decide which Voice Live service the notebooks talk to: Azure, or the offline practice server.

Settings come from the environment and a ``.env`` file.  Both the lab's variable names
(``AZURE_VOICE_LIVE_*``) and the SDK samples' names (``AZURE_VOICELIVE_*``) are accepted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from azure.core.credentials import AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential
from dotenv import dotenv_values, find_dotenv

from .embedded_server import FromPracticeServer, practice_server, running_practice_server

if TYPE_CHECKING:
    from voicelive_lab.mock import MockServer

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "Backend",
    "ConfigError",
    "Credential",
    "Settings",
    "load_settings",
    "practice_server",
]

Backend = Literal["practice", "azure"]
Credential = AzureKeyCredential | AsyncTokenCredential

DEFAULT_MODEL = "gpt-4o"
DEFAULT_VOICE = "en-US-JennyNeural"
DEFAULT_INSTRUCTIONS = "You are a friendly voice assistant. Keep your answers short, clear and conversational."

BACKEND_VAR = "VOICELIVE_LAB_BACKEND"
PRACTICE_SCRIPT_VAR = "VOICELIVE_LAB_PRACTICE_SCRIPT"
ENDPOINT_EXAMPLE = "https://<your-resource>.cognitiveservices.azure.com/"

# Setting name -> (lab variable, SDK-sample variable).  The lab variable wins when both are set.
_FAMILIES: dict[str, tuple[str, str]] = {
    "endpoint": ("AZURE_VOICE_LIVE_ENDPOINT", "AZURE_VOICELIVE_ENDPOINT"),
    "api_key": ("AZURE_VOICE_LIVE_API_KEY", "AZURE_VOICELIVE_API_KEY"),
    "model": ("VOICE_LIVE_MODEL", "AZURE_VOICELIVE_MODEL"),
    "voice": ("VOICE_LIVE_VOICE", "AZURE_VOICELIVE_VOICE"),
    "instructions": ("VOICE_LIVE_INSTRUCTIONS", "AZURE_VOICELIVE_INSTRUCTIONS"),
}
_ALLOWED_SCHEMES = ("http", "https", "ws", "wss")


class ConfigError(ValueError):
    """The configuration cannot work; the message says what was read and how to fix it."""


@dataclass(frozen=True, repr=False, kw_only=True)
class Settings:
    """Where to connect and with what; ``sources`` and ``notes`` explain how it was decided.

    Without an ``endpoint`` and ``credential`` (or with None) they are the embedded practice server's: it starts
    the first time one of them is read (with ``practice_script``), not when the settings are made.
    """

    backend: Backend
    # Descriptors, made once with the class; their default is None (the embedded practice server).
    endpoint: FromPracticeServer[str] = FromPracticeServer(lambda server: server.endpoint)  # noqa: RUF009
    credential: FromPracticeServer[Credential] = FromPracticeServer(  # noqa: RUF009
        lambda server: AzureKeyCredential(server.api_key)
    )
    model: str
    voice: str
    instructions: str
    sources: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    env_file: str | None = None  # the .env file that was read, if any
    practice_script: str | None = None  # an instructor's reply script for the embedded practice server

    @property
    def uses_embedded_server(self) -> bool:
        """True when the endpoint is the embedded practice server (started on first use)."""
        return self.__dict__["endpoint"] is None

    def _endpoint_if_known(self) -> str | None:
        """The endpoint without starting anything: None for the embedded server until it runs."""
        if not self.uses_embedded_server:
            return self.endpoint
        server, _ = running_practice_server()
        return None if server is None else server.endpoint

    @property
    def credential_kind(self) -> str:
        """A human label for the credential: never the key itself."""
        if self.__dict__["credential"] is None:
            return "API key"  # the practice server's own
        if isinstance(self.credential, AzureKeyCredential):
            return "API key"
        return f"Microsoft Entra ID ({type(self.credential).__name__})"

    def describe(self) -> str:
        """A short multi-line summary that is safe to print or share (no secrets)."""

        def origin(name: str) -> str:
            source = self.sources.get(name, "default")
            return f"[from {source}]" if source.endswith(("(environment)", "(.env)")) else f"[{source}]"

        lines = [
            f"Backend:      {self.backend}  {origin('backend')}",
            f"Endpoint:     {self._endpoint_if_known() or 'starts when first used'}  {origin('endpoint')}",
            f"Model:        {self.model}  {origin('model')}",
            f"Voice:        {self.voice}  {origin('voice')}",
            f"Instructions: {_shorten(self.instructions)}  {origin('instructions')}",
            f"Credential:   {self.credential_kind}  {origin('credential')}",
            f".env file:    {_display_path(self.env_file) if self.env_file else 'none found'}",
        ]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Settings(backend={self.backend!r}, endpoint={self._endpoint_if_known() or '<not started yet>'!r}, "
            f"credential=<{self.credential_kind}>, model={self.model!r}, voice={self.voice!r}, "
            f"instructions={_shorten(self.instructions)!r}, sources={self.sources!r}, "
            f"notes={self.notes!r}, env_file={self.env_file!r})"
        )

    def __str__(self) -> str:
        return self.describe()

    def with_practice_server(self, server: MockServer) -> Settings:
        """The same model, voice and instructions, pointed at ``server`` (a private practice server) and its key."""
        return replace(
            self, backend="practice", endpoint=server.endpoint, credential=AzureKeyCredential(server.api_key)
        )


def load_settings(
    env_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the environment and a ``.env`` file and decide backend, endpoint and credential.

    Real environment variables win over the ``.env`` file, which is read but never copied into
    ``os.environ``.  With no endpoint configured, the settings name the embedded practice server, which starts
    when the endpoint is first read.
    Raises ``ConfigError`` for settings that cannot work.
    """
    environ = os.environ if environ is None else environ
    notes: list[str] = []
    sources: dict[str, str] = {}

    if env_file is None:
        env_path = find_dotenv(usecwd=True) or None
    else:
        env_path = os.fspath(env_file)
        if not Path(env_path).is_file():
            notes.append(f"The .env file {env_path} was not found; using environment variables only.")
            env_path = None
    dotenv: Mapping[str, str | None] = dotenv_values(env_path) if env_path else {}

    def lookup(var: str) -> tuple[str | None, str]:
        """One variable's cleaned value and where it came from; the environment wins over .env."""
        value = _clean(environ.get(var))
        if value is not None:
            return value, f"{var} (environment)"
        value = _clean(dotenv.get(var))
        return value, f"{var} (.env)"

    def setting(name: str, secret: bool = False) -> tuple[str | None, str]:
        """A setting from either variable family, noting when the two families disagree."""
        lab_var, sdk_var = _FAMILIES[name]
        lab, lab_src = lookup(lab_var)
        sdk, sdk_src = lookup(sdk_var)
        if lab is not None and sdk is not None and lab != sdk:
            if secret:
                notes.append(f"{lab_var} and {sdk_var} are both set and differ; using {lab_src}.")
            else:
                notes.append(
                    f"{lab_var} and {sdk_var} are both set and differ; using {_shorten(lab)!r} "
                    f"from {lab_src} and ignoring {_shorten(sdk)!r} from {sdk_src}."
                )
        if lab is not None:
            return lab, lab_src
        if sdk is not None:
            return sdk, sdk_src
        return None, "default"

    model, sources["model"] = setting("model")
    voice, sources["voice"] = setting("voice")
    instructions, sources["instructions"] = setting("instructions")
    endpoint, endpoint_src = setting("endpoint")
    key, key_src = setting("api_key", secret=True)
    requested, backend_src = lookup(BACKEND_VAR)
    script, _ = lookup(PRACTICE_SCRIPT_VAR)

    common: dict[str, Any] = {
        "model": model or DEFAULT_MODEL,
        "voice": voice or DEFAULT_VOICE,
        "instructions": instructions or DEFAULT_INSTRUCTIONS,
        "sources": sources,
        "env_file": env_path,
    }

    backend: Backend
    if requested is None:
        sources["backend"] = "default"
        if endpoint is None:
            backend = "practice"
        else:
            _validate_endpoint(endpoint, endpoint_src)
            backend = "practice" if _is_local_practice(endpoint) else "azure"
    else:
        sources["backend"] = backend_src
        choice = requested.lower()
        if choice not in ("practice", "azure"):
            raise ConfigError(
                f"{backend_src} is {requested!r}; allowed values are 'practice' (offline practice "
                "server) or 'azure' (your Voice Live resource). Leave it unset to choose automatically."
            )
        backend = "practice" if choice == "practice" else "azure"
        if backend == "azure" and endpoint is None:
            raise ConfigError(
                f"{backend_src} is 'azure' but no Voice Live endpoint is configured. Set "
                f"AZURE_VOICE_LIVE_ENDPOINT (or AZURE_VOICELIVE_ENDPOINT) in your .env file, e.g.\n"
                f"    AZURE_VOICE_LIVE_ENDPOINT={ENDPOINT_EXAMPLE}\n"
                "    AZURE_VOICE_LIVE_API_KEY=<your key>   # optional: without it, `az login` is used\n"
                f"or remove {BACKEND_VAR} to use the offline practice server."
            )
        if backend == "practice" and endpoint is not None:
            notes.append(
                f"{backend_src} is 'practice', so the endpoint from {endpoint_src} is ignored and "
                "the embedded practice server is used."
            )
            endpoint = None
        if endpoint is not None:
            _validate_endpoint(endpoint, endpoint_src)

    if endpoint is None:  # embedded practice server
        if key is not None:
            notes.append(f"The API key from {key_src} is not used by the embedded practice server.")
        running, running_script = running_practice_server()
        if running is not None and script != running_script:
            notes.append(
                f"{PRACTICE_SCRIPT_VAR} changed after the practice server started; restart the kernel "
                "to use the new script."
            )
        sources["endpoint"] = sources["credential"] = "embedded practice server"
        return Settings(backend="practice", notes=tuple(notes), practice_script=script, **common)

    sources["endpoint"] = endpoint_src
    credential: Credential
    if key is not None:
        credential = AzureKeyCredential(key)
        sources["credential"] = key_src
    elif backend == "practice":
        raise ConfigError(
            f"{endpoint_src} points at a local practice server ({endpoint}) but no API key is set. "
            "Set AZURE_VOICE_LIVE_API_KEY to that server's key: the one you passed to `voicelive-lab mock "
            "--api-key`, or the one it wrote to its key file (.voicelive-practice.key)."
        )
    else:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
        sources["credential"] = "DefaultAzureCredential (no API key set)"
        notes.append(
            "No API key is set, so Microsoft Entra ID is used (DefaultAzureCredential): run "
            "`az login` first, or rely on a managed identity when running in Azure."
        )
    return Settings(backend=backend, endpoint=endpoint, credential=credential, notes=tuple(notes), **common)


def _clean(value: str | None) -> str | None:
    """Strip whitespace and one level of matching quotes; empty means unset."""
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1].strip()
    return value or None


def _display_path(path: str) -> str:
    """A path relative to the working directory, so printed settings carry no machine paths."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return Path(path).name


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validate_endpoint(endpoint: str, source: str) -> None:
    """Raise ``ConfigError`` unless ``endpoint`` is an http(s)/ws(s) URL with a host."""
    problem = None
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        problem = f"it cannot be parsed ({exc})"
    else:
        if "://" not in endpoint:
            problem = "it does not start with a scheme such as https://"
        elif parts.scheme.lower() not in _ALLOWED_SCHEMES:
            problem = f"the scheme {parts.scheme!r} is not one of {', '.join(_ALLOWED_SCHEMES)}"
        elif not parts.hostname or any(ch.isspace() for ch in endpoint):
            problem = "it has no valid host name"
    if problem is not None:
        raise ConfigError(
            f"{source} is {endpoint!r}, which is not a valid Voice Live endpoint: {problem}. "
            f"A valid endpoint looks like {ENDPOINT_EXAMPLE}"
        )


def _is_local_practice(endpoint: str) -> bool:
    """True for a plain http:// or ws:// endpoint on this machine (a separately started practice server)."""
    parts = urlsplit(endpoint)
    if parts.scheme.lower() not in ("http", "ws"):
        return False
    from voicelive_lab.mock.server import is_loopback_host

    return is_loopback_host(parts.hostname or "")

"""Agent mode as azure-ai-voicelive 1.3.x connects to it, and the keywords its ``connect`` silently drops.

``connect(agent_name=..., project_name=...)`` asks for a Foundry agent instead of a model: the SDK puts the
agent in the WebSocket URL's query (``agent-name``, ``agent-project-name``, and ``agent-version``,
``conversation-id``… when given). ``connect`` also takes any other keyword "for backward compatibility" and
ignores it. So ``agent_config=`` (how earlier previews named the agent) or a misspelt keyword connects without a
word of complaint, to a plain model. :func:`connect_strictly` refuses such keywords instead; :func:`connection_query`
shows what a call of ``connect`` would ask the service for, without connecting.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import parse_qsl, urlparse

from azure.ai.voicelive.aio import VoiceLiveConnection, connect

#: The keywords SDK 1.3.x's ``connect`` acts on; any other keyword is accepted and ignored.
CONNECT_KEYWORDS = tuple(
    name
    for name, parameter in inspect.signature(connect).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)
AGENT_KEYWORDS = ("agent_name", "project_name", "agent_version", "conversation_id")
#: The SDK's own user-agent parameter: it names this machine's Python and OS, so it is left out of the query shown.
SDK_MONIKER = "x-ms-client-sdk"


def ignored_keywords(keywords: Mapping[str, Any]) -> list[str]:
    """The keywords in ``keywords`` that ``connect`` would accept and silently ignore."""
    return [name for name in keywords if name not in CONNECT_KEYWORDS]


def connect_strictly(**keywords: Any) -> AbstractAsyncContextManager[VoiceLiveConnection]:
    """The SDK's ``connect(**keywords)``, or a TypeError for a keyword it would silently ignore (``agent_config=``)."""
    ignored = ignored_keywords(keywords)
    if ignored:
        raise TypeError(_why_refused(ignored, keywords))
    return connect(**keywords)


def connection_query(**keywords: Any) -> dict[str, str]:
    """The query parameters ``connect(**keywords)`` puts in the WebSocket URL, without connecting.

    It reads the URL from the SDK's connection manager (``_prepare_url``, private in 1.3.1; the lesson's tests
    fail if that changes). The SDK's user-agent parameter is left out."""
    url = connect(**keywords)._prepare_url()  # type: ignore[attr-defined]
    return {key: value for key, value in parse_qsl(urlparse(url).query) if key != SDK_MONIKER}


def _why_refused(ignored: list[str], keywords: Mapping[str, Any]) -> str:
    reasons = []
    for name in ignored:
        if name == "agent_config":
            reasons.append(_agent_config_advice(keywords[name]))
            continue
        close = difflib.get_close_matches(name, CONNECT_KEYWORDS, n=1)
        suggestion = f" (did you mean {close[0]}=?)" if close else ""
        reasons.append(f"connect() ignores {name}= without a word{suggestion}.")
    return " ".join(reasons)


def _agent_config_advice(config: Any) -> str:
    given = dict(config) if isinstance(config, Mapping) else {}
    known = ", ".join(f"{key}={given[key]!r}" for key in AGENT_KEYWORDS if key in given)
    keywords = known or "agent_name=..., project_name=..."
    return (
        "connect() in azure-ai-voicelive 1.3 ignores agent_config= without a word, so the session would talk to "
        f"a model, not to your agent. Name the agent with keywords instead: connect(..., {keywords})."
    )

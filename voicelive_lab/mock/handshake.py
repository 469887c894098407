"""The practice server's HTTP side, as aiohttp intends it: a route per path and middleware for each gate.

A connection to ``…/realtime`` passes, in order: injected handshake faults, the key, the session limit and the
agent query; only then does the realtime handler upgrade it to a WebSocket. Every refusal is JSON in the
service's shape (``{"error": {"code", "message"}}``) with the HTTP status the SDK reports.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from .faults import Faults
from .ids import IdFactory

log = logging.getLogger("voicelive_lab.mock")

REALTIME_ROUTE = "realtime"
UNAUTHORIZED_MESSAGE = (
    "Access denied: the request carried no key or a wrong key for this practice server. Send the key in the "
    "'api-key' header (AzureKeyCredential) or as 'Authorization: Bearer <key>'."
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Gatekeeper(Protocol):
    """What the gates read from the server, at each request (so tests may change it while it runs)."""

    api_key: str
    faults: Faults
    max_sessions: int

    @property
    def active_sessions(self) -> int: ...


def build_app(gatekeeper: Gatekeeper, realtime: Handler) -> web.Application:
    """Routes: ``/`` (status), ``…/realtime`` (the Voice Live socket, optionally under a prefix), else 404."""

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"service": "voicelive-lab practice server", "sessions": gatekeeper.active_sessions})

    async def not_found(request: web.Request) -> web.Response:
        return refusal(404, f"No Voice Live route at {request.path}; use .../realtime.")

    app = web.Application(middlewares=[_fault_gate(gatekeeper), _key_gate(gatekeeper), _limit_gate(gatekeeper)])
    app.router.add_get("/", status)
    app.router.add_get(r"/{prefix:.*}realtime{slash:/?}", _agent_gate(realtime), name=REALTIME_ROUTE)
    app.router.add_get("/{path:.*}", not_found)
    return app


def refusal(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)


def _realtime(request: web.Request) -> bool:
    return request.match_info.route.name == REALTIME_ROUTE and _whole_word(request)


def _whole_word(request: web.Request) -> bool:
    """``/realtime`` or ``…/realtime``, not ``…/surrealtime``."""
    prefix = request.match_info.get("prefix", "")
    return prefix == "" or prefix.endswith("/")


def _fault_gate(gatekeeper: Gatekeeper) -> Any:
    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        status = gatekeeper.faults.reject_handshake
        if status is not None and _realtime(request):
            return refusal(status, "Rejected by fault injection.")
        return await handler(request)

    return gate


def _key_gate(gatekeeper: Gatekeeper) -> Any:
    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _realtime(request) and not authorized(request, gatekeeper.api_key):
            log.info("rejected a connection without a valid key (HTTP 401)")
            return refusal(401, UNAUTHORIZED_MESSAGE)
        return await handler(request)

    return gate


def _limit_gate(gatekeeper: Gatekeeper) -> Any:
    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _realtime(request) and gatekeeper.active_sessions >= gatekeeper.max_sessions:
            return refusal(429, f"Too many sessions (limit {gatekeeper.max_sessions}).")
        return await handler(request)

    return gate


def _agent_gate(realtime: Handler) -> Handler:
    """Reads the agent query (refusing half of one), then hands over to the realtime handler."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if not _whole_word(request):
            return refusal(404, f"No Voice Live route at {request.path}; use .../realtime.")
        try:
            request[AGENT_QUERY] = AgentQuery.parse(request.query)
        except ValueError as error:
            return refusal(400, str(error))
        return await realtime(request)

    return handler


def authorized(request: web.Request, api_key: str) -> bool:
    """The key in the ``api-key`` header or query, or a Bearer token in the ``Authorization`` header or query."""
    expected = api_key.encode()
    offered = [request.headers.get("api-key"), request.query.get("api-key")]
    for authorization in (request.headers.get("Authorization"), request.query.get("authorization")):
        if authorization and authorization[:7].lower() == "bearer ":
            offered.append(authorization[7:].strip())
    return any(value and hmac.compare_digest(as_sent(value), expected) for value in offered)


def as_sent(value: str) -> bytes:
    """A header or query value as the client's bytes; aiohttp keeps bytes that are not UTF-8 as lone surrogates."""
    return value.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class AgentQuery:
    """The Foundry agent a connection asks for (``agent-name`` and ``agent-project-name`` in its query)."""

    name: str
    project: str
    version: str | None
    conversation_id: str | None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> AgentQuery | None:
        """None without agent parameters; ValueError when one of the two required names is missing."""
        name, project = query.get("agent-name", "").strip(), query.get("agent-project-name", "").strip()
        if not name and not project:
            return None
        if not (name and project):
            raise ValueError(
                "Agent mode needs both 'agent-name' and 'agent-project-name' in the query "
                "(connect(..., agent_name=..., project_name=...))."
            )
        return cls(name, project, query.get("agent-version") or None, query.get("conversation-id") or None)

    def session_agent(self, seed: int, session_number: int) -> dict[str, Any]:
        """The session's ``agent`` field: the conversation asked for, else a new thread."""
        return {
            "type": "agent",
            "name": self.name,
            "description": None,
            "agent_id": "asst_practice_" + re.sub(r"[^A-Za-z0-9_-]", "_", self.name),
            "thread_id": self.conversation_id or IdFactory(seed, session_number).new("thread"),
        }


#: Where the agent gate leaves the parsed agent query for the realtime handler (None outside agent mode).
AGENT_QUERY: web.RequestKey[AgentQuery | None] = web.RequestKey("agent_query", AgentQuery)

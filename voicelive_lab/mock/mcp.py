"""MCP tools in a session: listing each server's tools, picking one from the user's words, approvals, the call.

The flow follows the service: after ``session.updated`` each new MCP server's tools are listed
(``mcp_list_tools.in_progress`` → an ``mcp_list_tools`` item → ``.completed`` or ``.failed``). A response whose
words fit a listed tool calls it and speaks the result in the same response, or, when the server requires approval,
ends with an ``mcp_approval_request`` item that the client answers with an ``mcp_approval_response`` item.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import mcp_demo
from .client_events import ClientEventError
from .ids import IdFactory
from .responses import ResponsePlan, Sender
from .tools import MIN_TOOL_SCORE, arguments_for, tool_score

Items = Mapping[str, dict[str, Any]]


@dataclass(frozen=True)
class McpOutcome:
    """What one call gave: its output or its error, and the sentence the answer says."""

    output: str | None
    error: dict[str, Any] | None
    answer: str


@dataclass(frozen=True)
class McpCall:
    """One MCP tool call a response makes, or asks approval for."""

    server_label: str
    server_url: str
    name: str
    arguments: dict[str, Any]
    needs_approval: bool = False
    approval_request_id: str | None = None

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(",", ":"))  # compact, as a model writes

    def call_item(self, item_id: str) -> dict[str, Any]:
        """The ``mcp_call`` item before it runs: arguments stream in, then output or error is filled."""
        return {
            "id": item_id,
            "object": "realtime.item",
            "type": "mcp_call",
            "server_label": self.server_label,
            "name": self.name,
            "arguments": "",
            "approval_request_id": self.approval_request_id,
            "output": None,
            "error": None,
        }

    def approval_request_item(self, item_id: str) -> dict[str, Any]:
        return {
            "id": item_id,
            "object": "realtime.item",
            "type": "mcp_approval_request",
            "server_label": self.server_label,
            "name": self.name,
            "arguments": self.arguments_json,
        }

    def run(self) -> McpOutcome:
        """Call the tool on its server; a failure becomes the item's error and an apology."""
        spoken = _spoken(self.name)
        try:
            result = mcp_demo.call_tool(self.server_url, self.name, self.arguments)
        except mcp_demo.McpServerUnreachable as error:
            return McpOutcome(None, {"type": "http_error", "message": str(error)}, _apology(spoken, str(error)))
        except mcp_demo.McpToolFailed as error:
            failure = {"type": "tool_execution_error", "message": str(error)}
            return McpOutcome(None, failure, _apology(spoken, str(error)))
        tool = mcp_demo.TOOLS[self.name]
        return McpOutcome(json.dumps(result), None, tool.describe(result))


async def list_server_tools(
    before: Any, after: Any, ids: IdFactory, add_item: Callable[[dict[str, Any]], str | None], send: Sender
) -> None:
    """List the tools of every MCP server in ``after`` that ``before`` did not have with the same settings."""
    known = {_server_key(server) for server in _servers(before)}
    for server in _servers(after):
        if _server_key(server) in known:
            continue
        item_id = ids.new("item")
        await send("mcp_list_tools.in_progress", None, item_id=item_id)
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "mcp_list_tools",
            "server_label": server["server_label"],
            "tools": [],
        }
        try:
            item["tools"] = mcp_demo.list_tools(server["server_url"], server.get("allowed_tools"))
            outcome = "mcp_list_tools.completed"
        except mcp_demo.McpServerUnreachable as error:
            item["error"] = {"type": "http_error", "message": str(error)}
            outcome = "mcp_list_tools.failed"
        previous = add_item(item)
        await send("conversation.item.created", None, previous_item_id=previous, item=item)
        await send(outcome, None, item_id=item_id)


def plan_mcp_call(
    modalities: tuple[str, ...], tools: list[Any], tool_choice: Any, heard: str, items: Items
) -> ResponsePlan | None:
    """A response that calls the listed MCP tool the words fit best, or None (a function tool fits as well)."""
    if tool_choice == "none" or isinstance(tool_choice, dict):
        return None
    offered = _offered_tools(tools, items)
    if not offered:
        return None
    scores = [tool_score(_as_function(tool), heard) for _, tool in offered]
    best = max(range(len(offered)), key=scores.__getitem__)
    functions = [tool for tool in tools if isinstance(tool, dict) and tool.get("type") == "function"]
    best_function = max((tool_score(tool, heard) for tool in functions if isinstance(tool.get("name"), str)), default=0)
    forced = tool_choice == "required" and not functions
    if (scores[best] < MIN_TOOL_SCORE and not forced) or best_function >= max(scores[best], MIN_TOOL_SCORE):
        return None
    server, tool = offered[best]
    demo = mcp_demo.TOOLS.get(tool["name"])
    arguments = demo.read_request(heard) if demo is not None else arguments_for(tool.get("input_schema"), heard)
    call = McpCall(
        server["server_label"],
        server["server_url"],
        tool["name"],
        arguments,
        needs_approval=needs_approval(server, tool["name"]),
    )
    return ResponsePlan(modalities, mcp=call)


def plan_after_approval(
    modalities: tuple[str, ...], answer: dict[str, Any], tools: list[Any], items: Items
) -> ResponsePlan:
    """The response to an ``mcp_approval_response``: the approved call and its answer, or why nothing ran."""
    request = items.get(str(answer.get("approval_request_id")))
    if request is None or request.get("type") != "mcp_approval_request":
        return ResponsePlan(modalities, "That approval request is no longer in the conversation, so I ran nothing.")
    spoken = _spoken(str(request.get("name")))
    if not answer.get("approve"):
        return ResponsePlan(modalities, f"All right: you did not allow {spoken}, so I did not run it.")
    server = next((s for s in _servers(tools) if s["server_label"] == request.get("server_label")), None)
    if server is None:
        return ResponsePlan(
            modalities,
            f"The MCP server {request.get('server_label')} is no longer in this session, so I could not run {spoken}.",
        )
    try:
        arguments = json.loads(request.get("arguments") or "{}")
    except json.JSONDecodeError:
        arguments = {}
    call = McpCall(
        server["server_label"],
        server["server_url"],
        str(request["name"]),
        arguments if isinstance(arguments, dict) else {},
        approval_request_id=request["id"],
    )
    return ResponsePlan(modalities, mcp=call)


def check_approval_response(item: dict[str, Any], items: Items) -> None:
    """A client's ``mcp_approval_response`` item must answer an approval request that is still open."""
    request_id = item.get("approval_request_id")
    if not isinstance(request_id, str) or not request_id:
        raise ClientEventError(
            "An mcp_approval_response item needs 'approval_request_id': the id of the mcp_approval_request item.",
            "missing_required_parameter",
            "item.approval_request_id",
        )
    if not isinstance(item.get("approve"), bool):
        raise ClientEventError(
            "An mcp_approval_response item needs 'approve': true or false.", "invalid_type", "item.approve"
        )
    if item.get("reason") is not None and not isinstance(item["reason"], str):
        raise ClientEventError("'reason' must be a string.", "invalid_type", "item.reason")
    request = items.get(request_id)
    if request is None or request.get("type") != "mcp_approval_request":
        raise ClientEventError(
            f"No mcp_approval_request item has the id '{request_id}'.", "invalid_value", "item.approval_request_id"
        )
    if any(
        other.get("type") == "mcp_approval_response" and other.get("approval_request_id") == request_id
        for other in items.values()
    ):
        raise ClientEventError(
            f"The approval request '{request_id}' has already been answered.",
            "invalid_value",
            "item.approval_request_id",
        )


def needs_approval(server: dict[str, Any], tool_name: str) -> bool:
    """``require_approval``: "always" (the default), "never", or per tool ``{"never": [...], "always": [...]}``."""
    rule = server.get("require_approval")
    if rule is None:
        return True
    if isinstance(rule, str):
        return rule != "never"
    return tool_name not in approval_names(rule.get("never")) or tool_name in approval_names(rule.get("always"))


def approval_names(value: Any) -> list[str]:
    """The tool names of one per-tool approval entry: a list, or ``{"tool_names": [...]}`` as OpenAI writes it."""
    names = value.get("tool_names") if isinstance(value, dict) else value
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []


def _servers(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        return []
    return [tool for tool in tools if isinstance(tool, dict) and tool.get("type") == "mcp"]


def _server_key(server: dict[str, Any]) -> str:
    """What decides a server's tool list: a server is listed again when any of these change."""
    fields = ("server_label", "server_url", "allowed_tools", "headers", "authorization")
    return json.dumps([server.get(field) for field in fields], sort_keys=True)


def _offered_tools(tools: list[Any], items: Items) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(server, tool) for each tool of the session's MCP servers, from their latest ``mcp_list_tools`` items."""
    servers = {server["server_label"]: server for server in _servers(tools)}
    listed: dict[str, dict[str, Any]] = {}
    for item in items.values():
        if item.get("type") == "mcp_list_tools" and item.get("server_label") in servers:
            listed[item["server_label"]] = item
    return [
        (servers[label], tool)
        for label, item in listed.items()
        for tool in item.get("tools") or []
        if isinstance(tool, dict) and isinstance(tool.get("name"), str)
    ]


def _as_function(tool: dict[str, Any]) -> dict[str, Any]:
    """An MCP tool in a function tool's shape, to score it with the same words."""
    return {
        "type": "function",
        "name": tool["name"],
        "description": tool.get("description"),
        "parameters": tool.get("input_schema"),
    }


def _spoken(name: str) -> str:
    return name.replace("_", " ")


def _apology(spoken: str, reason: str) -> str:
    return f"Sorry, {spoken} did not work: {reason}"

"""Deciding what a response says or calls: the words of the last turn, the tools, the script, the topics."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from .brain import NO_RECOGNIZER, reply_to
from .conversation import Conversation
from .hearing import Hearing, UserTurn
from .mcp import plan_after_approval, plan_mcp_call
from .replies import ReplyScript, reply_to_tool_output
from .response_settings import bounded, interim_text, pre_generated_text
from .responses import ResponsePlan
from .session_config import voice_language
from .tools import arguments_for, choose_tool

GREETING = "Hello! I am the practice assistant. Say something, or type a message, and I will answer."


class ReplyPlanner:
    """One session's planner: ``plan`` waits for the words of the user's last turn, then decides."""

    def __init__(
        self,
        conversation: Conversation,
        hearing: Hearing,
        script: ReplyScript,
        session: Callable[[], dict[str, Any]],
    ) -> None:
        self._conversation = conversation
        self._hearing = hearing
        self._script = script
        self._session = session
        self._agent_introduced = False

    async def plan(self, params: dict[str, Any], settings: dict[str, Any]) -> ResponsePlan:
        """What the response says or calls: it waits for the words of the user's last turn."""
        began = asyncio.get_running_loop().time()
        plan = await self._choose_reply(params, settings)
        waited_ms = (asyncio.get_running_loop().time() - began) * 1000
        interim = interim_text(settings, plan.tool is not None or plan.mcp is not None, waited_ms)
        if interim is not None:
            plan = dataclasses.replace(plan, interim=interim)
        agent = self._session().get("agent")
        if agent and not self._agent_introduced and plan.text and plan.tool is None:
            self._agent_introduced = True  # the first answer says which agent answered, as agent replies do
            plan = dataclasses.replace(plan, text=f"{agent.get('name')} here. {plan.text}")
        return bounded(plan, settings)

    async def _choose_reply(self, params: dict[str, Any], settings: dict[str, Any]) -> ResponsePlan:
        modalities = tuple(settings["modalities"])
        pre_generated = pre_generated_text(params)
        if pre_generated is not None:
            return ResponsePlan(modalities, pre_generated)
        if isinstance(params.get("input_items"), list):
            context = [item for item in params["input_items"] if isinstance(item, dict)]
            last = next((i for i in reversed(context) if i.get("role") != "assistant"), None)
        else:
            last = self._conversation.last_input()
        if last is not None and last.get("type") == "function_call_output":
            call = self._conversation.function_call(str(last.get("call_id"))) or {}
            return ResponsePlan(modalities, reply_to_tool_output(str(call.get("name", "tool")), str(last["output"])))
        if last is not None and last.get("type") == "mcp_approval_response":
            return plan_after_approval(modalities, last, settings.get("tools") or [], self._conversation.items)
        turn = self._conversation.user_turns.get(str(last.get("id"))) if last is not None else None
        if turn is None and last is not None and last.get("type") == "message":
            turn = UserTurn(0, text=_item_text(last))
        if turn is None:
            return ResponsePlan(modalities, GREETING)
        if turn.heard is not None:
            turn.text = await asyncio.shield(turn.heard)
        tools, tool_choice = settings.get("tools") or [], settings.get("tool_choice")
        mcp_plan = plan_mcp_call(modalities, tools, tool_choice, turn.text, self._conversation.items)
        if mcp_plan is not None:
            return mcp_plan
        tool = choose_tool(tools, tool_choice, turn.text)
        if tool is not None:
            return ResponsePlan(modalities, tool=tool, arguments=arguments_for(tool.get("parameters"), turn.text))
        scripted = self._script.reply_for(turn.number, turn.text)
        if scripted is not None:
            return ResponsePlan(modalities, scripted)
        if turn.spoken and not self._hearing.hears_words:
            return ResponsePlan(modalities, NO_RECOGNIZER.format(seconds=turn.speech_ms / 1000))
        # In agent mode the agent's own instructions apply (the practice agent has none), never the client's.
        instructions = "" if self._session().get("agent") else str(settings.get("instructions") or "")
        return ResponsePlan(modalities, reply_to(turn.text, instructions, voice_language(settings)))


def _item_text(item: dict[str, Any]) -> str:
    parts = content if isinstance(content := item.get("content"), list) else []
    return " ".join(str(p.get("text") or p.get("transcript") or "") for p in parts if isinstance(p, dict)).strip()

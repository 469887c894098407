"""MCP servers in a practice session, through the SDK: tool listing, calls, approvals and failures."""

from __future__ import annotations

import json

from azure.ai.voicelive.aio import VoiceLiveConnection
from azure.ai.voicelive.models import (
    FunctionTool,
    InputTextContentPart,
    MCPApprovalResponseRequestItem,
    MCPServer,
    MCPTool,
    RequestSession,
    ResponseMCPApprovalRequestItem,
    ResponseMCPApprovalResponseItem,
    ResponseMCPCallItem,
    ResponseMCPListToolItem,
    ServerEventMcpListToolsCompleted,
    ServerEventMcpListToolsFailed,
    ServerEventMcpListToolsInProgress,
    ServerEventResponseMcpCallArgumentsDone,
    UserMessageItem,
)
from support import RESPONSE_WITH_AUDIO, barrier, collect, is_type, run, session, squash, types

from voicelive_lab.mock import MockServer
from voicelive_lab.mock.mcp_demo import PRACTICE_MCP_URL

NO_APPROVAL = MCPServer(server_label="practice", server_url=PRACTICE_MCP_URL, require_approval="never")
WEATHER = FunctionTool(
    name="get_weather",
    description="Get the current weather for a location.",
    parameters={"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)


def user_text(text: str) -> UserMessageItem:
    return UserMessageItem(content=[InputTextContentPart(text=text)])


async def ask(conn: VoiceLiveConnection, text: str) -> list:
    """Type ``text``, ask for a response, and return the events from response.created to response.done."""
    await conn.conversation.item.create(item=user_text(text))
    await conn.response.create()
    events = await collect(conn, is_type("response.done"))
    return events[types(events).index("response.created") :]


def folded(events: list) -> list[str]:
    """Event types with runs of streamed deltas folded (argument deltas as well as audio)."""
    return [name for name in squash(types(events)) if name != "response.mcp_call_arguments.delta"]


def test_session_update_lists_the_servers_tools(server: MockServer) -> None:
    practice = MCPServer(
        server_label="practice",
        server_url=PRACTICE_MCP_URL,
        allowed_tools=["convert_units", "get_current_time"],
        require_approval="never",
    )

    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(tools=[practice]))
            first = await barrier(conn)
            await conn.session.update(session=RequestSession(tools=[practice], instructions="Be brief."))
            return first, await barrier(conn)

    events, again = run(scenario())
    assert types(again) == ["session.updated"]  # the same server is not listed twice
    start = types(events).index("session.updated")
    assert types(events)[start:] == [
        "session.updated",
        "mcp_list_tools.in_progress",
        "conversation.item.created",
        "mcp_list_tools.completed",
    ]
    in_progress, created, completed = events[start + 1 :]
    assert isinstance(in_progress, ServerEventMcpListToolsInProgress)
    assert isinstance(completed, ServerEventMcpListToolsCompleted)
    item = created.item
    assert isinstance(item, ResponseMCPListToolItem)
    assert in_progress.item_id == completed.item_id == item.id
    assert item.server_label == "practice"
    assert all(isinstance(tool, MCPTool) for tool in item.tools)
    assert [tool.name for tool in item.tools] == ["get_current_time", "convert_units"]  # roll_dice is not allowed
    convert = item.tools[1]
    assert isinstance(convert.description, str) and "length" in convert.description
    assert convert.input_schema["required"] == ["value", "from_unit", "to_unit"]
    assert set(convert.input_schema["properties"]) == {"value", "from_unit", "to_unit"}


def test_a_call_without_approval_runs_and_the_answer_follows_in_the_same_response(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(tools=[NO_APPROVAL]))
            return await ask(conn, "Convert 10 kilometers to miles, please.")

    events = run(scenario())
    assert folded(events) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.created",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
        *RESPONSE_WITH_AUDIO[1:],
    ]
    names = types(events)
    assert names.index("response.mcp_call_arguments.delta") == 3
    added = events[1].item
    assert isinstance(added, ResponseMCPCallItem)
    assert added.server_label == "practice" and added.name == "convert_units" and added.arguments == ""
    args_done = next(e for e in events if isinstance(e, ServerEventResponseMcpCallArgumentsDone))
    streamed = "".join(e.delta for e in events if e.type == "response.mcp_call_arguments.delta")
    assert streamed == args_done.arguments
    assert json.loads(args_done.arguments) == {"value": 10, "from_unit": "km", "to_unit": "mi"}
    assert {e.item_id for e in events if e.type.startswith("response.mcp_call")} == {added.id}
    assert all(e.output_index == 0 for e in events if e.type.startswith("response.mcp_call"))

    call_done = events[names.index("response.output_item.done")]
    call = call_done.item
    assert isinstance(call, ResponseMCPCallItem) and call_done.output_index == 0
    assert call.error is None and call.approval_request_id is None
    assert json.loads(call.output)["result"] == 6.21

    answer_added = events[names.index("response.output_item.added", 2)]
    assert answer_added.output_index == 1 and answer_added.item.role == "assistant"
    done = events[-1].response
    assert done.status == "completed"
    assert [item.type for item in done.output] == ["mcp_call", "message"]
    assert "6.21 miles" in done.output[1].content[0].transcript


def test_approval_always_asks_first_and_an_approved_call_runs(server: MockServer) -> None:
    approving = MCPServer(server_label="practice", server_url=PRACTICE_MCP_URL, require_approval="always")

    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(modalities=["text"], tools=[approving]))
            asked = await ask(conn, "Convert 100 degrees Fahrenheit to Celsius")
            request = asked[1].item
            approval = MCPApprovalResponseRequestItem(approval_request_id=request.id, approve=True)
            await conn.conversation.item.create(item=approval)
            await conn.response.create()
            return asked, await collect(conn, is_type("response.done"))

    asked, answered = run(scenario())
    assert types(asked) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.created",
        "response.output_item.done",
        "response.done",
    ]
    request = asked[1].item
    assert isinstance(request, ResponseMCPApprovalRequestItem)
    assert request.name == "convert_units" and request.server_label == "practice"
    assert json.loads(request.arguments) == {"value": 100, "from_unit": "F", "to_unit": "C"}
    assert [item.type for item in asked[-1].response.output] == ["mcp_approval_request"]

    created = answered[0]
    assert created.type == "conversation.item.created"
    assert isinstance(created.item, ResponseMCPApprovalResponseItem)
    assert created.item.approve is True and created.item.approval_request_id == request.id
    assert "response.mcp_call.completed" in types(answered)
    call, message = answered[-1].response.output
    assert isinstance(call, ResponseMCPCallItem) and call.approval_request_id == request.id
    assert json.loads(call.output)["result"] == 37.78
    assert "37.78 degrees Celsius" in message.content[0].text


def test_a_denied_call_does_not_run_and_the_reply_says_so(server: MockServer) -> None:
    approving = MCPServer(server_label="practice", server_url=PRACTICE_MCP_URL)  # "always" is the default

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(modalities=["text"], tools=[approving]))
            asked = await ask(conn, "Convert 10 kilometers to miles")
            denial = MCPApprovalResponseRequestItem(approval_request_id=asked[1].item.id, approve=False)
            await conn.conversation.item.create(item=denial)
            await conn.response.create()
            return await collect(conn, is_type("response.done"))

    answered = run(scenario())
    assert not any(name.startswith("response.mcp_call") for name in types(answered))
    output = answered[-1].response.output
    assert [item.type for item in output] == ["message"]
    assert "did not allow convert units" in output[0].content[0].text


def test_per_tool_approval_and_the_standalone_approval_event(server: MockServer) -> None:
    mixed = MCPServer(
        server_label="practice", server_url=PRACTICE_MCP_URL, require_approval={"never": ["get_current_time"]}
    )

    async def scenario() -> tuple[list, list, list]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(modalities=["text"], tools=[mixed]))
            time_asked = await ask(conn, "What time is it in Tokyo?")
            dice_asked = await ask(conn, "Roll two dice")
            request_id = dice_asked[1].item.id
            await conn.send({"type": "mcp_approval_response", "approval_request_id": request_id, "approve": True})
            await conn.response.create()
            return time_asked, dice_asked, await collect(conn, is_type("response.done"))

    time_asked, dice_asked, rolled = run(scenario())
    time_call = time_asked[-1].response.output[0]
    assert isinstance(time_call, ResponseMCPCallItem) and time_call.name == "get_current_time"
    assert json.loads(time_call.arguments) == {"timezone": "Tokyo"}
    assert json.loads(time_call.output)["timezone"] == "Asia/Tokyo"
    assert time_asked[-1].response.output[1].content[0].text.startswith("In Tokyo it is ")

    assert isinstance(dice_asked[1].item, ResponseMCPApprovalRequestItem) and dice_asked[1].item.name == "roll_dice"
    assert isinstance(rolled[0].item, ResponseMCPApprovalResponseItem) and rolled[0].item.approve is True
    dice_call = rolled[-1].response.output[0]
    assert dice_call.approval_request_id == dice_asked[1].item.id
    assert len(json.loads(dice_call.output)["rolls"]) == 2


def test_an_unreachable_server_fails_its_listing_and_the_session_goes_on(server: MockServer) -> None:
    remote = MCPServer(server_label="docs", server_url="https://learn.microsoft.com/api/mcp", require_approval="never")

    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(modalities=["text"], tools=[remote]))
            listing = await barrier(conn)
            return listing, await ask(conn, "Convert 10 kilometers to miles")

    listing, answered = run(scenario())
    start = types(listing).index("mcp_list_tools.in_progress")
    assert types(listing)[start:] == [
        "mcp_list_tools.in_progress",
        "conversation.item.created",
        "mcp_list_tools.failed",
    ]
    failed = listing[-1]
    assert isinstance(failed, ServerEventMcpListToolsFailed) and failed.item_id == listing[start].item_id
    item = listing[start + 1].item
    assert isinstance(item, ResponseMCPListToolItem) and item.server_label == "docs" and item.tools == []
    assert "learn.microsoft.com" in item["error"]["message"]
    assert not any(name.startswith("response.mcp_call") for name in types(answered))
    assert answered[-1].response.status == "completed"
    assert [item.type for item in answered[-1].response.output] == ["message"]


def test_a_failing_call_reports_its_error_and_the_answer_apologises(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(tools=[NO_APPROVAL]))
            return await ask(conn, "Convert 10 parsecs to miles")

    events = run(scenario())
    names = types(events)
    assert "response.mcp_call.failed" in names and "response.mcp_call.completed" not in names
    assert names.index("response.mcp_call.in_progress") < names.index("response.mcp_call.failed")
    call, message = events[-1].response.output
    assert isinstance(call, ResponseMCPCallItem) and call.output is None
    assert call.error["type"] == "tool_execution_error" and "parsecs" in call.error["message"]
    spoken = message.content[0].transcript
    assert spoken.startswith("Sorry, convert units did not work") and "parsecs" in spoken
    assert events[-1].response.status == "completed"


def test_function_tools_and_mcp_tools_each_answer_the_words_that_fit_them(server: MockServer) -> None:
    async def scenario() -> tuple[list, list]:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(modalities=["text"], tools=[WEATHER, NO_APPROVAL]))
            return await ask(conn, "What is the weather in Paris?"), await ask(conn, "Convert 5 kg into pounds")

    weather, conversion = run(scenario())
    assert weather[-1].response.output[0].type == "function_call"
    assert weather[-1].response.output[0].name == "get_weather"
    assert [item.type for item in conversion[-1].response.output] == ["mcp_call", "message"]
    assert "11.02 pounds" in conversion[-1].response.output[1].content[0].text


def test_invalid_mcp_settings_and_approval_answers_are_refused(server: MockServer) -> None:
    async def scenario() -> list:
        async with session(server) as conn:
            bad_url = {"type": "mcp", "server_label": "x", "server_url": "ftp://practice-mcp.local"}
            bad_approval = {"type": "mcp", "server_label": "x", "server_url": PRACTICE_MCP_URL, "require_approval": 1}
            twice = [NO_APPROVAL.as_dict(), NO_APPROVAL.as_dict()]
            for tools in ([bad_url], [bad_approval], twice):
                await conn.send({"type": "session.update", "session": {"tools": tools}})
            unknown = MCPApprovalResponseRequestItem(approval_request_id="item_nope", approve=True)
            await conn.conversation.item.create(item=unknown)
            await conn.send({"type": "conversation.item.create", "item": {"type": "mcp_approval_response"}})
            return [event for event in await barrier(conn) if event.type == "error"]

    errors = run(scenario())
    assert [(e.error.code, e.error.param) for e in errors] == [
        ("invalid_value", "session.tools[0].server_url"),
        ("invalid_value", "session.tools[0].require_approval"),
        ("invalid_value", "session.tools[1].server_label"),
        ("invalid_value", "item.approval_request_id"),
        ("missing_required_parameter", "item.approval_request_id"),
    ]
    assert all(e.error.type == "invalid_request_error" for e in errors)


def test_an_approval_request_is_answered_once(server: MockServer) -> None:
    approving = MCPServer(server_label="practice", server_url=PRACTICE_MCP_URL, require_approval="always")

    async def scenario() -> list:
        async with session(server) as conn:
            await conn.session.update(session=RequestSession(modalities=["text"], tools=[approving]))
            asked = await ask(conn, "Convert 10 kilometers to miles")
            for approve in (False, True):
                answer = MCPApprovalResponseRequestItem(approval_request_id=asked[1].item.id, approve=approve)
                await conn.conversation.item.create(item=answer)
            return await barrier(conn)

    events = run(scenario())
    assert types(events) == ["conversation.item.created", "error"]
    assert events[1].error.param == "item.approval_request_id" and "already been answered" in events[1].error.message

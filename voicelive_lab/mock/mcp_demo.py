"""The practice MCP server: a few offline tools, served for any server URL whose host names "practice".

A real Voice Live service reaches remote MCP servers over the network; the practice service has none, so it answers
for one built-in server instead (for example ``http://practice-mcp.local/mcp``) and reports every other URL as
unreachable. Each tool also knows how a model would fill in its arguments from the user's words and put its result
into a sentence, because the practice service plays the model too.

The module is a little over 350 lines: three tools, each with what a model would hear in a request, the tool
itself and the sentence it says, kept side by side so that one tool reads from top to bottom.
"""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .tools import NUMBER_WORDS

PRACTICE_MCP_URL = "http://practice-mcp.local/mcp"
PRACTICE_HOST_WORD = "practice"

CITY_ZONES = {
    "paris": "Europe/Paris",
    "seattle": "America/Los_Angeles",
    "london": "Europe/London",
    "tokyo": "Asia/Tokyo",
    "berlin": "Europe/Berlin",
    "rome": "Europe/Rome",
    "new york": "America/New_York",
    "sydney": "Australia/Sydney",
    "madrid": "Europe/Madrid",
    "chicago": "America/Chicago",
    "utc": "UTC",
}
METERS_PER_UNIT = {"km": 1000.0, "mi": 1609.344, "m": 1.0, "ft": 0.3048}
KILOGRAMS_PER_UNIT = {"kg": 1.0, "lb": 0.45359237}
TEMPERATURE_UNITS = ("C", "F")
UNIT_ALIASES = {
    **dict.fromkeys(("km", "kilometer", "kilometers", "kilometre", "kilometres"), "km"),
    **dict.fromkeys(("mi", "mile", "miles"), "mi"),
    **dict.fromkeys(("m", "meter", "meters", "metre", "metres"), "m"),
    **dict.fromkeys(("ft", "foot", "feet"), "ft"),
    **dict.fromkeys(("kg", "kilo", "kilos", "kilogram", "kilograms"), "kg"),
    **dict.fromkeys(("lb", "lbs", "pound", "pounds"), "lb"),
    **dict.fromkeys(("c", "celsius", "centigrade"), "C"),
    **dict.fromkeys(("f", "fahrenheit"), "F"),
}
UNIT_NAMES = {
    "km": ("kilometer", "kilometers"),
    "mi": ("mile", "miles"),
    "m": ("meter", "meters"),
    "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"),
    "lb": ("pound", "pounds"),
    "C": ("degree Celsius", "degrees Celsius"),
    "F": ("degree Fahrenheit", "degrees Fahrenheit"),
}
#: Words between a number and its unit that name no unit: "100 degrees Fahrenheit".
UNIT_FILLERS = frozenset({"degree", "degrees"})
MAX_DICE, MAX_SIDES = 20, 1000


class McpServerUnreachable(Exception):
    """The server URL cannot be reached (from the practice service: any host but the practice one)."""


class McpToolFailed(Exception):
    """The server ran the tool and it failed: bad arguments, an unknown tool."""


@dataclass(frozen=True)
class DemoTool:
    name: str
    description: str
    input_schema: dict[str, Any]
    #: The server's side: arguments in, a JSON-ready result out (or McpToolFailed).
    run: Callable[[dict[str, Any]], dict[str, Any]]
    #: The model's side: the arguments it would write for the user's words, and the result put into a sentence.
    read_request: Callable[[str], dict[str, Any]]
    describe: Callable[[dict[str, Any]], str]

    def listing(self) -> dict[str, Any]:
        """The tool as ``tools/list`` reports it (an ``MCPTool``)."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "annotations": {"readOnlyHint": True},
        }


def serves(server_url: str) -> bool:
    """True for the URLs the practice server answers: http(s) with a host that contains "practice"."""
    parsed = urlparse(server_url)
    return parsed.scheme in ("http", "https") and PRACTICE_HOST_WORD in (parsed.hostname or "").lower()


def list_tools(server_url: str, allowed_tools: list[str] | None = None) -> list[dict[str, Any]]:
    """The server's tools (only ``allowed_tools`` when given), or McpServerUnreachable."""
    _reach(server_url)
    return [tool.listing() for tool in TOOLS.values() if allowed_tools is None or tool.name in allowed_tools]


#: Requests the recognizer should expect when a session uses the demo server (spoken numbers as words).
SPOKEN_REQUESTS = (
    "What time is it?",
    "What time is it in Tokyo?",
    "What is the time in London?",
    "Convert ten kilometers to miles.",
    "How many pounds is five kilograms?",
    "Convert one hundred feet to meters.",
    "What is twenty degrees Celsius in Fahrenheit?",
    "Roll a dice.",
    "Roll two dice.",
)


def spoken_requests(tools: list[Any]) -> tuple[str, ...]:
    """The demo server's likely requests, when one of the session's MCP tools points at it."""
    uses_demo = any(
        isinstance(tool, dict) and tool.get("type") == "mcp" and serves(str(tool.get("server_url") or ""))
        for tool in tools
    )
    return SPOKEN_REQUESTS if uses_demo else ()


def call_tool(server_url: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run tool ``name``: its result, or McpServerUnreachable / McpToolFailed."""
    _reach(server_url)
    tool = TOOLS.get(name)
    if tool is None:
        raise McpToolFailed(f"The practice MCP server has no tool named '{name}'.")
    return tool.run(arguments)


def _reach(server_url: str) -> None:
    if not serves(server_url):
        raise McpServerUnreachable(
            f"Could not connect to the MCP server at '{server_url}'. The practice service works offline and "
            f"serves only its built-in MCP server, at any http(s) URL whose host contains "
            f"'{PRACTICE_HOST_WORD}', such as {PRACTICE_MCP_URL}."
        )


# ----------------------------------------------------------------- get_current_time


def _time_request(heard: str) -> dict[str, Any]:
    text = heard.lower()
    city = next((city for city in CITY_ZONES if re.search(rf"\b{city}\b", text)), None)
    if city is not None:
        return {"timezone": city.title() if city != "utc" else "UTC"}
    zone = re.search(r"\b[A-Za-z_]+/[A-Za-z_]+\b", heard)
    return {"timezone": zone.group()} if zone else {}


def _current_time(arguments: dict[str, Any]) -> dict[str, Any]:
    requested = arguments.get("timezone", "UTC")
    if not isinstance(requested, str):
        raise McpToolFailed("'timezone' must be a string such as 'Europe/Paris' or 'Tokyo'.")
    name = CITY_ZONES.get(requested.strip().lower(), requested.strip())
    try:
        zone: datetime.tzinfo = datetime.timezone.utc if name.upper() == "UTC" else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise McpToolFailed(f"Unknown time zone '{requested}'; use a name such as 'Europe/Paris'.") from None
    now = datetime.datetime.now(zone)
    return {
        "timezone": "UTC" if name.upper() == "UTC" else name,
        "time": now.strftime("%H:%M"),
        "date": now.date().isoformat(),
        "weekday": now.strftime("%A"),
    }


def _say_time(result: dict[str, Any]) -> str:
    place = str(result["timezone"]).rsplit("/", 1)[-1].replace("_", " ")
    return f"In {place} it is {result['time']} on {result['weekday']}."


# ----------------------------------------------------------------- convert_units


def _conversion_request(heard: str) -> dict[str, Any]:
    """The arguments for "convert 10 kilometers to miles": 10, "km", "mi" (unknown units stay as said)."""
    tokens = re.findall(r"-?\d+(?:\.\d+)?|[^\W\d_]+", _digits(heard.lower()))
    number_at = next((index for index, token in enumerate(tokens) if _is_number(token)), None)
    if number_at is None:
        return {"value": 1, **_units_in(tokens)}
    after = [token for token in tokens[number_at + 1 :] if token not in UNIT_FILLERS]
    request: dict[str, Any] = {"value": _as_number(tokens[number_at])}
    if after:
        request["from_unit"] = UNIT_ALIASES.get(after[0], after[0])
    target = next((index for index, token in enumerate(after) if token in ("to", "into", "in")), None)
    rest = [token for token in after[target + 1 :] if token not in UNIT_FILLERS] if target is not None else []
    if rest:
        request["to_unit"] = UNIT_ALIASES.get(rest[0], rest[0])
    else:  # "how many miles is 10 kilometers": the unit asked for comes first
        before = [UNIT_ALIASES[token] for token in tokens[:number_at] if token in UNIT_ALIASES]
        if before:
            request["to_unit"] = before[0]
    return request


def _units_in(tokens: list[str]) -> dict[str, Any]:
    units = [UNIT_ALIASES[token] for token in tokens if token in UNIT_ALIASES]
    return dict(zip(("from_unit", "to_unit"), units[:2], strict=False))


def _convert(arguments: dict[str, Any]) -> dict[str, Any]:
    value = arguments.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise McpToolFailed("'value' must be a number.")
    source, target = _unit(arguments.get("from_unit"), "from_unit"), _unit(arguments.get("to_unit"), "to_unit")
    if source == target:
        result = float(value)
    elif source in METERS_PER_UNIT and target in METERS_PER_UNIT:
        result = value * METERS_PER_UNIT[source] / METERS_PER_UNIT[target]
    elif source in KILOGRAMS_PER_UNIT and target in KILOGRAMS_PER_UNIT:
        result = value * KILOGRAMS_PER_UNIT[source] / KILOGRAMS_PER_UNIT[target]
    elif source in TEMPERATURE_UNITS and target in TEMPERATURE_UNITS:
        result = value * 9 / 5 + 32 if source == "C" else (value - 32) * 5 / 9
    else:
        raise McpToolFailed(f"Cannot convert {source} to {target}: they measure different things.")
    return {"value": value, "from_unit": source, "to_unit": target, "result": round(result, 2)}


def _unit(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise McpToolFailed(f"'{field}' must name a unit: km, mi, m, ft, kg, lb, C or F.")
    unit = UNIT_ALIASES.get(value.strip().lower())
    if unit is None:
        raise McpToolFailed(f"Unknown unit '{value}': use km, mi, m, ft, kg, lb, C or F.")
    return unit


def _say_conversion(result: dict[str, Any]) -> str:
    value, converted = result["value"], result["result"]
    return (
        f"{_number(value)} {_unit_name(result['from_unit'], value)} is "
        f"{_number(converted)} {_unit_name(result['to_unit'], converted)}."
    )


def _unit_name(unit: str, amount: float) -> str:
    singular, plural = UNIT_NAMES[unit]
    return singular if amount == 1 else plural


# ----------------------------------------------------------------- roll_dice


def _dice_request(heard: str) -> dict[str, Any]:
    text = _digits(heard.lower())
    request: dict[str, Any] = {}
    sides = re.search(r"(\d+)[- ]?sided|\bd(\d+)\b|(\d+) sides", text)
    if sides:
        request["sides"] = int(next(group for group in sides.groups() if group))
    count = re.search(r"(\d+) (?:\w+[- ]sided |\w+ )?dic?e\b", text)
    if count:
        request["count"] = int(count.group(1))
    return request


def _roll(arguments: dict[str, Any]) -> dict[str, Any]:
    count, sides = arguments.get("count", 1), arguments.get("sides", 6)
    for name, value, low, high in (("count", count, 1, MAX_DICE), ("sides", sides, 2, MAX_SIDES)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise McpToolFailed(f"'{name}' must be a whole number from {low} to {high}.")
    rolls = [random.Random(f"{count}d{sides}:{index}").randint(1, sides) for index in range(count)]
    return {"count": count, "sides": sides, "rolls": rolls, "total": sum(rolls)}


def _say_roll(result: dict[str, Any]) -> str:
    rolls = [str(roll) for roll in result["rolls"]]
    if len(rolls) == 1:
        return f"You rolled a {rolls[0]}."
    return f"You rolled {', '.join(rolls[:-1])} and {rolls[-1]}: {result['total']} in total."


# ----------------------------------------------------------------- shared


def _digits(text: str) -> str:
    """Number words as digits: "roll two dice" → "roll 2 dice"."""
    return re.sub(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", lambda match: str(NUMBER_WORDS[match.group()]), text)


def _is_number(token: str) -> bool:
    return re.fullmatch(r"-?\d+(?:\.\d+)?", token) is not None


def _as_number(token: str) -> int | float:
    number = float(token)
    return int(number) if number.is_integer() else number


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


TOOLS = {
    tool.name: tool
    for tool in (
        DemoTool(
            name="get_current_time",
            description="Tells the current time and date in a time zone or city.",
            input_schema={
                "type": "object",
                "properties": {
                    "timezone": {
                        "type": "string",
                        "description": "An IANA time zone such as 'Europe/Paris', or a city; UTC when left out.",
                    }
                },
            },
            run=_current_time,
            read_request=_time_request,
            describe=_say_time,
        ),
        DemoTool(
            name="convert_units",
            description="Converts a value between units of length (km, mi, m, ft), mass (kg, lb) or temperature "
            "(C, F).",
            input_schema={
                "type": "object",
                "properties": {
                    "value": {"type": "number", "description": "The amount to convert."},
                    "from_unit": {
                        "type": "string",
                        "description": "The unit of the value: km, mi, m, ft, kg, lb, C, F.",
                    },
                    "to_unit": {"type": "string", "description": "The unit wanted: km, mi, m, ft, kg, lb, C, F."},
                },
                "required": ["value", "from_unit", "to_unit"],
            },
            run=_convert,
            read_request=_conversion_request,
            describe=_say_conversion,
        ),
        DemoTool(
            name="roll_dice",
            description="Rolls dice; the same request always rolls the same numbers.",
            input_schema={
                "type": "object",
                "properties": {
                    "count": {"type": "integer", "minimum": 1, "maximum": MAX_DICE, "default": 1},
                    "sides": {"type": "integer", "minimum": 2, "maximum": MAX_SIDES, "default": 6},
                },
            },
            run=_roll,
            read_request=_dice_request,
            describe=_say_roll,
        ),
    )
}

"""The offline practice service: a local Voice Live WebSocket server for the real SDK to talk to.

It knows nothing of the kit's client side and could ship on its own.
"""

from .faults import Faults
from .replies import ReplyScript, ScriptedTurn, ScriptError
from .server import MockServer

__all__ = ["Faults", "MockServer", "ReplyScript", "ScriptError", "ScriptedTurn"]

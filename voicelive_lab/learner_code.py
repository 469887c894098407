"""Point at the learner's own code: which frames are theirs, their line as they see it, and a hint per mistake.

A learner's code lives in notebook cells (or, outside Jupyter, in files that are not part of this kit, the
standard library or an installed package). Messages name the cell as IPython does (``Cell In[5], line 12``)
and quote the line, so the learner can find it without reading a traceback through the kit's frames.
"""

from __future__ import annotations

import asyncio
import linecache
import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

import aiohttp
from azure.core.exceptions import AzureError

KIT_DIR = str(Path(__file__).resolve().parent)
_LIBRARY_DIRS = tuple(
    {str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib") if (p := sysconfig.get_path(key))}
)
#: What each name is and where it comes from, for NameError and AttributeError hints.
IMPORTED_AT_START = (
    "connect",
    "RequestSession",
    "ServerVad",
    "AzureStandardVoice",
    "Modality",
    "InputAudioFormat",
    "OutputAudioFormat",
)
SET_BY_INIT = (
    "endpoint",
    "credential",
    "model",
    "voice",
    "instructions",
    "connection",
    "_response_cancelled",
    "_stopping",
    "state_callback",
)
LOCAL_TO_START = ("conn", "voice_cfg", "verbose")
FROM_SETUP_CELL = ("_broadcast", "assistant_state", "base64", "os", "explain_failure")
MAX_LINE_SHOWN = 100


def is_connection_error(error: BaseException) -> bool:
    """A failure of the network, the service or the credential, as opposed to a bug in the code."""
    return isinstance(error, (AzureError, aiohttp.ClientError, OSError, asyncio.TimeoutError))


def is_learner_file(filename: str) -> bool:
    if _cell_label(filename) is not None or filename.startswith("<ipython-input"):
        return True
    if filename.startswith("<"):
        return False
    path = str(Path(filename).resolve())
    return not path.startswith(KIT_DIR) and not any(path.startswith(d) for d in _LIBRARY_DIRS)


@dataclass(frozen=True)
class CodeLine:
    """One line of the learner's code: where it is (as the learner sees it), and its text."""

    filename: str
    lineno: int
    function: str
    text: str

    @property
    def where(self) -> str:
        label = _cell_label(self.filename)
        return f"{label}, line {self.lineno}" if label else f"{Path(self.filename).name}, line {self.lineno}"

    def __str__(self) -> str:
        text = self.text if len(self.text) <= MAX_LINE_SHOWN else self.text[: MAX_LINE_SHOWN - 1] + "…"
        inside = f", in {self.function}" if self.function else ""
        return f"{self.where}{inside}: `{text}`"


def _cell_label(filename: str) -> str | None:
    """``Cell In[5]`` for a notebook cell IPython compiled, else None."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency, but keep this usable without it
        return None
    shell = get_ipython()
    number = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)
    return None if number is None else f"Cell In[{number}]"


def code_line(filename: str, lineno: int, function: str) -> CodeLine:
    """The learner's line ``lineno`` of ``filename``, with its text."""
    return CodeLine(filename, lineno, function, linecache.getline(filename, lineno).strip())


def learner_line_of(error: BaseException) -> CodeLine | None:
    """The innermost line of the learner's code in the error's traceback (following ``raise … from``)."""
    current: BaseException | None = error
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines = [
            code_line(frame.filename, frame.lineno or 0, frame.name)
            for frame in traceback.extract_tb(current.__traceback__)
            if is_learner_file(frame.filename)
        ]
        if lines:
            return lines[-1]
        current = current.__cause__ or current.__context__
    return None


def definition_of(function: object) -> CodeLine | None:
    """The ``def`` line of a function the learner wrote (None for the kit's or a library's)."""
    code = getattr(function, "__code__", None)
    if code is None or not is_learner_file(code.co_filename):
        return None
    return code_line(code.co_filename, code.co_firstlineno, code.co_name)


def learner_line_in_stack(frames: list[FrameType]) -> CodeLine | None:
    """The innermost learner line among live frames (outermost first), e.g. where a task is waiting."""
    for frame in reversed(frames):
        if is_learner_file(frame.f_code.co_filename):
            return code_line(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
    return None


def frames_of(tb_or_frame: FrameType | TracebackType | None) -> list[FrameType]:
    """A live stack (outermost first) from its innermost frame."""
    frames: list[FrameType] = []
    frame = tb_or_frame.tb_frame if isinstance(tb_or_frame, TracebackType) else tb_or_frame
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames[::-1]


def hint_for(error: BaseException) -> str:
    """What usually causes this exception in the lab's class, and what to do."""
    if isinstance(error, NotImplementedError):
        return "that method is still the exercise's stub: replace it with your code (its message says what to write)."
    if isinstance(error, NameError):
        name = getattr(error, "name", None) or ""
        if name in IMPORTED_AT_START:
            return (
                f"`{name}` is imported at the head of start() (section 1: `from azure.ai.voicelive.aio import "
                "connect` and `from azure.ai.voicelive.models import (...)`). Is that import missing?"
            )
        if name in LOCAL_TO_START:
            return (
                f"`{name}` exists only inside start(), around the session-configuration markers: paste section 2 "
                "there (16 spaces in), not elsewhere in the class."
            )
        if name in FROM_SETUP_CELL:
            return f"`{name}` comes from the setup cell at the top of the notebook: run it, then this cell again."
        return f"`{name}` is not defined where it is used: a typo, or a missing import?"
    if isinstance(error, AttributeError):
        name = getattr(error, "name", None) or ""
        if name in SET_BY_INIT:
            return f"`self.{name}` is set by the lab's __init__ (section 1): check that __init__ stores it."
        if name.isupper():
            return (
                f"there is no `{name}`: check the spelling against the SDK (e.g. ServerEventType.RESPONSE_AUDIO_DELTA)."
            )
        return f"nothing called `{name}` exists there: check the spelling, or whether that attribute was ever set."
    if isinstance(error, TypeError) and "can't be used in 'await' expression" in str(error):
        return "only coroutines can be awaited: state_callback and _broadcast are plain functions; drop the await."
    if isinstance(error, TypeError):
        return "check the call on that line: the number and names of its arguments."
    return "read the line above: that is where your code raised the error."


def describe_code_error(error: BaseException) -> str:
    """One paragraph: the exception, the learner's line that raised it, and a hint."""
    if type(error).__name__ == "LoopBlocked":
        return str(error)  # already says where and what to do
    if type(error).__name__ == "BroadcastFormatError":
        head = f"_broadcast could not use your message: {error}"
    else:
        head = f"Your code raised {type(error).__name__}: {error}"
    line = learner_line_of(error)
    where = f" ({line})" if line is not None else ""
    hint = "" if type(error).__name__ == "BroadcastFormatError" else f" Hint: {hint_for(error)}"
    return f"{head}{where}.{hint}"

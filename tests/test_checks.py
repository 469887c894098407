"""The section checks, outside a notebook: the kit's own class passes every check when it is the learner's
code; a check that runs out of time says so and never passes; verdicts render as a few lines, not a
traceback; and the cells below a check wait for it to pass."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from voicelive_lab import checks, verdicts
from voicelive_lab.checks import CheckFailed, SectionNotDone, check_section_1, check_section_2, check_section_3

ROOT = Path(__file__).resolve().parent.parent
SETUP = (
    "import asyncio\nimport base64\nimport os\n\n"
    "from voicelive_lab.lab_app import _broadcast, assistant_state, explain_failure\n\n\n"
)


def learners_module(tmp_path: Path, name: str, extra: str = "") -> ModuleType:
    """The kit's class, written out as a learner's own file (checks grade only the learner's code)."""
    source = (ROOT / "voicelive_lab" / "assistant.py").read_text()
    text = SETUP + source[source.index("class BasicVoiceAssistant") :] + extra
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def learners(tmp_path: Path) -> ModuleType:
    return learners_module(tmp_path, "learner_reference")


def test_the_kits_class_as_a_learners_passes_every_check_and_opens_the_cells_below(learners: ModuleType) -> None:
    for section in (1, 2, 3):
        verdicts.forget(section)
    with pytest.raises(SectionNotDone) as waiting:
        checks.require_check(3)
    assert waiting.value._render_traceback_() == [
        "⏭  Finish section 3 (handle session events) first: its check above has not passed yet."
    ]
    for number, check in enumerate((check_section_1, check_section_2, check_section_3), start=1):
        passed = check(learners.BasicVoiceAssistant)
        assert repr(passed).startswith(f"✅ Section {number}") and "color:#1a7f37" in passed._repr_html_()
        assert passed.tips == (), "the kit's class gets no tips"
        checks.require_check(number)
    globals()["BasicVoiceAssistant"] = type("BasicVoiceAssistant", (), {})  # the class cell was run again, edited
    try:
        with pytest.raises(SectionNotDone, match="changed since its check passed"):
            checks.require_check(3)
    finally:
        del globals()["BasicVoiceAssistant"]


def test_the_kits_own_module_is_not_the_learners_code() -> None:
    from voicelive_lab.assistant import BasicVoiceAssistant

    with pytest.raises(CheckFailed, match="has its own `__init__`"):
        check_section_1(BasicVoiceAssistant)


def test_a_check_that_runs_out_of_time_says_so_and_never_passes(tmp_path: Path, monkeypatch: Any) -> None:
    slow = learners_module(
        tmp_path,
        "learner_slow",
        "\n\nclass Slow(BasicVoiceAssistant):\n"
        "    async def _handle_session_updated(self):\n"
        "        await asyncio.sleep(3)\n"
        "        await super()._handle_session_updated()\n",
    )
    monkeypatch.setattr(checks, "VERDICT_S", checks.MARGIN_S + 1.0)
    monkeypatch.setattr(checks, "SECTION_METHODS", {1: ("_handle_session_updated",)})  # what Slow writes itself
    with pytest.raises(CheckFailed) as failure:
        check_section_1(slow.Slow)
    message = str(failure.value)
    assert "ran out of time" in message and "cannot say the section works" in message
    assert 1 not in verdicts._passed


def test_a_practice_service_slow_to_answer_is_not_blamed_on_the_learners_handler(
    learners: ModuleType, monkeypatch: Any
) -> None:
    """On a loaded machine the reply can come late: the verdict must say it could not see it, not "your code"."""
    from voicelive_lab.mock.reply_planner import ReplyPlanner

    answer = ReplyPlanner.plan

    async def late_plan(self: ReplyPlanner, params: dict, settings: dict):  # type: ignore[no-untyped-def]
        await asyncio.sleep(30)
        return await answer(self, params, settings)

    monkeypatch.setattr(ReplyPlanner, "plan", late_plan)
    with pytest.raises(CheckFailed) as failure:
        check_section_3(learners.BasicVoiceAssistant)
    message = str(failure.value)
    assert "ran out of time" in message and "practice service's reply" in message, message


def test_a_failure_renders_as_its_lines_alone_and_long_text_is_cut() -> None:
    failure = CheckFailed(2, "x" * 1000, "it\nbroke", "fix it", where="Cell In[3], line 4")
    shown = failure._render_traceback_()
    assert shown[0] == "❌ Section 2 (configure the session) is not there yet."
    assert [line.split(":")[0].strip() for line in shown[1:]] == ["Expected", "Happened", "Where", "Hint"]
    assert len(shown[1]) < 450 and shown[1].endswith("…")
    assert shown[2] == "  Happened: it broke"

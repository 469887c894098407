"""For nbval: a failed notebook cell shows what it printed (a hook here, at the root, reaches notebooks/ too)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A notebook cell that failed under nbval: show what it printed (an unexpected stderr says only "stderr")."""
    outcome = yield
    report = outcome.get_result()
    outputs = getattr(item, "test_outputs", None)
    if report.failed and outputs:
        streams = [f"[{o.get('name')}] {o.get('text', '')}" for o in outputs if o.get("output_type") == "stream"]
        if streams:
            report.sections.append(("what the cell printed", "".join(streams)[-4000:]))

"""Fixtures: practice servers for the tests; the practice backend for notebooks run by nbval."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from voicelive_lab.mock import MockServer

TEST_KEY = "test-key-0123456789abcdef"


def pytest_configure(config: pytest.Config) -> None:
    # nbval kernels are separate processes: they see only the environment set before they start.
    os.environ["VOICELIVE_LAB_BACKEND"] = "practice"


@pytest.fixture
def make_server() -> Iterator[Callable[..., MockServer]]:
    """Start practice servers with chosen options; all are stopped after the test."""
    started: list[MockServer] = []

    def start(**options: Any) -> MockServer:
        options.setdefault("api_key", TEST_KEY)
        server = MockServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., MockServer]) -> MockServer:
    """A practice server that streams replies as fast as it can."""
    return make_server(speed=math.inf, first_audio_delay_ms=0)

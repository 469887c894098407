"""ByteQueue (the one bounded byte FIFO the audio parts share) and Pacer (the one device-like clock)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicelive_lab.audio import pacer as pacer_module
from voicelive_lab.audio.byte_queue import ByteQueue
from voicelive_lab.audio.pacer import Pacer

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.binary(max_size=50)),
        st.tuples(st.just("read"), st.integers(0, 60)),
        st.tuples(st.just("drop"), st.integers(0, 60)),
        st.tuples(st.just("peek"), st.none()),
    ),
    max_size=40,
)


@given(operations, st.sampled_from([None, 16, 64]), st.sampled_from([1, 2]))
def test_the_queue_behaves_as_one_bytes_string_cut_from_the_front(
    ops: list[tuple[str, Any]], max_bytes: int | None, unit: int
) -> None:
    queue, model = ByteQueue(max_bytes, unit), b""
    for op, arg in ops:
        if op == "append":
            dropped = queue.append(arg)
            model += arg
            cut = 0 if max_bytes is None or len(model) <= max_bytes else len(model) - max_bytes
            cut += -cut % unit
            assert dropped == cut, "the oldest bytes go, in whole units"
            model = model[cut:]
        elif op == "read":
            out = bytearray(arg)
            copied = queue.read_into(memoryview(out))
            assert bytes(out[:copied]) == model[:copied] and copied == min(arg, len(model))
            model = model[copied:]
        elif op == "drop":
            assert queue.drop(arg) == min(arg, len(model))
            model = model[arg:]
        else:
            assert queue.peek_all() == model
        assert len(queue) == len(model)
    assert queue.take_all() == model and len(queue) == 0


def test_a_bound_that_is_not_whole_units_is_rounded_down_and_a_zero_bound_refused() -> None:
    queue = ByteQueue(7, unit=2)
    assert queue.max_bytes == 6
    assert queue.append(b"\x01" * 9) == 4 and len(queue) == 5
    with pytest.raises(ValueError):
        ByteQueue(1, unit=2)


def test_the_pacer_ticks_on_a_fixed_grid_and_stops_at_once() -> None:
    stop = threading.Event()
    pacer = Pacer(0.01, stop)
    dues = [pacer.wait() for _ in range(5)]
    assert all(due is not None for due in dues)
    steps = [round(b - a, 6) for a, b in itertools.pairwise(dues) if a is not None and b is not None]
    assert steps == [0.01] * 4, "ticks are due at start + n * period, whatever each wait took"
    stop.set()
    assert pacer.wait() is None


def test_a_pacer_that_falls_far_behind_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacer_module, "MAX_CATCH_UP_S", 0.05)
    pacer = Pacer(0.01, threading.Event())
    first = pacer.wait()
    time.sleep(0.2)  # a stall of 20 periods
    stalled = pacer.wait()
    after = pacer.wait()
    assert first is not None and stalled is not None and after is not None
    assert after - stalled > 0.1, "the missed ticks are not rushed through: the next is due from now"

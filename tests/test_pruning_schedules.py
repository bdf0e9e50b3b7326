"""Schedules: known values of the cubic and one-shot schedules, and the pruning events they produce."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.pruning.schedules import (
    PruneEvent,
    cubic_sparsity,
    intermediate_targets,
    movement_sparsity,
    movement_threshold,
    oneshot_sparsity,
    pruning_events,
)


def test_cubic_known_values():
    # s_i = 0, s_f = 0.9, n*dt = 10: at t = 5, 0.9 * (1 - (1 - 0.5)^3) = 0.9 * 0.875 = 0.7875
    assert cubic_sparsity(5, initial=0.0, final=0.9, start_step=0, span_steps=10) == pytest.approx(0.7875, abs=1e-12)
    assert cubic_sparsity(0, initial=0.0, final=0.9, start_step=0, span_steps=10) == 0.0
    assert cubic_sparsity(10, initial=0.0, final=0.9, start_step=0, span_steps=10) == pytest.approx(0.9)
    # t0 = 2 shifts the curve
    assert cubic_sparsity(7, initial=0.0, final=0.9, start_step=2, span_steps=10) == pytest.approx(0.7875, abs=1e-12)
    # s_i = 0.7 -> s_f = 0.8 over 300 steps, at t = 100: 0.8 - 0.1 * (2/3)^3 = 0.8 - 0.8/27
    assert cubic_sparsity(100, initial=0.7, final=0.8, start_step=0, span_steps=300) == pytest.approx(0.8 - 0.8 / 27, abs=1e-12)


def test_cubic_is_clamped_outside_its_span():
    assert cubic_sparsity(-3, initial=0.2, final=0.9, start_step=0, span_steps=10) == 0.2
    assert cubic_sparsity(25, initial=0.2, final=0.9, start_step=0, span_steps=10) == pytest.approx(0.9)


def test_oneshot():
    assert oneshot_sparsity(4, final=0.9, start_step=5) == 0.0
    assert oneshot_sparsity(5, final=0.9, start_step=5) == 0.9
    assert oneshot_sparsity(50, final=0.9, start_step=5) == 0.9


def test_cubic_events_every_dt_and_last_reaches_final():
    events = pruning_events("cubic", final=0.9, initial=0.0, start_step=0, span_steps=10, prune_every=5)
    assert [e.step for e in events] == [0, 5, 10]
    assert [e.sparsity for e in events] == pytest.approx([0.0, 0.7875, 0.9])
    events = pruning_events("cubic", final=0.9, start_step=3, span_steps=10, prune_every=4)
    assert [e.step for e in events] == [3, 7, 11, 13]
    assert events[-1].sparsity == pytest.approx(0.9)


def test_oneshot_event_at_warmup_end():
    assert pruning_events("oneshot", final=0.8, start_step=32) == [PruneEvent(32, 0.8)]


def test_movement_schedule_warm_up_cubic_cool_down():
    # Sanh et al.: dense for the warm-up, cubic from s_i at t0, s_f from t0 + n*dt on
    kw = dict(initial=0.0, final=0.9, warmup_steps=4, span_steps=10)
    assert [movement_sparsity(t, **kw) for t in (0, 3)] == [0.0, 0.0]
    assert movement_sparsity(4, **kw) == 0.0
    assert movement_sparsity(9, **kw) == pytest.approx(0.7875, abs=1e-12)  # half-way: 0.9 * (1 - 0.5^3)
    assert movement_sparsity(14, **kw) == pytest.approx(0.9) and movement_sparsity(40, **kw) == pytest.approx(0.9)
    # with s_i = 0.5 the warm-up is still dense, and the curve starts at s_i
    assert movement_sparsity(3, initial=0.5, final=0.9, warmup_steps=4, span_steps=10) == 0.0
    assert movement_sparsity(4, initial=0.5, final=0.9, warmup_steps=4, span_steps=10) == 0.5


def test_movement_threshold_follows_the_sparsity_curve():
    assert movement_threshold(0.0, final=0.9, threshold=0.1) == 0.0
    assert movement_threshold(0.45, final=0.9, threshold=0.1) == pytest.approx(0.05)
    assert movement_threshold(0.9, final=0.9, threshold=0.1) == pytest.approx(0.1)


def test_intermediate_targets_follow_the_cubic_curve():
    # from 0 to 0.8 in 4 recomputations: 0.8 * (1 - (1 - j/4)^3)
    assert intermediate_targets(0.0, 0.8, 4) == pytest.approx([0.4625, 0.7, 0.7875, 0.8])
    assert intermediate_targets(0.5, 0.8, 1) == [0.8]


@settings(max_examples=60, deadline=None)
@given(
    initial=st.floats(0.0, 0.5),
    final=st.floats(0.5, 0.99),
    span=st.integers(1, 500),
    t1=st.integers(-50, 600),
    t2=st.integers(-50, 600),
)
def test_cubic_is_monotone_and_bounded(initial, final, span, t1, t2):
    a, b = sorted((t1, t2))
    sa = cubic_sparsity(a, initial=initial, final=final, start_step=0, span_steps=span)
    sb = cubic_sparsity(b, initial=initial, final=final, start_step=0, span_steps=span)
    assert initial - 1e-12 <= sa <= sb + 1e-12 <= final + 2e-12

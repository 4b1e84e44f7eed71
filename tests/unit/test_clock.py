"""The clock and seeded randomness that all logic takes by injection."""

import pytest

from kubemu.cluster.clock import ManualClock, ScaledClock, derive_rng


def test_manual_clock_moves_only_when_advanced():
    clock = ManualClock(start=5.0)
    assert clock.now() == 5.0
    clock.advance(1.5)
    assert clock.now() == 6.5


def test_manual_clock_refuses_to_go_backwards():
    with pytest.raises(ValueError, match="backwards"):
        ManualClock().advance(-1)


@pytest.mark.parametrize("scale", [pytest.param(1.0, id="real-time"), pytest.param(60.0, id="60x")])
def test_scaled_clock_runs_scale_times_faster_than_its_base(scale):
    base = ManualClock(start=100.0)
    clock = ScaledClock(scale, base=base)
    start = clock.now()
    base.advance(2.0)
    assert clock.now() - start == pytest.approx(2.0 * scale)


def test_scaled_clock_rejects_non_positive_scale():
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


def test_derived_rngs_are_reproducible_and_independent():
    def draws(*names):
        rng = derive_rng(7, *names)
        return [rng.random() for _ in range(3)]

    a1, a2, b = draws("raft", 1), draws("raft", 1), draws("raft", 2)
    assert a1 == a2
    assert a1 != b

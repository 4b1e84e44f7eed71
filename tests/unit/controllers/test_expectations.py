"""ControllerExpectations: counts lowered by observations, tracked deletions, the 5 min ttl."""

from __future__ import annotations

import pytest
from kubemu.cluster.clock import ManualClock
from kubemu.cluster.controllers.expectations import EXPECTATIONS_TIMEOUT, ControllerExpectations

KEY = "default/web"


def test_unknown_key_is_satisfied() -> None:
    assert ControllerExpectations(ManualClock()).satisfied(KEY)


@pytest.mark.parametrize("expected, observed, satisfied", [
    pytest.param(3, 0, False, id="none-observed"),
    pytest.param(3, 2, False, id="some-observed"),
    pytest.param(3, 3, True, id="all-observed"),
    pytest.param(0, 0, True, id="nothing-expected"),
    pytest.param(1, 2, True, id="over-observed"),
])
def test_creations_are_satisfied_once_all_are_observed(expected: int, observed: int,
                                                       satisfied: bool) -> None:
    exp = ControllerExpectations(ManualClock())
    exp.expect_creations(KEY, expected)
    for _ in range(observed):
        exp.creation_observed(KEY)
    assert exp.satisfied(KEY) is satisfied


def test_counted_deletions_lower_per_observation() -> None:
    exp = ControllerExpectations(ManualClock())
    exp.expect_deletions(KEY, 2)
    exp.deletion_observed(KEY)
    assert not exp.satisfied(KEY)
    exp.deletion_observed(KEY)
    assert exp.satisfied(KEY)


def test_tracked_deletions_count_each_expected_pod_once() -> None:
    exp = ControllerExpectations(ManualClock())
    exp.expect_pod_deletions(KEY, ["default/a", "default/b"])
    exp.deletion_observed(KEY, "default/a")  # deletionTimestamp set
    exp.deletion_observed(KEY, "default/a")  # then the object is gone: no second count
    exp.deletion_observed(KEY, "default/other")  # not one we deleted
    assert not exp.satisfied(KEY)
    exp.deletion_observed(KEY, "default/b")
    assert exp.satisfied(KEY)


def test_expectations_expire_after_the_ttl() -> None:
    clock = ManualClock()
    exp = ControllerExpectations(clock)
    exp.expect_creations(KEY, 5)
    clock.advance(EXPECTATIONS_TIMEOUT)
    assert not exp.satisfied(KEY)
    clock.advance(0.001)
    assert exp.expired(KEY) and exp.satisfied(KEY)


def test_setting_again_restarts_the_ttl_but_lowering_does_not() -> None:
    clock = ManualClock()
    exp = ControllerExpectations(clock, ttl=10)
    exp.expect_creations(KEY, 2)
    clock.advance(8)
    exp.creation_observed(KEY)
    clock.advance(3)
    assert exp.expired(KEY)
    exp.expect_creations(KEY, 1)
    assert not exp.satisfied(KEY)


def test_raise_and_lower_adjust_both_directions() -> None:
    exp = ControllerExpectations(ManualClock())
    exp.set_expectations(KEY, add=1, delete=1)
    exp.raise_expectations(KEY, add=1)
    exp.lower_expectations(KEY, add=2, delete=1)
    record = exp.get(KEY)
    assert record is not None and (record.add, record.delete) == (0, 0)
    assert exp.satisfied(KEY)


def test_deleting_a_key_forgets_it() -> None:
    exp = ControllerExpectations(ManualClock())
    exp.expect_creations(KEY, 1)
    exp.delete(KEY)
    assert exp.get(KEY) is None and exp.satisfied(KEY) and len(exp) == 0

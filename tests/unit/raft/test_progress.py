"""Per-peer progress: probe/replicate/snapshot states, back-off on rejection, inflight window."""

import pytest

from kubemu.cluster.raft.progress import Inflights, Progress, ProgressState


def test_probe_sends_one_append_then_pauses_until_an_answer():
    pr = Progress(match=3, next=4)
    assert not pr.is_paused()
    pr.sent_entries(6)
    assert pr.is_paused() and pr.next == 4
    assert pr.maybe_update(6)
    assert not pr.is_paused() and (pr.match, pr.next) == (6, 7)


def test_replicate_pipelines_until_the_inflight_window_is_full():
    pr = Progress(match=3, next=4, inflights=Inflights(2))
    pr.become_replicate()
    pr.sent_entries(5)
    pr.sent_entries(8)
    assert pr.next == 9 and pr.is_paused()
    pr.maybe_update(5)
    pr.inflights.free_le(5)
    assert not pr.is_paused() and len(pr.inflights) == 1


@pytest.mark.parametrize("state, match, next_, rejected, hint, ok, expected_next", [
    pytest.param(ProgressState.PROBE, 0, 10, 9, 4, True, 5, id="probe-uses-hint"),
    pytest.param(ProgressState.PROBE, 0, 10, 7, 4, False, 10, id="probe-stale-reject-ignored"),
    pytest.param(ProgressState.PROBE, 6, 10, 9, 2, True, 7, id="probe-never-below-match"),
    pytest.param(ProgressState.REPLICATE, 5, 12, 9, 2, True, 6, id="replicate-falls-back-to-match"),
    pytest.param(ProgressState.REPLICATE, 5, 12, 4, 2, False, 12, id="replicate-stale-reject"),
])
def test_maybe_decr_to_backs_off_only_for_current_rejections(state, match, next_, rejected, hint,
                                                            ok, expected_next):
    pr = Progress(match=match, next=next_, state=state)
    assert pr.maybe_decr_to(rejected, hint) is ok
    assert pr.next == expected_next


def test_snapshot_state_pauses_and_probes_past_the_snapshot_afterwards():
    pr = Progress(match=2, next=3)
    pr.become_snapshot(50)
    assert pr.is_paused()
    pr.become_probe()
    assert pr.state == ProgressState.PROBE and pr.next == 51


def test_stale_acknowledgement_does_not_move_match_back():
    pr = Progress(match=9, next=10)
    assert not pr.maybe_update(4)
    assert (pr.match, pr.next) == (9, 10)

"""Lessor: grants, attached keys, leader-only deadlines, promote/demote, snapshots."""

from __future__ import annotations

import math

import pytest

from kubemu.cluster.store.errors import BadRequestError, LeaseNotFoundError
from kubemu.cluster.store.lease import Lessor


def test_follower_leases_never_expire():
    lessor = Lessor()
    lessor.grant(1, 5, now=0.0)
    assert lessor.leases[1].expiry == math.inf
    assert lessor.expired(1e9) == []
    assert lessor.remaining(1, now=100.0) == 5


def test_leader_expires_leases_at_their_deadline():
    lessor = Lessor()
    lessor.promote(now=0.0)
    lessor.grant(1, 5, now=0.0)
    lessor.grant(2, 10, now=0.0)
    assert lessor.expired(4.9) == []
    assert [x.id for x in lessor.expired(5.0)] == [1]
    assert [x.id for x in lessor.expired(5.1)] == [1]  # still expired until revoked
    lessor.revoke(1)
    assert [x.id for x in lessor.expired(11.0)] == [2]


def test_keepalive_on_the_leader_pushes_the_deadline():
    lessor = Lessor()
    lessor.promote(now=0.0)
    lessor.grant(1, 5, now=0.0)
    assert lessor.renew(1, now=4.0) == 5
    assert lessor.expired(8.9) == []
    assert lessor.remaining(1, now=6.5) == 3
    assert [x.id for x in lessor.expired(9.0)] == [1]


def test_promote_restarts_every_deadline_and_demote_stops_expiry():
    lessor = Lessor()
    lessor.grant(1, 5, now=0.0)
    lessor.promote(now=100.0)
    assert lessor.expired(104.0) == []
    assert [x.id for x in lessor.expired(105.0)] == [1]
    lessor.demote()
    assert lessor.expired(1e9) == []


def test_regrant_of_a_revoked_id_ignores_the_old_deadline():
    lessor = Lessor()
    lessor.promote(now=0.0)
    lessor.grant(1, 1, now=0.0, index=3)
    lessor.revoke(1)
    lessor.grant(1, 100, now=0.0, index=9)
    assert lessor.expired(50.0) == []


@pytest.mark.parametrize(
    "call,error",
    [
        pytest.param(lambda x: x.grant(1, 5, now=0), BadRequestError, id="grant-existing-id"),
        pytest.param(lambda x: x.grant(0, 5, now=0), BadRequestError, id="grant-id-zero"),
        pytest.param(lambda x: x.grant(2, 10**12, now=0), BadRequestError, id="ttl-too-long"),
        pytest.param(lambda x: x.revoke(9), LeaseNotFoundError, id="revoke-unknown"),
        pytest.param(lambda x: x.renew(9, now=0), LeaseNotFoundError, id="renew-unknown"),
    ],
)
def test_lessor_rejects_bad_calls(call, error):
    lessor = Lessor()
    lessor.grant(1, 5, now=0.0)
    with pytest.raises(error):
        call(lessor)


def test_attached_keys_are_returned_sorted_on_revoke():
    lessor = Lessor()
    lessor.grant(7, 5, now=0.0)
    for key in ("b", "a", "c"):
        lessor.attach(7, key)
    lessor.detach(7, "c")
    lessor.attach(99, "ignored")  # unknown lease: nothing to attach to
    assert lessor.revoke(7) == ["a", "b"]


def test_pick_id_skips_ids_in_use():
    lessor = Lessor()
    lessor.grant(5, 1, now=0.0)
    assert lessor.pick_id(5) == 6 and lessor.pick_id(0) == 1


def test_snapshot_round_trip_keeps_ids_ttls_and_grant_indexes():
    lessor = Lessor()
    lessor.grant(3, 30, now=0.0, index=11)
    lessor.grant(1, 10, now=0.0, index=12)
    again = Lessor.from_snapshot_obj(lessor.snapshot_obj())
    assert again.snapshot_obj() == [(1, 10, 12), (3, 30, 11)]

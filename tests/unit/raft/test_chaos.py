"""Randomised safety check: drops, duplicates, reordering, partitions, crashes, compaction.

Every Ready goes through the harness's checks (one leader per term, no two members applying
different entries at one index, in-order apply); after healing, all members converge.
A failure names the seed; rerun one with `-k seedN`.
"""

import random

import pytest

from kubemu.cluster.raft.core import NotLeaderError
from kubemu.cluster.raft.messages import StateType

from .network import Chaos, DeadlineError, Network


def run_chaos(seed: int, members: int, steps: int, **options) -> Network:
    net = Network(members, seed=seed, max_entries_per_msg=4, max_inflight=4,
                  snapshot_timeout_tick=20, **options)
    rng = random.Random(seed)
    net.chaos = Chaos(drop=0.15, dup=0.1, reorder=True, interleave=True, wire=True)
    for step in range(steps):
        r = rng.random()
        if r < 0.03:
            net.isolate(rng.choice(net.ids))
        elif r < 0.06:
            net.heal()
        elif r < 0.08 and len(net.live()) > members // 2 + 1:
            net.crash(rng.choice(net.live()))
        elif r < 0.12:
            for i in net.ids:
                if net.cores[i] is None:
                    net.restart(i)
        elif r < 0.15:
            i = rng.choice(net.live())
            if net.applied[i]:
                net.compact(i, keep_entries=rng.choice([0, 0, 3]))
        for i in net.live():
            core = net.core(i)
            try:
                if core.state == StateType.LEADER and rng.random() < 0.5:
                    for _ in range(rng.randint(1, 5)):
                        core.propose(b"s%d-%d" % (step, i))
                if rng.random() < 0.1:
                    core.read_index(b"r%d-%d" % (step, i))
                if core.state == StateType.LEADER and rng.random() < 0.02:
                    core.transfer_leadership(rng.choice(net.ids))
            except NotLeaderError:
                pass
            core.tick()
        for _ in range(3):
            for i in net.ids:
                while net.handle_ready(i):
                    pass
            net.deliver()
    net.heal()
    net.chaos = Chaos()
    for i in net.ids:
        if net.cores[i] is None:
            net.restart(i)
    return net


@pytest.mark.parametrize("members, options", [
    pytest.param(3, {}, id="three"),
    pytest.param(5, {}, id="five"),
    pytest.param(5, {"pre_vote": False, "check_quorum": False}, id="five-plain-raft"),
])
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(4)])
def test_chaos_keeps_safety_and_converges_after_healing(seed, members, options):
    net = run_chaos(seed, members, 300, **options)

    def settled() -> bool:
        leaders = net.leaders()
        return (len(leaders) == 1 and not net.core(leaders[0]).lead_transferee
                and all(net.core(i).term == net.core(leaders[0]).term for i in net.ids))

    for _ in range(5):  # a proposal may be lost to a leader change: retry like a client
        net.tick_until(settled, max_ticks=200, what=f"a settled leader (seed {seed})")
        net.propose(b"final")
        try:
            net.tick_until(lambda: all(net.applied[i][-1][2] == b"final" for i in net.ids),
                           max_ticks=60)
            break
        except DeadlineError:
            continue
    else:
        raise AssertionError(f"no convergence after healing (seed {seed})")
    assert len({tuple(net.applied[i][-1]) for i in net.ids}) == 1

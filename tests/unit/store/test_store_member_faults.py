"""StoreMember under faults: lost messages, isolated and crashed members, client retries.

Clients write distinct keys and retry (same request id) on errors and timeouts, to any member.
Exactly-once means: once every write is acknowledged, each key has version 1 and the revision
is 1 + the number of writes, on every member, whose state machines are byte-identical.
"""

from __future__ import annotations

import random

import pytest

from kubemu.cluster.raft.messages import StateType

WRITES = 100
RETRY_TICKS = 15
IN_FLIGHT = 1


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}") for s in range(1, 9)])
def test_every_acknowledged_write_applies_exactly_once_under_faults(make_group, seed):
    g = make_group(3, seed=seed, drop=0.05, snapshot_every=25,
                   snapshot_keep_entries=5)
    rng = random.Random(seed)
    commands = {f"w{i}": {"op": "put", "key": f"k{i:03}", "value": b"%d" % i}
                for i in range(WRITES)}
    sent: dict[str, int] = {}  # request id -> tick of the latest submit
    acked: dict[str, dict] = {}
    hint = 1
    fault_until = 0
    faulty: tuple[str, int] | None = None
    for tick in range(3000):
        if len(acked) == WRITES:
            break
        if faulty is None and rng.random() < 0.1:
            leaders = [i for i, m in g.members.items() if m.raft.state == StateType.LEADER]
            victim = leaders[0] if leaders and rng.random() < 0.6 else rng.choice(g.ids)
            kind = rng.choice(["isolate", "crash"])
            (g.isolated if kind == "isolate" else g.down).add(victim)
            faulty, fault_until = (kind, victim), tick + rng.randrange(5, 40)
        elif faulty is not None and tick >= fault_until:
            kind, victim = faulty
            if kind == "isolate":
                g.isolated.discard(victim)
            else:
                g.restart(victim)
            faulty = None
        for rid, result in list(g.results.items()):
            if rid in acked or rid not in sent:
                continue
            error = result.get("error")
            if error is None:
                acked[rid] = result
            else:
                assert error["code"] in ("not_leader", "timeout"), result
                hint = error.get("leader") or rng.choice(g.ids)
                del sent[rid]
            del g.results[rid]
        for rid in list(commands)[: len(acked) + IN_FLIGHT]:
            if rid in acked:
                continue
            if rid not in sent or tick - sent[rid] >= RETRY_TICKS:
                target = hint if hint not in g.down else rng.choice(g.ids)
                if target in g.down:
                    continue
                g.submit(target, commands[rid], rid)
                sent[rid] = tick
        g.tick()
    assert len(acked) == WRITES, f"only {len(acked)} writes acknowledged (seed {seed})"
    g.isolated.clear()
    for i in list(g.down):
        g.restart(i)
    g.drop = 0.0
    want = 1 + WRITES
    g.wait(lambda: all(m.applied_revision == want for m in g.members.values()),
           what=f"convergence (seed {seed})")
    images = {m.sm.mvcc.snapshot() for m in g.members.values()}
    assert len(images) == 1
    m = g.members[1]
    assert all(kv.version == 1 for kv in m.sm.mvcc.iter_live())
    assert len(m.sm.mvcc) == WRITES
    for rid, result in acked.items():
        key = commands[rid]["key"]
        assert m.sm.mvcc.get(key).mod_revision == result["revision"]

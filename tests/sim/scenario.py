"""One seeded simulation run: build a cluster, inject faults, run clients, check everything.

`run(seed, replicas=3, steps=200)` is a pure function of its arguments: the seed picks the
network fault rates, the member options (small snapshot/history limits on some seeds), the
client mix, and a schedule of faults during the active phase — partitions (isolate a node or
the leader, split minority/majority) and heals, crashes (of a node or the leader, at a step or at
the crash point inside a Ready, possibly tearing the unsynced tail) and restarts, slow nodes
that miss ticks. Never more than a minority is down at once. Then a quiet phase heals the
network, restarts every crashed node and stops the faults; clients finish with a read of every
key, and the run waits (bounded) until the cluster is quiet: one leader, everything applied
everywhere, all clients done, all watches caught up. Liveness failures are reported too.

Checks: Raft safety (live, `RaftChecker`), the event truth (members agree), linearizability of
the client history (per key), cross-key revision facts, every watch, convergence of the MVCC
contents, and liveness. A failure carries the one-line command that reproduces it.
"""

from __future__ import annotations

import traceback
from collections import deque
from dataclasses import dataclass, field

from kubemu.cluster.clock import derive_rng
from kubemu.cluster.raft.messages import StateType

from tests.sim.checkers import EventTruth, RaftChecker, check_past_reads, check_watch
from tests.sim.clients import LINEARIZABLE_KINDS, ClientOptions, Sequencer, SimClient
from tests.sim.cluster import MemberOptions, SimCluster, SimViolation
from tests.sim.linearizability import check_history, check_revisions
from tests.sim.simnet import NetFaults

DEFAULT_STEPS = 200  # active-phase steps of a CI run
QUIET_STEPS = 250  # upper bound on the quiet phase (an election takes ~10-30 steps)


@dataclass(slots=True)
class ScenarioConfig:
    seed: int
    replicas: int
    steps: int
    faults: NetFaults
    member: MemberOptions
    clients: int
    client: ClientOptions
    fault_events: int
    crash_mid_ready: float
    slow_rate: float
    interleave: float

    @classmethod
    def from_seed(cls, seed: int, *, replicas: int = 3, steps: int = DEFAULT_STEPS
                  ) -> ScenarioConfig:
        rng = derive_rng(seed, "config")
        faults = NetFaults(
            drop_rate=rng.choice([0.0, 0.0, 0.01, 0.05, 0.1]),
            dup_rate=rng.choice([0.0, 0.02, 0.05]),
            reorder_rate=rng.choice([0.0, 0.05, 0.15]),
            max_delay=rng.choice([1, 1, 2, 3]),
        )
        small = rng.random() < 0.3  # exercise snapshots, log compaction and history trimming
        election_tick = rng.choice([10, 10, 6])
        member = MemberOptions(
            election_tick=election_tick,
            heartbeat_tick=rng.choice([1, 1, 2, 3]) if election_tick == 10 else 1,
            snapshot_every=rng.choice([5, 8, 20]) if small else 10_000,
            history_events=rng.choice([10, 30]) if small and rng.random() < 0.5 else 100_000,
            snapshot_keep_entries=rng.choice([0, 2]) if small else 1000,
        )
        busy = rng.random() < 0.3  # a burst of load: more ops, little think time
        ops = max(2, steps // (8 if busy else 25))
        return cls(
            seed=seed, replicas=replicas, steps=steps, faults=faults, member=member,
            clients=rng.randint(3, 6 if busy else 5),
            client=ClientOptions(ops=ops, keys=rng.randint(2, 4),
                                 think_max=max(2, steps // (ops + 1)),
                                 watch_window=steps * 3 // 4),
            fault_events=rng.choice([0, 2, 4, 6, 8]),
            crash_mid_ready=rng.choice([0.0, 0.5, 1.0]),
            slow_rate=rng.choice([0.0, 0.0, 0.2, 0.5]),
            interleave=rng.choice([0.0, 0.3, 1.0]),
        )

    def describe(self) -> str:
        f = self.faults
        return (f"replicas={self.replicas} steps={self.steps} clients={self.clients} "
                f"ops/client={self.client.ops} keys={self.client.keys} "
                f"election_tick={self.member.election_tick} "
                f"heartbeat_tick={self.member.heartbeat_tick} "
                f"drop={f.drop_rate} dup={f.dup_rate} reorder={f.reorder_rate} "
                f"delay<={f.max_delay} snapshot_every={self.member.snapshot_every} "
                f"history={self.member.history_events} keep={self.member.snapshot_keep_entries} "
                f"interleave={self.interleave} "
                f"fault_events={self.fault_events}")


@dataclass(slots=True)
class ScenarioResult:
    seed: int
    replicas: int
    steps: int
    ok: bool
    failure: str = ""
    trace: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def reproduce(self) -> str:
        extra = "" if self.steps == DEFAULT_STEPS else f" --steps {self.steps}"
        return f"python -m tests.sim --seed {self.seed} --replicas {self.replicas}{extra}"

    def summary(self) -> str:
        return f"seed {self.seed} replicas {self.replicas}: {self.failure.splitlines()[0]}"


def run(seed: int, *, replicas: int = 3, steps: int = DEFAULT_STEPS) -> ScenarioResult:
    """Run one seeded scenario; never raises for a failure of the system under test."""
    cfg = ScenarioConfig.from_seed(seed, replicas=replicas, steps=steps)
    sim = _Simulation(cfg)
    try:
        sim.run()
        failure = sim.check()
    except SimViolation as exc:
        failure = str(exc)
    except Exception:  # a crash inside the member/core is a failure of the system under test
        failure = f"step {sim.cluster.step_no if sim.cluster else 0}: exception\n" + \
            traceback.format_exc()
    return ScenarioResult(seed, replicas, steps, ok=not failure, failure=failure,
                          trace=list(sim.trace), stats=sim.stats())


class _Simulation:
    def __init__(self, cfg: ScenarioConfig) -> None:
        self.cfg = cfg
        self.rng = derive_rng(cfg.seed, "faults")
        self.trace: deque[str] = deque(maxlen=60)
        self.raft: RaftChecker | None = None
        self.truth = EventTruth()
        self.cluster: SimCluster | None = None
        self.clients: list[SimClient] = []
        self.quiet_at = 0
        self.quiet_steps = 0
        self.last_leader: dict[int, int] = {}

    # -- run ------------------------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.cfg
        observer = _Observer(self)
        self.cluster = cluster = SimCluster(replicas=cfg.replicas, seed=cfg.seed,
                                            options=cfg.member, faults=cfg.faults,
                                            interleave=cfg.interleave, observer=observer)
        self.raft = RaftChecker(cluster.ids, disks=cluster.disks)
        seq = Sequencer()
        self.clients = [
            SimClient(i, cluster=cluster, rng=derive_rng(cfg.seed, "client", i), seq=seq,
                      options=cfg.client)
            for i in range(1, cfg.clients + 1)
        ]
        by_id = {c.id: c for c in self.clients}
        cluster.on_completion = lambda node, rid, res: self._complete(by_id, node, rid, res)
        cluster.clients_act = lambda: [c.act(cluster.step_no) for c in self.clients]
        schedule = self._schedule()
        for step in range(1, cfg.steps + 1):
            for action in schedule.get(step, ()):
                self._apply(action)
            cluster.step()
        self._quiet()

    def _complete(self, by_id: dict, node: int, rid: str, result: dict) -> None:
        client = by_id.get(int(rid[1:rid.index("-")])) if rid.startswith("c") else None
        if client is not None:
            client.on_result(node, rid, result, self.cluster.step_no)

    def _schedule(self) -> dict[int, list[tuple]]:
        cfg, rng = self.cfg, self.rng
        schedule: dict[int, list[tuple]] = {}
        for _ in range(cfg.fault_events):
            step = rng.randint(5, max(6, cfg.steps - 5))
            kind = rng.choices(["partition", "crash", "slow", "heal", "transfer", "campaign"],
                               weights=[4, 4, 1, 1, 1, 1])[0]
            schedule.setdefault(step, []).append((kind,))
            if kind in ("partition", "crash", "slow"):  # most faults end before the quiet phase
                end = step + (rng.randint(1, 4) if rng.random() < 0.25 else rng.randint(5, 60))
                if end < cfg.steps and rng.random() < 0.8:
                    schedule.setdefault(end, []).append(("undo", kind))
        return schedule

    def _apply(self, action: tuple) -> None:
        cluster, rng, ids = self.cluster, self.rng, self.cluster.ids
        kind = action[0]
        leaders = cluster.leaders()
        target = leaders[0] if leaders and rng.random() < 0.5 else rng.choice(ids)
        if kind == "partition":
            shape = rng.choice(["isolate", "split", "links"])
            if shape == "isolate":
                cluster.net.isolate(target)
            elif shape == "split":  # the target (often the leader) lands on the minority side
                others = [i for i in ids if i != target]
                rng.shuffle(others)
                minority = [target, *others[:rng.randint(0, len(ids) // 2 - 1)]]
                cluster.net.partition([minority, [i for i in ids if i not in minority]])
            else:  # non-transitive: cut one or two links, usually at the target
                for _ in range(rng.randint(1, 2)):
                    other = rng.choice([i for i in ids if i != target])
                    cluster.net.cut(target, other)
                    target = rng.choice(ids)
            self.note(f"partition {cluster.net.groups()} cut links {cluster.net.cuts()}")
        elif kind == "heal" or action == ("undo", "partition"):
            cluster.net.heal()
            self.note("heal")
        elif kind == "crash":
            down = len(ids) - len(cluster.live()) + len(cluster.crash_plans)
            if down + 1 > (len(ids) - 1) // 2 or target not in cluster.live():
                return
            if rng.random() < self.cfg.crash_mid_ready:
                torn = rng.random() < 0.4
                after_send = not torn and rng.random() < 0.5
                cluster.plan_crash(target, torn=torn, after_send=after_send)
                where = "after sending" if after_send else f"before fsync (torn={torn})"
                self.note(f"crash node {target} in its next Ready, {where}")
            else:
                cluster.crash(target)
                self.note(f"crash node {target}")
        elif action == ("undo", "crash"):
            dead = [i for i in ids if cluster.members[i] is None]
            if dead:
                node = rng.choice(dead)
                cluster.restart(node)
                self.note(f"restart node {node}")
        elif kind == "transfer":
            if leaders:
                to = rng.choice([i for i in ids if i != leaders[0]])
                cluster.members[leaders[0]].raft.transfer_leadership(to)
                self.note(f"transfer leadership {leaders[0]} -> {to}")
        elif kind == "campaign":
            node = rng.choice(cluster.live())
            force = rng.random() < 0.3
            cluster.members[node].raft.campaign(force=force)
            self.note(f"node {node} campaigns (force={force})")
        elif kind == "slow":
            cluster.slow[target] = max(self.cfg.slow_rate, 0.3)
            self.note(f"slow node {target}")
        elif action == ("undo", "slow"):
            cluster.slow.clear()
            self.note("slow nodes back to normal")

    def _quiet(self) -> None:
        cluster = self.cluster
        self.quiet_at = cluster.step_no
        cluster.net.heal()
        cluster.net.faults = NetFaults(max_delay=min(2, cluster.net.faults.max_delay))
        cluster.slow.clear()
        cluster.crash_plans.clear()
        for node in cluster.ids:
            if cluster.members[node] is None:
                cluster.restart(node)
        self.note("quiet: heal, restart all, no more faults")
        for c in self.clients:
            c.finish_with_reads()
        for _ in range(QUIET_STEPS):
            cluster.step()
            self.quiet_steps += 1
            if self._quiesced():
                return

    def _quiesced(self) -> bool:
        cluster = self.cluster
        if not all(c.idle for c in self.clients):
            return False
        leaders = cluster.leaders()
        if len(leaders) != 1:
            return False
        leader = cluster.members[leaders[0]]
        if any(cluster.members[n].raft.applied != leader.raft.commit for n in cluster.live()):
            return False
        revision = leader.applied_revision
        return all(c.watch is None or c.watch.compacted or c.watch.through >= revision
                   for c in self.clients)

    def note(self, text: str) -> None:
        self.trace.append(f"step {self.cluster.step_no}: {text}")

    # -- checks ---------------------------------------------------------------------------------

    def check(self) -> str:
        cluster = self.cluster
        everything = [op for c in self.clients for op in c.history]
        history = [op for op in everything if op.kind in LINEARIZABLE_KINDS]
        errors = [e for c in self.clients for e in c.errors]
        if errors:
            return "unexpected error results:\n  " + "\n  ".join(errors[:5])
        revs = check_revisions(everything)  # cheap, and its reports are the simplest
        if revs:
            return "revision check failed:\n  " + "\n  ".join(revs[:5])
        lin = check_history(history)
        if not lin.ok:
            return lin.report
        self.truth.check_gap_free()
        past = check_past_reads(everything, self.truth)
        if past:
            return f"read in the past is wrong: {past}"
        for c in self.clients:
            if c.watch is not None:
                problem = check_watch(c.watch, self.truth)
                if problem:
                    return f"watch check failed: {problem}"
        if not self._quiesced():
            return self._liveness_report()
        self.raft.check_converged(cluster)
        late = [op for op in everything if op.call_step > self.quiet_at and not op.determinate]
        if late:
            return f"liveness: {len(late)} ops invoked in the quiet phase never completed"
        return ""

    def _liveness_report(self) -> str:
        cluster = self.cluster
        states = {n: (StateType(cluster.members[n].raft.state).name, cluster.members[n].raft.term,
                      cluster.members[n].raft.commit, cluster.members[n].raft.applied)
                  for n in cluster.live()}
        busy = [c.id for c in self.clients if not c.idle]
        watches = {c.id: c.watch.through for c in self.clients if c.watch is not None}
        return (f"liveness: not quiet {QUIET_STEPS} steps after healing: members "
                f"(state, term, commit, applied) {states}; clients still busy {busy}; "
                f"watches through {watches}")

    def stats(self) -> dict:
        cluster = self.cluster
        if cluster is None:
            return {}
        history = [op for c in self.clients for op in c.history]
        return {
            "steps": cluster.step_no, "quiet_steps": self.quiet_steps,
            "ops": len(history), "indeterminate": sum(not op.determinate for op in history),
            "terms": len(self.raft.leader_of_term), "committed": len(self.raft.committed),
            "messages": cluster.net.stats.sent,
            "snapshots_installed": self.raft.snapshots_installed,
            "restarts": sum(cluster.incarnation.values()),
            "watch_events": sum(len(c.watch.events) for c in self.clients if c.watch),
        }


class _Observer:
    """Feeds the cluster's hooks to the Raft checker and the event truth."""

    def __init__(self, sim: _Simulation) -> None:
        self.sim = sim

    def on_disk_write(self, node, disk, written) -> None:
        self.sim.raft.on_disk_write(node, disk, written)

    def on_ready(self, node, rd, member) -> None:
        self.sim.raft.on_ready(node, rd, member)

    def on_restart(self, node, member, disk) -> None:
        self.sim.raft.on_restart(node, member, disk)
        self.sim.truth.reset(node, member)

    def on_step(self, cluster) -> None:
        self.sim.raft.on_step(cluster)
        self.sim.truth.poll(cluster)
        for node in cluster.leaders():
            term = cluster.members[node].raft.term
            if self.sim.last_leader.get(term) != node:
                self.sim.last_leader[term] = node
                self.sim.note(f"node {node} is leader of term {term}")


def format_failure(result: ScenarioResult) -> str:
    lines = [f"simulation failed: seed {result.seed}, replicas {result.replicas}",
             f"  config: {_config(result).describe()}",
             f"  reproduce: {result.reproduce}",
             result.failure, "last events:", *("  " + t for t in result.trace[-25:])]
    return "\n".join(lines)


def _config(result: ScenarioResult) -> ScenarioConfig:
    return ScenarioConfig.from_seed(result.seed, replicas=result.replicas, steps=result.steps)

"""CI for the workload simulation: seeded scenarios of scheduler + controllers + kubelets
with churn, voluntary evictions and node failures; no node over-committed, no pod bound
twice, no StatefulSet ordinal running twice, PDBs hold, every Deployment and the StatefulSet
converge. A failure prints the seed's steps and its reproduce command."""

from __future__ import annotations

import pytest

from tests.sim.workloads import run

SEEDS = range(6)


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}") for s in SEEDS])
def test_churn_evictions_and_node_failures_keep_invariants_and_converge(seed):
    result = run(seed)
    if not result.ok:
        pytest.fail(f"seed {seed}: {result.failure}\n  steps:\n    "
                    + "\n    ".join(result.steps) + f"\n  reproduce: {result.reproduce}",
                    pytrace=False)


def test_a_seed_replays_the_same_scenario():
    first, again = run(11, steps=6), run(11, steps=6)
    assert first.ok and again.ok, (first.failure, again.failure)
    assert first.steps == again.steps

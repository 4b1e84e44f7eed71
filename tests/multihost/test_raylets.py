"""A cluster across several raylets on this machine (`ray.cluster_utils.Cluster`: head and 2
workers, one CPU each), started with `zone_per_host=True`: Node labels name 3 different Ray
nodes, each Node's label names the Ray node its kubelet actor really runs on, the store
replicas run on distinct raylets, and each zone's nodes share one raylet.

Isolation: the cluster, its Ray and the bootstrap run in a child process
(tests/multihost/raylets.py), which prints where everything landed as JSON. The pytest
process may already hold the session's Ray (`ray_session`, which skips its init when Ray is
initialised, and every e2e test shares) and one process holds one Ray connection: sharing
would either hand the e2e tests this 3-raylet Ray or end theirs. A child process is also the
only place a crash of this Ray cannot take the session down with it.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.cluster_fixtures import free_port
from tests.multihost.facts import hosts_of
from tests.multihost.netns import ROOT


@pytest.fixture(scope="module")
def placed(tmp_path_factory) -> dict:
    from kubemu.actors import bootstrap

    if "zone_per_host" not in inspect.signature(bootstrap.up).parameters:
        pytest.skip("bootstrap.up has no zone_per_host (placement) yet")
    workdir = tmp_path_factory.mktemp("raylets")
    env = {**os.environ, "RAY_TMPDIR": str(workdir), "PYTHONPATH": str(ROOT),
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "tests.multihost.raylets", str(workdir),
                             str(free_port())], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of its Ray outlived it
        except ProcessLookupError:
            pass
    lines = out.strip().splitlines()
    assert proc.returncode == 0 and lines, f"raylets driver failed: {err[-3000:]}"
    facts = json.loads(lines[-1])
    assert "error" not in facts, facts["error"]
    print(f"3 raylets + cluster up, facts gathered, down: {facts['seconds']:.0f} s")
    return facts


def test_node_labels_name_three_different_ray_nodes(placed):
    labels = {n["ray_node"] for n in placed["nodes"]}
    assert len(placed["ray_nodes"]) == 3
    assert len(labels) == 3, placed["nodes"]
    assert all(any(r.startswith(label) for r in placed["ray_nodes"]) for label in labels)


def test_each_node_label_names_the_ray_node_its_kubelet_runs_on(placed):
    from kubemu.actors.overlay import node_actor_name

    for node in placed["nodes"]:
        actor_node = placed["actors"][node_actor_name(node["name"])]
        assert actor_node.startswith(node["ray_node"]), node


def test_store_replicas_run_on_distinct_raylets(placed):
    stores = {name: ray_node for name, ray_node in placed["actors"].items()
              if name.startswith("store-")}
    assert len(stores) == 3 and len(set(stores.values())) == 3, stores


def test_each_zone_runs_on_a_raylet_of_its_own(placed):
    zones = hosts_of(placed["nodes"], "zone")
    assert len(zones) == 3
    assert all(len(ray_nodes) == 1 for ray_nodes in zones.values()), zones
    assert len({next(iter(r)) for r in zones.values()}) == 3, zones

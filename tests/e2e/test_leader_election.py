"""Leader election: of two schedulers one leads; kill it and the standby takes over within the
lease duration (15 s of Kubernetes time, 1.5 s here), and pods keep being scheduled."""

from __future__ import annotations

import os
import signal
import time
import uuid

import ray

from tests.e2e.test_workloads import get_json, wait_for


def holder(lease: dict) -> str:
    """The actor holding the Lease (an actor Ray restarted holds it as "<actor>_<random>")."""
    return lease["spec"]["holderIdentity"].split("_", 1)[0]


def test_killing_the_leading_scheduler_lets_the_standby_take_over(api_cluster):
    from kubemu.actors.runtime import namespace

    handles = {name: ray.get_actor(name, namespace=namespace(api_cluster.name))
               for name in ("scheduler-1", "scheduler-2")}

    def leader() -> str | None:
        states = {name: ray.get(h.ping.remote()) for name, h in handles.items()}
        leading = [name for name, state in states.items() if state.get("leading")]
        return leading[0] if len(leading) == 1 else None

    first = wait_for(leader, what="exactly one leading scheduler")
    lease = get_json(api_cluster, "lease", "kube-scheduler", "-n", "kube-system")
    assert holder(lease) == first
    os.kill(ray.get(handles[first].ping.remote())["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    ns = f"le-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", ns)
    try:
        api_cluster.kubectl("run", "after", "-n", ns, "--image=nginx")
        wait_for(lambda: get_json(api_cluster, "pod", "after", "-n", ns)["spec"].get(
            "nodeName"), timeout=60, what="the pod scheduled by the new leader")
        print(f"standby scheduled the next pod {time.monotonic() - killed_at:.1f} s "
              "after the leader was killed")
        standby = next(name for name in handles if name != first)
        lease = get_json(api_cluster, "lease", "kube-scheduler", "-n", "kube-system")
        assert holder(lease) == standby
        assert lease["spec"].get("leaseTransitions", 0) >= 1
    finally:
        api_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)

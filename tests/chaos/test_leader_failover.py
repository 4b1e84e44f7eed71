"""Kill -9 the leading scheduler or controller manager (each has a standby): the work goes
on -- pending pods get scheduled, a Deployment scale-up happens -- whichever replica leads
next (the standby, or the killed one restarted by Ray under its old identity), and both
replicas end up running again, one of them leading."""

from __future__ import annotations

from tests.chaos.kill import actor, answer, crash, restarted
from tests.e2e.test_workloads import deployment, get_json, wait_for


def test_pending_pods_get_scheduled_after_the_leading_scheduler_is_killed(api_cluster, ns):
    _kill_leader(api_cluster, "scheduler")
    for i in range(3):
        api_cluster.kubectl("run", f"p{i}", "-n", ns, "--image=nginx")
    wait_for(lambda: all(p["spec"].get("nodeName") for p in _items(api_cluster, ns, "pods"))
             and len(_items(api_cluster, ns, "pods")) == 3, timeout=90,
             what="3 pods scheduled")
    _both_back(api_cluster, "scheduler")


def test_deployment_scales_up_after_the_leading_controller_manager_is_killed(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=deployment("web", ns, replicas=1))
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s",
                        timeout=100)
    _kill_leader(api_cluster, "controller-manager")
    api_cluster.kubectl("scale", "deployment/web", "-n", ns, "--replicas=3")
    wait_for(lambda: get_json(api_cluster, "deployment", "web", "-n", ns)["status"].get(
        "readyReplicas") == 3, timeout=120, what="3 ready replicas")
    _both_back(api_cluster, "controller-manager")


def _kill_leader(api_cluster, kind: str) -> None:
    handles = [actor(api_cluster, f"{kind}-{i}") for i in (1, 2)]

    def leader() -> dict | None:
        states = [answer(h, "ping") for h in handles]
        leading = [s for s in states if s and s.get("leading")]
        return leading[0] if len(leading) == 1 else None

    crash(wait_for(leader, timeout=60, what=f"exactly one leading {kind}")["pid"])


def _both_back(api_cluster, kind: str) -> None:
    """Both replicas answer from a running component; exactly one leads."""
    handles = [actor(api_cluster, f"{kind}-{i}") for i in (1, 2)]
    for h in handles:
        restarted(h, old_pid=-1, ready=lambda s: s["running"])
    wait_for(lambda: sum(bool((answer(h, "ping") or {}).get("leading")) for h in handles) == 1,
             timeout=60, what=f"one leading {kind}")


def _items(api_cluster, ns: str, kind: str) -> list[dict]:
    return get_json(api_cluster, kind, "-n", ns)["items"]


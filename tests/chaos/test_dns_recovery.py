"""Kill -9 the cluster DNS actor: Ray restarts it on the same host port, it relists, and
`dig` answers again -- for names that existed before and for a Service created while it was
down."""

from __future__ import annotations

import subprocess

from tests.chaos.kill import actor, crash, restarted
from tests.e2e.test_workloads import wait_for


def dig(api_cluster, name: str) -> str:
    host, _, port = api_cluster.info.dns.rpartition(":")
    done = subprocess.run(["dig", f"@{host}", "-p", port, "+short", "+time=1", "+tries=1",
                           name], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def test_a_killed_dns_actor_comes_back_on_its_port_and_answers(api_cluster, ns):
    assert dig(api_cluster, "kubernetes.default.svc.cluster.local") == "10.96.0.1"
    dns = actor(api_cluster, "dns")
    before = restarted(dns, old_pid=-1, ready=lambda answer: answer["running"])
    crash(before["pid"])
    api_cluster.kubectl("create", "service", "clusterip", "late", "-n", ns, "--tcp=80:80")
    restarted(dns, before["pid"], ready=lambda answer: answer["running"])
    assert wait_for(lambda: dig(api_cluster, "kubernetes.default.svc.cluster.local"),
                    what="dig answering after the restart") == "10.96.0.1"
    ip = api_cluster.kubectl("get", "service", "late", "-n", ns, "-o",
                             "jsonpath={.spec.clusterIP}").stdout
    assert wait_for(lambda: dig(api_cluster, f"late.{ns}.svc.cluster.local"),
                    what="the Service made while DNS was down resolving") == ip

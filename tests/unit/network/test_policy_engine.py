"""PolicyEngine fed incrementally: updates and deletes change later verdicts at once."""

from __future__ import annotations

import pytest
from kubemu.network.policy import Peer, PolicyEngine, named_ports_of

from tests.unit.network.policykit import cluster, labels, namespace, peer, pod, policy

DENY_INGRESS = policy("deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
WEB_FROM_TEAM_A = policy("team-a", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"namespaceSelector": labels(team="a")}]}]})


def check(engine: PolicyEngine, src: str, dst: str, port: int = 8080) -> bool:
    return engine.allowed(peer(engine, src), peer(engine, dst), port, "TCP").allowed


def test_deleting_the_only_policy_lifts_isolation():
    engine = cluster(DENY_INGRESS)
    assert not check(engine, "default/client", "default/web")
    engine.delete_policy(DENY_INGRESS)
    assert check(engine, "default/client", "default/web")
    assert engine.isolating(peer(engine, "default/web"), "Ingress") == []


def test_updating_a_policy_replaces_its_rules():
    engine = cluster(DENY_INGRESS)
    engine.update_policy(policy("deny", {"podSelector": labels(app="db")}))
    assert check(engine, "default/client", "default/web")
    assert not check(engine, "default/client", "default/db")


def test_relabelling_a_namespace_changes_verdicts():
    engine = cluster(WEB_FROM_TEAM_A)
    assert not check(engine, "dev/client", "default/web")
    engine.update_namespace(namespace("dev", {"team": "a"}))
    assert check(engine, "dev/client", "default/web")
    engine.delete_namespace(namespace("dev"))
    assert not check(engine, "dev/client", "default/web")


def test_relabelling_a_pod_changes_which_policies_select_it():
    engine = cluster(WEB_FROM_TEAM_A)
    assert not check(engine, "dev/client", "default/web")
    engine.update_pod(pod("default/web", labels={"app": "web-v2"}))
    assert check(engine, "dev/client", "default/web")
    assert engine.isolating(peer(engine, "default/web"), "Ingress") == []


def test_isolating_lists_every_selecting_policy_of_the_direction():
    engine = cluster(DENY_INGRESS, WEB_FROM_TEAM_A,
                     policy("egress", {"podSelector": {}, "policyTypes": ["Egress"]}),
                     policy("elsewhere", {"podSelector": {}}, ns="prod"))
    web = peer(engine, "default/web")
    assert engine.isolating(web, "Ingress") == ["default/deny", "default/team-a"]
    assert engine.isolating(web, "Egress") == ["default/egress"]
    assert engine.isolating(Peer.host("8.8.8.8"), "Ingress") == []


def test_peer_for_ip_finds_pods_and_falls_back_to_hosts():
    engine = cluster()
    assert engine.peer_for_ip("10.244.2.10") == engine.pod("prod", "client")
    assert engine.peer_for_ip("127.1.0.1", node="node-1") == Peer.host("127.1.0.1", node="node-1")


def test_finished_and_deleted_pods_release_their_ip():
    engine = cluster()
    engine.update_pod(pod("prod/client", phase="Succeeded"))
    assert not engine.peer_for_ip("10.244.2.10").is_pod
    engine.update_pod(pod("prod/new", labels={"app": "new"}, ip="10.244.2.10"))
    engine.delete_pod(pod("prod/client"))  # must not drop the new owner of the address
    assert engine.peer_for_ip("10.244.2.10").name == "new"
    engine.delete_pod(pod("prod/new", ip="10.244.2.10"))
    assert engine.pod("prod", "new") is None
    assert not engine.peer_for_ip("10.244.2.10").is_pod


@pytest.mark.parametrize("spec", [
    pytest.param({"podSelector": labels(app="web"),
                  "ingress": [{"from": [{"ipBlock": {"cidr": "not-a-cidr"}}]}]}, id="bad-cidr"),
    pytest.param({"podSelector": labels(app="web"),
                  "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                      {"key": "app", "operator": "Bogus"}]}}]}]}, id="bad-peer-selector"),
    pytest.param({"podSelector": labels(app="web"), "ingress": [{"from": [{}]}]},
                 id="empty-peer"),
])
def test_invalid_peers_match_nothing(spec):
    engine = cluster(policy("bad", spec))
    assert not check(engine, "default/client", "default/web")
    assert not check(engine, "203.0.113.7", "default/web")


def test_invalid_pod_selector_selects_no_pod():
    engine = cluster(policy("bad", {"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "Bogus"}]}, "policyTypes": ["Ingress"]}))
    assert check(engine, "default/client", "default/web")


def test_named_ports_come_from_init_and_regular_containers():
    obj = {"spec": {"initContainers": [{"name": "side", "ports": [
                        {"name": "admin", "containerPort": 9000}]}],
                    "containers": [{"name": "main", "ports": [
                        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                        {"containerPort": 80}]}]}}
    assert named_ports_of(obj) == {"admin": (9000, "TCP"), "dns": (53, "UDP")}


def test_verdicts_explain_the_deciding_policy():
    engine = cluster(WEB_FROM_TEAM_A)
    denied = engine.allowed(peer(engine, "dev/client"), peer(engine, "default/web"), 8080)
    assert not denied and "default/team-a" in denied.reason
    allowed = engine.allowed(peer(engine, "prod/client"), peer(engine, "default/web"), 8080)
    assert allowed and "default/team-a rule 0" in allowed.reason

"""kube-proxy routing decisions: ClusterIP, NodePort, LoadBalancer, externalIPs, policies."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from kubemu.network.proxy import Drop, ProxyRules, Route

from tests.unit.network.proxykit import (
    CLUSTER_IP,
    POD_SRC,
    endpoint,
    endpoint_slice,
    service,
)

LB_IP = "127.2.0.5"
EXT_IP = "192.0.2.7"
NODE_PORT = 30080
LOCAL = endpoint("10.244.1.5", "n1", "a")
REMOTE = endpoint("10.244.2.5", "n2", "b")


def _rules(svc: dict | None, *endpoints: dict, zone: str = "a",
           ports: list | None = None) -> ProxyRules:
    rules = ProxyRules("n1", zone, rng=random.Random(7))
    if svc is not None:
        rules.update_service(svc)
    rules.update_slice(endpoint_slice(endpoints=list(endpoints), ports=ports))
    return rules


def _outcome(result) -> str:
    """A short label: the backend pod IP, the drop reason, or "none"."""
    if result is None:
        return "none"
    if isinstance(result, Drop):
        return result.reason
    return result.pod_ip


def _node_port_svc(**spec) -> dict:
    return service(type="NodePort", ports=[{"name": "http", "port": 80, "protocol": "TCP",
                                            "targetPort": "http", "nodePort": NODE_PORT}],
                   **spec)


@pytest.mark.parametrize("svc, endpoints, dst, kwargs, expected", [
    pytest.param(service(), [REMOTE], (CLUSTER_IP, 80, "TCP"), {}, "10.244.2.5",
                 id="cluster-ip-reaches-endpoint"),
    pytest.param(service(), [], (CLUSTER_IP, 80, "TCP"), {}, "REJECT",
                 id="no-endpoints-rejects"),
    pytest.param(service(), [endpoint("10.244.2.5", "n2", ready=False)],
                 (CLUSTER_IP, 80, "TCP"), {}, "REJECT", id="only-unready-endpoints-rejects"),
    pytest.param(service(), [REMOTE], (CLUSTER_IP, 81, "TCP"), {}, "none",
                 id="unknown-port-is-no-service"),
    pytest.param(service(), [REMOTE], (CLUSTER_IP, 80, "UDP"), {}, "none",
                 id="other-protocol-is-no-service"),
    pytest.param(service(), [REMOTE], ("10.244.2.5", 8080, "TCP"), {}, "none",
                 id="pod-ip-is-no-service"),
    pytest.param(service(cluster_ip="None"), [REMOTE], (CLUSTER_IP, 80, "TCP"), {}, "none",
                 id="headless-has-no-rules"),
    pytest.param(service(type="ExternalName", externalName="example.com"),
                 [REMOTE], (CLUSTER_IP, 80, "TCP"), {}, "none", id="external-name-has-no-rules"),
    pytest.param(service(internalTrafficPolicy="Local"), [LOCAL, REMOTE],
                 (CLUSTER_IP, 80, "TCP"), {}, "10.244.1.5", id="itp-local-uses-local"),
    pytest.param(service(internalTrafficPolicy="Local"), [REMOTE], (CLUSTER_IP, 80, "TCP"), {},
                 "DROP", id="itp-local-without-local-drops"),
    pytest.param(service(internalTrafficPolicy="Local"), [], (CLUSTER_IP, 80, "TCP"), {},
                 "REJECT", id="itp-local-without-any-endpoint-rejects"),
    pytest.param(_node_port_svc(), [REMOTE], ("127.1.0.1", NODE_PORT, "TCP"),
                 {"from_node_port": True, "external": True}, "10.244.2.5",
                 id="node-port-on-node-without-endpoints-forwards"),
    pytest.param(_node_port_svc(externalTrafficPolicy="Local"), [REMOTE],
                 ("127.1.0.1", NODE_PORT, "TCP"), {"from_node_port": True, "external": True},
                 "DROP", id="etp-local-node-port-without-local-drops"),
    pytest.param(_node_port_svc(externalTrafficPolicy="Local"), [LOCAL, REMOTE],
                 ("127.1.0.1", NODE_PORT, "TCP"), {"from_node_port": True, "external": True},
                 "10.244.1.5", id="etp-local-node-port-uses-local"),
    pytest.param(_node_port_svc(externalTrafficPolicy="Local"), [REMOTE],
                 ("127.1.0.1", NODE_PORT, "TCP"), {"from_node_port": True},
                 "10.244.2.5", id="etp-local-node-port-from-pod-uses-cluster"),
    pytest.param(_node_port_svc(externalTrafficPolicy="Local", internalTrafficPolicy="Local"),
                 [REMOTE], ("127.1.0.1", NODE_PORT, "TCP"), {"from_node_port": True},
                 "DROP", id="both-policies-local-from-pod-drops"),
    pytest.param(_node_port_svc(externalTrafficPolicy="Local"), [REMOTE],
                 (CLUSTER_IP, 80, "TCP"), {}, "10.244.2.5",
                 id="etp-local-does-not-affect-cluster-ip"),
    pytest.param(_node_port_svc(), [REMOTE], ("127.1.0.1", NODE_PORT + 1, "TCP"),
                 {"from_node_port": True}, "none", id="unknown-node-port"),
    pytest.param(service(type="LoadBalancer", ingress=[{"ip": LB_IP}]), [REMOTE],
                 (LB_IP, 80, "TCP"), {"external": True}, "10.244.2.5",
                 id="load-balancer-ingress-ip-routes"),
    pytest.param(service(type="LoadBalancer", ingress=[{"ip": LB_IP, "ipMode": "Proxy"}]),
                 [REMOTE], (LB_IP, 80, "TCP"), {"external": True}, "none",
                 id="load-balancer-ip-mode-proxy-has-no-vip"),
    pytest.param(service(type="LoadBalancer", ingress=[{"ip": LB_IP}],
                         externalTrafficPolicy="Local"), [REMOTE], (LB_IP, 80, "TCP"),
                 {"external": True}, "DROP", id="load-balancer-etp-local-without-local-drops"),
    pytest.param(service(type="LoadBalancer", ingress=[{"ip": LB_IP}],
                         loadBalancerSourceRanges=["10.0.0.0/8"]), [REMOTE],
                 (LB_IP, 80, "TCP"), {"external": True, "src_ip": "192.168.1.1"}, "DROP",
                 id="source-ranges-drop-other-clients"),
    pytest.param(service(type="LoadBalancer", ingress=[{"ip": LB_IP}],
                         loadBalancerSourceRanges=["192.168.0.0/16"]), [REMOTE],
                 (LB_IP, 80, "TCP"), {"external": True, "src_ip": "192.168.1.1"},
                 "10.244.2.5", id="source-ranges-admit-listed-clients"),
    pytest.param(service(externalIPs=[EXT_IP]), [REMOTE], (EXT_IP, 80, "TCP"),
                 {"external": True}, "10.244.2.5", id="external-ip-routes"),
    pytest.param(service(externalIPs=[EXT_IP], externalTrafficPolicy="Local"), [REMOTE],
                 (EXT_IP, 80, "TCP"), {"external": True}, "DROP",
                 id="external-ip-etp-local-without-local-drops"),
])
def test_route_decision(svc, endpoints, dst, kwargs, expected) -> None:
    rules = _rules(svc, *endpoints)
    kwargs = {"src_ip": POD_SRC, **kwargs}
    assert _outcome(rules.route(*dst, now=0.0, **kwargs)) == expected


def test_route_names_backend_and_target_port_by_port_name() -> None:
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": "web"},
                         {"name": "metrics", "port": 9090, "targetPort": 9100}])
    rules = _rules(svc, REMOTE, ports=[("metrics", "TCP", 9100), ("http", "TCP", 8080)])
    assert rules.route(CLUSTER_IP, 80, "TCP", src_ip=POD_SRC, now=0) == Route(
        pod_ip="10.244.2.5", port=8080, node_name="n2", zone="b", pod_name="pod-5",
        pod_namespace="default", service="default/web", port_name="http")
    assert rules.route(CLUSTER_IP, 9090, "TCP", src_ip=POD_SRC, now=0).port == 9100


def test_service_port_missing_from_slices_rejects() -> None:
    rules = _rules(service(), REMOTE, ports=[("other", "TCP", 8080)])
    assert _outcome(rules.route(CLUSTER_IP, 80, "TCP", src_ip=POD_SRC, now=0)) == "REJECT"


def test_random_choice_spreads_over_all_ready_endpoints() -> None:
    eps = [endpoint(f"10.244.{i}.5", f"n{i}", pod=f"p{i}") for i in range(6)]
    rules = _rules(service(), *eps)
    seen = Counter(rules.route(CLUSTER_IP, 80, "TCP", src_ip=POD_SRC, now=0).pod_name
                   for _ in range(600))
    assert set(seen) == {f"p{i}" for i in range(6)}
    assert min(seen.values()) > 60


def test_same_seed_gives_same_choices() -> None:
    eps = [endpoint(f"10.244.{i}.5", f"n{i}") for i in range(5)]
    picks = [[_rules(service(), *eps).route(CLUSTER_IP, 80, "TCP", src_ip=POD_SRC,
                                            now=0).pod_ip for _ in range(20)]
             for _ in range(2)]
    assert picks[0] == picks[1]


def test_topology_hints_keep_traffic_in_zone_and_fail_over() -> None:
    eps = [endpoint(f"10.244.{i}.5", f"n{i}", "abc"[i % 3], hints=["abc"[i % 3]])
           for i in range(6)]
    rules = _rules(service(), *eps)
    zones = {rules.route(CLUSTER_IP, 80, "TCP", src_ip=POD_SRC, now=0).zone for _ in range(100)}
    assert zones == {"a"}
    others = [ep for ep in eps if ep["zone"] != "a"]        # zone a's backends go away
    rules.update_slice(endpoint_slice(endpoints=[
        {**ep, "hints": {"forZones": [{"name": "b"}]}} if ep["zone"] == "b" else ep
        for ep in others]))
    zones = {rules.route(CLUSTER_IP, 80, "TCP", src_ip=POD_SRC, now=0).zone for _ in range(100)}
    assert zones == {"b", "c"}


@pytest.mark.parametrize("timeout, gap, pinned", [
    pytest.param(None, 5.0, True, id="default-timeout-10800s-pins"),
    pytest.param(30, 30.0, True, id="use-within-timeout-pins"),
    pytest.param(30, 31.0, False, id="expired-entry-picks-again"),
])
def test_session_affinity_client_ip(timeout, gap, pinned) -> None:
    cfg = {} if timeout is None else {"sessionAffinityConfig": {"clientIP": {
        "timeoutSeconds": timeout}}}
    eps = [endpoint(f"10.244.{i}.5", f"n{i}") for i in range(8)]
    rules = _rules(service(sessionAffinity="ClientIP", **cfg), *eps)
    picks = {rules.route(CLUSTER_IP, 80, "TCP", src_ip="10.244.9.1", now=n * gap).pod_ip
             for n in range(40)}
    assert (len(picks) == 1) is pinned
    others = {rules.route(CLUSTER_IP, 80, "TCP", src_ip=f"10.244.8.{n}", now=0).pod_ip
              for n in range(40)}
    assert len(others) > 1                                  # clients are not all pinned together


def test_session_affinity_repicks_when_backend_leaves() -> None:
    eps = [endpoint("10.244.1.5", "n1"), endpoint("10.244.2.5", "n2")]
    rules = _rules(service(sessionAffinity="ClientIP"), *eps)
    first = rules.route(CLUSTER_IP, 80, "TCP", src_ip="10.244.9.1", now=0).pod_ip
    rules.update_slice(endpoint_slice(endpoints=[e for e in eps
                                                 if e["addresses"][0] != first]))
    second = rules.route(CLUSTER_IP, 80, "TCP", src_ip="10.244.9.1", now=1).pod_ip
    assert second != first
    rules.update_slice(endpoint_slice(endpoints=eps))       # the old backend returns
    assert rules.route(CLUSTER_IP, 80, "TCP", src_ip="10.244.9.1", now=2).pod_ip == second


def test_without_affinity_a_client_is_not_pinned() -> None:
    eps = [endpoint(f"10.244.{i}.5", f"n{i}") for i in range(8)]
    rules = _rules(service(), *eps)
    picks = {rules.route(CLUSTER_IP, 80, "TCP", src_ip="10.244.9.1", now=0).pod_ip
             for _ in range(40)}
    assert len(picks) > 1


def test_reap_affinity_forgets_only_stale_clients() -> None:
    cfg = {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}
    rules = _rules(service(sessionAffinity="ClientIP", **cfg), REMOTE)
    rules.route(CLUSTER_IP, 80, "TCP", src_ip="10.244.9.1", now=0)
    rules.route(CLUSTER_IP, 80, "TCP", src_ip="10.244.9.2", now=50)
    assert rules.reap_affinity(100) == 1
    assert rules.reap_affinity(100) == 0

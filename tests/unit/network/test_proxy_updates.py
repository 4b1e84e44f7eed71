"""kube-proxy rules under incremental Service / EndpointSlice / Node changes, and at scale."""

from __future__ import annotations

import itertools
import random
import time

from kubemu.network.proxy import Drop, ProxyRules

from tests.unit.network.proxykit import (
    CLUSTER_IP,
    POD_SRC,
    endpoint,
    endpoint_slice,
    service,
)


def _rules(zone: str = "a") -> ProxyRules:
    return ProxyRules("n1", zone, rng=random.Random(3))


def _route(rules: ProxyRules, ip: str = CLUSTER_IP, port: int = 80):
    return rules.route(ip, port, "TCP", src_ip=POD_SRC, now=0.0)


def _many(n: int, start: int = 0) -> list[dict]:
    return [endpoint(f"10.244.{i // 250}.{i % 250 + 1}", f"n{i % 6}", "abc"[i % 3],
                     pod=f"web-{i}") for i in range(start, start + n)]


def test_slice_before_service_is_used_once_service_arrives() -> None:
    rules = _rules()
    rules.update_slice(endpoint_slice(endpoints=[endpoint("10.244.2.5", "n2")]))
    assert _route(rules) is None
    rules.update_service(service())
    assert _route(rules).pod_ip == "10.244.2.5"


def test_slice_changes_apply_incrementally() -> None:
    rules = _rules()
    rules.update_service(service())
    rules.update_slice(endpoint_slice("web-1", endpoints=[endpoint("10.244.2.5", "n2")]))
    rules.update_slice(endpoint_slice("web-2", endpoints=[endpoint("10.244.3.5", "n3")]))
    assert {r.pod_ip for r in rules.endpoints("default/web", "http")} == \
        {"10.244.2.5", "10.244.3.5"}
    rules.update_slice(endpoint_slice("web-1", endpoints=[
        endpoint("10.244.2.5", "n2", ready=False)]))
    assert {r.pod_ip for r in rules.endpoints("default/web", "http")} == {"10.244.3.5"}
    rules.delete_slice(endpoint_slice("web-2"))
    assert _route(rules) == Drop("REJECT", '"default/web:http has no endpoints"')
    rules.delete_service(service())
    assert _route(rules) is None


def test_endpoint_in_two_slices_counts_once_ready_copy_wins() -> None:
    rules = _rules()
    rules.update_service(service())
    rules.update_slice(endpoint_slice("web-1", endpoints=[endpoint("10.244.2.5", "n2")]))
    rules.update_slice(endpoint_slice("web-2", endpoints=[
        endpoint("10.244.2.5", "n2", ready=False)]))
    assert [r.pod_ip for r in rules.endpoints("default/web", "http")] == ["10.244.2.5"]


def test_service_change_moves_its_addresses() -> None:
    rules = _rules()
    rules.update_service(service())
    rules.update_slice(endpoint_slice(endpoints=[endpoint("10.244.2.5", "n2")]))
    rules.update_service(service(cluster_ip="10.96.0.99"))
    assert _route(rules) is None
    assert _route(rules, "10.96.0.99").pod_ip == "10.244.2.5"


def test_slice_relabelled_to_other_service_moves() -> None:
    rules = _rules()
    rules.update_service(service())
    rules.update_service(service("api", cluster_ip="10.96.0.30"))
    rules.update_slice(endpoint_slice("s1", endpoints=[endpoint("10.244.2.5", "n2")]))
    rules.update_slice(endpoint_slice("s1", service="api",
                                      endpoints=[endpoint("10.244.2.5", "n2")]))
    assert isinstance(_route(rules), Drop)
    assert _route(rules, "10.96.0.30").pod_ip == "10.244.2.5"


def test_version_bumps_only_on_changes() -> None:
    rules = _rules()
    versions = [rules.version]
    svc = service()
    slc = endpoint_slice(endpoints=[endpoint("10.244.2.5", "n2")])
    for step in (lambda: rules.update_service(svc), lambda: rules.update_service(svc),
                 lambda: rules.update_slice(slc), lambda: rules.update_slice(slc),
                 lambda: rules.delete_slice(slc), lambda: rules.delete_slice(slc),
                 lambda: rules.delete_service(svc), lambda: rules.delete_service(svc)):
        step()
        versions.append(rules.version)
    changed = [b > a for a, b in itertools.pairwise(versions)]
    assert changed == [True, False, True, False, True, False, True, False]


def test_node_ports_and_load_balancer_ips_are_listed_and_freed() -> None:
    rules = _rules()
    np_svc = service("np", cluster_ip="10.96.0.40", type="NodePort", ports=[
        {"name": "http", "port": 80, "nodePort": 30080},
        {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}])
    lb_svc = service("lb", cluster_ip="10.96.0.41", type="LoadBalancer",
                     ports=[{"port": 443, "nodePort": 30443}], ingress=[{"ip": "127.2.0.1"}])
    rules.update_service(np_svc)
    rules.update_service(lb_svc)
    assert rules.node_ports() == {30080: ("TCP", "default/np"), 30053: ("UDP", "default/np"),
                                  30443: ("TCP", "default/lb")}
    assert rules.load_balancer_ips() == {("127.2.0.1", 443): ("TCP", "default/lb")}
    moved = service("lb", cluster_ip="10.96.0.41", type="LoadBalancer",
                    ports=[{"port": 443, "nodePort": 30443}], ingress=[{"ip": "127.2.0.2"}])
    rules.update_service(moved)                                       # a new ingress IP
    assert rules.load_balancer_ips() == {("127.2.0.2", 443): ("TCP", "default/lb")}
    rules.update_service(service("np", cluster_ip="10.96.0.40"))      # back to ClusterIP
    rules.delete_service(moved)
    assert rules.node_ports() == {}
    assert rules.load_balancer_ips() == {}


def test_node_ports_move_with_services_not_with_endpoints() -> None:
    """What a node's NodePort listeners follow: a Service change moves `service_version`
    and the map; endpoint churn (every pod becoming ready) moves neither."""
    rules = _rules()
    rules.update_service(service("np", cluster_ip="10.96.0.40", type="NodePort",
                                 ports=[{"name": "http", "port": 80, "nodePort": 30080}]))
    before, ports = rules.service_version, rules.node_ports()
    for i in range(5):
        rules.update_slice(endpoint_slice("np-abc", service="np", endpoints=_many(i + 1)))
    assert rules.service_version == before and rules.node_ports() == ports
    rules.update_service(service("np", cluster_ip="10.96.0.40", type="NodePort",
                                 ports=[{"name": "http", "port": 80, "nodePort": 30081}]))
    assert rules.service_version > before
    assert rules.node_ports() == {30081: ("TCP", "default/np")}


def test_affinity_is_reaped_while_endpoint_changes_wait_to_compile() -> None:
    cfg = {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}
    rules = _rules()
    rules.update_service(service(sessionAffinity="ClientIP", **cfg))
    rules.update_slice(endpoint_slice(endpoints=_many(3)))
    first = _route(rules)
    rules.update_slice(endpoint_slice(endpoints=_many(4)))  # compiled when next routed
    assert rules.reap_affinity(30.0) == 0
    assert rules.reap_affinity(100.0) == 1  # the client's entry from time 0
    assert _route(rules) is not None and first is not None


def test_load_balancer_local_listens_only_on_nodes_with_a_local_endpoint() -> None:
    rules = _rules()  # node n1
    lb = service("lb", type="LoadBalancer", externalTrafficPolicy="Local",
                 ports=[{"name": "http", "port": 80, "nodePort": 30080}],
                 ingress=[{"ip": "127.2.0.1"}])
    rules.update_service(lb)
    wanted = {("127.2.0.1", 80): ("TCP", "default/lb")}
    assert rules.load_balancer_ips() == wanted  # no endpoints anywhere: listen, and REJECT
    rules.update_slice(endpoint_slice(service="lb", endpoints=[endpoint("10.244.2.5", "n2")]))
    assert rules.load_balancer_ips() == {}      # the health check fails here
    assert 30080 in rules.node_ports()           # the NodePort stays (and DROPs)
    rules.update_slice(endpoint_slice(service="lb", endpoints=[
        endpoint("10.244.2.5", "n2"), endpoint("10.244.1.5", "n1")]))
    assert rules.load_balancer_ips() == wanted
    rules.update_service(service("lb", type="LoadBalancer", externalTrafficPolicy="Cluster",
                                 ports=[{"name": "http", "port": 80, "nodePort": 30080}],
                                 ingress=[{"ip": "127.2.0.1"}]))
    rules.update_slice(endpoint_slice(service="lb", endpoints=[endpoint("10.244.2.5", "n2")]))
    assert rules.load_balancer_ips() == wanted


def test_node_zone_label_change_reapplies_hints() -> None:
    rules = _rules(zone="")
    rules.update_service(service())
    rules.update_slice(endpoint_slice(endpoints=[
        endpoint("10.244.1.5", "n1", "a", hints=["a"]),
        endpoint("10.244.2.5", "n2", "b", hints=["b"])]))
    assert len(rules.endpoints("default/web", "http")) == 2
    rules.update_node({"metadata": {"name": "n2", "labels": {
        "topology.kubernetes.io/zone": "a"}}})                     # another node: ignored
    assert len(rules.endpoints("default/web", "http")) == 2
    rules.update_node({"metadata": {"name": "n1", "labels": {
        "topology.kubernetes.io/zone": "b"}}})
    assert [r.pod_ip for r in rules.endpoints("default/web", "http")] == ["10.244.2.5"]


def test_250_endpoints_over_3_slices() -> None:
    rules = _rules(zone="")
    rules.update_service(service())
    eps = _many(250)
    for n, chunk in enumerate((eps[:100], eps[100:200], eps[200:])):
        rules.update_slice(endpoint_slice(f"web-{n}", endpoints=chunk))
    assert len(rules.endpoints("default/web", "http")) == 250
    seen = {_route(rules).pod_name for _ in range(5000)}
    assert len(seen) > 240
    rules.update_slice(endpoint_slice("web-2", endpoints=eps[200:210]))
    assert len(rules.endpoints("default/web", "http")) == 210


def test_route_throughput_sanity() -> None:
    rules = _rules(zone="")
    for s in range(200):
        name, ip = f"svc-{s}", f"10.96.{s // 200}.{s % 200 + 1}"
        rules.update_service(service(name, cluster_ip=ip))
        rules.update_slice(endpoint_slice(f"{name}-x", service=name, endpoints=_many(10)))
    rules.update_service(service("sticky", cluster_ip="10.96.9.9", sessionAffinity="ClientIP"))
    rules.update_slice(endpoint_slice("sticky-x", service="sticky", endpoints=_many(10)))
    n = 20000
    for label, ip in (("random", "10.96.0.77"), ("affinity", "10.96.9.9")):
        start = time.perf_counter()
        for _ in range(n):
            rules.route(ip, 80, "TCP", src_ip=POD_SRC, now=1.0)
        per = (time.perf_counter() - start) / n * 1e6
        print(f"route() {label}: {per:.2f} us/connection over 201 services")
    start = time.perf_counter()
    rules.update_slice(endpoint_slice("svc-0-x", service="svc-0", endpoints=_many(100)))
    print(f"update_slice(100 endpoints): {(time.perf_counter() - start) * 1e3:.2f} ms")


def test_a_burst_of_slice_changes_is_compiled_once_when_the_rules_are_next_read(
        monkeypatch) -> None:
    """Every change counts in `version` at once; the rules are rebuilt on the next read and
    route by the last change."""
    rules = _rules()
    rules.update_service(service())
    builds: list[str] = []
    original = ProxyRules._build
    monkeypatch.setattr(ProxyRules, "_build",
                        lambda self, key: (builds.append(key), original(self, key)))
    before = rules.version
    for i in range(5):
        rules.update_slice(endpoint_slice(endpoints=_many(1, start=i)))
    assert rules.version == before + 5 and builds == []
    assert _route(rules).pod_name == "web-4"
    assert _route(rules).pod_name == "web-4"
    assert builds == ["default/web"]


def test_the_same_slice_object_is_parsed_once_for_a_pools_nodes() -> None:
    from kubemu.network.proxy_endpoints import parse_slice

    slc = endpoint_slice(endpoints=_many(3))
    first = parse_slice(slc)
    assert parse_slice(slc) is first  # the next node of the pool: the same object
    copy = endpoint_slice(endpoints=_many(3))
    assert parse_slice(copy) == first and parse_slice(copy) is not first
    changed = endpoint_slice(endpoints=_many(2))
    assert len(parse_slice(changed).endpoints) == 2


def test_a_load_balancer_turned_cluster_ip_closes_its_ingress_listener() -> None:
    rules = _rules()
    lb = service("lb", type="LoadBalancer")
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "127.2.0.9"}]}}
    rules.update_service(lb)
    rules.update_slice(endpoint_slice("lb-1", service="lb", endpoints=_many(2)))
    assert {ip for ip, _ in rules.load_balancer_ips()} == {"127.2.0.9"}
    rules.update_service(service("lb"))
    assert rules.load_balancer_ips() == {}
    assert rules.node_ports() == {}


def test_nodes_sharing_a_table_each_route_by_their_own_node_after_one_parse(
        monkeypatch) -> None:
    """A node pool's kube-proxies share one ServiceTable: an EndpointSlice event is parsed
    and applied once, and every node's rules follow it -- each with its own Local policy."""
    from kubemu.network import proxy_table
    from kubemu.network.proxy_table import ServiceTable

    parses = []
    monkeypatch.setattr(proxy_table, "parse_slice",
                        lambda slc, _parse=proxy_table.parse_slice: (parses.append(1),
                                                                     _parse(slc))[1])
    table = ServiceTable()
    nodes = {name: ProxyRules(name, "a", rng=random.Random(3), table=table)
             for name in ("n0", "n1", "n2")}
    table.update_service(service(internalTrafficPolicy="Local"))
    table.update_slice(endpoint_slice(endpoints=[endpoint("10.244.0.5", "n0"),
                                                 endpoint("10.244.1.5", "n1")]))
    assert len(parses) == 1
    assert _route(nodes["n0"]).pod_ip == "10.244.0.5"
    assert _route(nodes["n1"]).pod_ip == "10.244.1.5"
    assert _route(nodes["n2"]).reason == "DROP"  # no endpoint on n2
    late = ProxyRules("n1", "a", rng=random.Random(3), table=table)  # joins a filled table
    assert _route(late).pod_ip == "10.244.1.5"
    nodes["n2"].close()
    before = nodes["n2"].version
    table.update_slice(endpoint_slice(endpoints=[endpoint("10.244.2.5", "n2")]))
    assert len(parses) == 2 and nodes["n2"].version == before  # no longer following
    assert _route(nodes["n0"]).reason == "DROP" and _route(late).reason == "DROP"

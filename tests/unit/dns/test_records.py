"""Records: every record form of the Kubernetes DNS specification, NXDOMAIN vs NODATA as
CoreDNS answers, pod modes, incremental updates and the version."""

from __future__ import annotations

import pytest
from kubemu.dns.records import RR, Lookup, Records

Z = "cluster.local."
NX = "NXDOMAIN"
OUT = "out of zone"


def service(name: str, *, ns: str = "default", ip: str | None = "10.96.0.5",
            ips: list[str] | None = None, ports: list[dict] | None = None,
            type_: str = "ClusterIP", external: str | None = None,
            publish: bool = False) -> dict:
    spec: dict = {"type": type_, "ports": ports or []}
    if type_ == "ExternalName":
        spec["externalName"] = external
    else:
        spec["clusterIP"] = ip
        spec["clusterIPs"] = ips or ([ip] if ip else [])
    if publish:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def headless(name: str, **kw: object) -> dict:
    return service(name, ip="None", ips=["None"], **kw)  # type: ignore[arg-type]


def port(name: str, number: int, protocol: str = "TCP") -> dict:
    return {"name": name, "port": number, "protocol": protocol}


def ep(ip: str, *, ready: bool | None = True, hostname: str | None = None) -> dict:
    out: dict = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if hostname:
        out["hostname"] = hostname
    return out


def endpoint_slice(name: str, svc: str, endpoints: list[dict], *, ns: str = "default",
                   ports: list[dict] | None = None, family: str = "IPv4") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": family, "ports": ports or [], "endpoints": endpoints}


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def world(pod_mode: str = "insecure") -> Records:
    r = Records(pod_mode=pod_mode)
    for ns in ("default", "kube-system", "empty"):
        r.update_namespace(namespace(ns))
    r.update_service(service("web", ports=[port("http", 80), port("dns", 53, "UDP"),
                                           {"port": 8080, "protocol": "TCP"}]))
    r.update_service(service("dual", ip="10.96.0.6", ips=["10.96.0.6", "fd00::6"]))
    r.update_service(headless("db", ports=[port("pg", 5432)]))
    r.update_slice(endpoint_slice("db-a", "db", [
        ep("10.244.1.2", hostname="db-0"), ep("10.244.1.3"), ep("10.244.1.4", ready=False),
    ], ports=[port("pg", 5432)]))
    r.update_service(headless("lonely"))
    r.update_service(service("ext", type_="ExternalName", external="Example.COM"))
    return r


def expect(got: Lookup, want: object) -> None:
    if want == OUT:
        assert (got.in_zone, got.exists, got.answers) == (False, False, ())
    elif want == NX:
        assert (got.in_zone, got.exists, got.answers) == (True, False, ())
    else:
        assert got.in_zone and got.exists
        assert sorted(rr.data for rr in got.answers) == sorted(want)  # type: ignore[arg-type]


WEB = "web.default.svc." + Z
DB = "db.default.svc." + Z


@pytest.mark.parametrize(("name", "rtype", "want"), [
    pytest.param(WEB, "A", ["10.96.0.5"], id="clusterip-a"),
    pytest.param(WEB, "AAAA", [], id="clusterip-aaaa-nodata"),
    pytest.param("WEB.Default.SVC.Cluster.Local", "a", ["10.96.0.5"], id="case-no-dot"),
    pytest.param("_http._tcp." + WEB, "SRV", [(0, 100, 80, WEB)], id="srv-named-tcp"),
    pytest.param("_DNS._UDP." + WEB, "SRV", [(0, 100, 53, WEB)], id="srv-named-udp"),
    pytest.param("_http._tcp." + WEB, "A", [], id="srv-name-other-type-nodata"),
    pytest.param("_http._udp." + WEB, "SRV", NX, id="srv-wrong-protocol"),
    pytest.param("_8080._tcp." + WEB, "SRV", NX, id="no-srv-for-unnamed-port"),
    pytest.param("_tcp." + WEB, "SRV", NX, id="srv-parent-nxdomain-as-coredns"),
    pytest.param("5.0.96.10.in-addr.arpa.", "PTR", [WEB], id="ptr-clusterip"),
    pytest.param("5.0.96.10.IN-ADDR.ARPA", "A", [], id="ptr-name-other-type-nodata"),
    pytest.param("9.9.96.10.in-addr.arpa.", "PTR", OUT, id="unknown-reverse-out-of-zone"),
    pytest.param("dual.default.svc." + Z, "A", ["10.96.0.6"], id="dual-stack-a"),
    pytest.param("dual.default.svc." + Z, "AAAA", ["fd00::6"], id="dual-stack-aaaa"),
    pytest.param("6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
                 "PTR", ["dual.default.svc." + Z], id="ptr-ipv6-clusterip"),
    pytest.param(DB, "A", ["10.244.1.2", "10.244.1.3"], id="headless-ready-endpoints"),
    pytest.param("db-0." + DB, "A", ["10.244.1.2"], id="headless-hostname"),
    pytest.param("DB-0." + DB.upper(), "A", ["10.244.1.2"], id="headless-hostname-case"),
    pytest.param("10-244-1-3." + DB, "A", ["10.244.1.3"], id="headless-dashed-ip-name"),
    pytest.param("10-244-1-2." + DB, "A", NX, id="hostname-endpoint-has-no-dashed-name"),
    pytest.param("10-244-1-4." + DB, "A", NX, id="not-ready-endpoint-unnamed"),
    pytest.param("_pg._tcp." + DB, "SRV", [(0, 50, 5432, "db-0." + DB),
                                           (0, 50, 5432, "10-244-1-3." + DB)],
                 id="headless-srv-per-endpoint"),
    pytest.param("2.1.244.10.in-addr.arpa.", "PTR", ["db-0." + DB], id="ptr-hostname"),
    pytest.param("3.1.244.10.in-addr.arpa.", "PTR", ["10-244-1-3." + DB], id="ptr-dashed"),
    pytest.param("4.1.244.10.in-addr.arpa.", "PTR", OUT, id="ptr-not-ready-out-of-zone"),
    pytest.param("lonely.default.svc." + Z, "A", NX, id="headless-without-endpoints"),
    pytest.param("ext.default.svc." + Z, "A", ["example.com."], id="externalname-cname"),
    pytest.param("ext.default.svc." + Z, "MX", ["example.com."], id="externalname-any-type"),
    pytest.param("_http._tcp.ext.default.svc." + Z, "SRV", NX, id="externalname-no-srv"),
    pytest.param("dns-version." + Z, "TXT", ["1.1.0"], id="dns-version"),
    pytest.param("dns-version." + Z, "A", [], id="dns-version-other-type-nodata"),
    pytest.param(Z, "A", [], id="apex-nodata"),
    pytest.param("svc." + Z, "A", [], id="svc-nodata"),
    pytest.param("pod." + Z, "A", [], id="pod-nodata"),
    pytest.param("default.svc." + Z, "A", [], id="namespace-nodata"),
    pytest.param("empty.svc." + Z, "A", [], id="empty-namespace-nodata"),
    pytest.param("nope.svc." + Z, "A", NX, id="unknown-namespace-nxdomain"),
    pytest.param("missing.default.svc." + Z, "A", NX, id="unknown-service"),
    pytest.param("foo." + Z, "A", NX, id="neither-svc-nor-pod"),
    pytest.param("a.b." + DB, "A", NX, id="too-long"),
    pytest.param("example.com.", "A", OUT, id="out-of-zone"),
    pytest.param("cluster.local.example.com.", "A", OUT, id="zone-as-prefix-out-of-zone"),
    pytest.param("10-244-1-9.default.pod." + Z, "A", ["10.244.1.9"], id="pod-insecure-a"),
    pytest.param("10-244-1-9.default.pod." + Z, "AAAA", [], id="pod-a-only-nodata"),
    pytest.param("fd00--9.default.pod." + Z, "AAAA", ["fd00::9"], id="pod-ipv6"),
    pytest.param("10-244-1.default.pod." + Z, "A", NX, id="pod-malformed"),
    pytest.param("10-244-1-999.default.pod." + Z, "A", NX, id="pod-bad-octet"),
    pytest.param("10-244-1-9.nope.pod." + Z, "A", NX, id="pod-unknown-namespace"),
    pytest.param("default.pod." + Z, "A", [], id="pod-namespace-nodata"),
])
def test_lookup_answers_every_record_form(name: str, rtype: str, want: object) -> None:
    expect(world().lookup(name, rtype), want)


@pytest.mark.parametrize(("mode", "name", "want"), [
    pytest.param("disabled", "10-244-1-9.default.pod." + Z, NX, id="disabled-no-pod-names"),
    pytest.param("disabled", "default.pod." + Z, NX, id="disabled-namespace-nxdomain"),
    pytest.param("disabled", "pod." + Z, [], id="disabled-pod-label-nodata"),
    pytest.param("insecure", "10-1-2-3.default.pod." + Z, ["10.1.2.3"], id="insecure-any"),
    pytest.param("verified", "10-244-1-9.default.pod." + Z, ["10.244.1.9"],
                 id="verified-pod-has-ip"),
    pytest.param("verified", "fd00--9.default.pod." + Z, [], id="verified-second-ip-aaaa-nodata"),
    pytest.param("verified", "10-244-1-8.default.pod." + Z, NX, id="verified-unknown-ip"),
    pytest.param("verified", "10-244-1-9.kube-system.pod." + Z, NX,
                 id="verified-other-namespace"),
    pytest.param("verified", "10-244-1-7.default.pod." + Z, NX, id="verified-terminating"),
])
def test_pod_modes(mode: str, name: str, want: object) -> None:
    r = world(mode)
    r.update_pod({"metadata": {"name": "p1", "namespace": "default"},
                  "status": {"podIP": "10.244.1.9",
                             "podIPs": [{"ip": "10.244.1.9"}, {"ip": "fd00::9"}]}})
    r.update_pod({"metadata": {"name": "p2", "namespace": "default",
                               "deletionTimestamp": "2026-01-01T00:00:00Z"},
                  "status": {"podIP": "10.244.1.7"}})
    expect(r.lookup(name, "A"), want)


def test_verified_pod_name_goes_away_with_the_pod() -> None:
    r = Records(pod_mode="verified")
    pod = {"metadata": {"name": "p", "namespace": "default"}, "status": {"podIP": "10.0.0.1"}}
    r.update_pod(pod)
    expect(r.lookup("10-0-0-1.default.pod." + Z, "A"), ["10.0.0.1"])
    r.delete_pod(pod)
    expect(r.lookup("10-0-0-1.default.pod." + Z, "A"), NX)


def test_publish_not_ready_addresses_lists_every_endpoint() -> None:
    r = Records()
    r.update_service(headless("db", publish=True))
    r.update_slice(endpoint_slice("db-a", "db", [ep("10.0.0.1", ready=False),
                                                 ep("10.0.0.2", ready=None)]))
    expect(r.lookup(DB, "A"), ["10.0.0.1", "10.0.0.2"])
    r.update_service(headless("db"))  # without it, only ready (and unset-ready) endpoints
    expect(r.lookup(DB, "A"), ["10.0.0.2"])


def test_dual_stack_headless_endpoint_answers_both_families() -> None:
    r = Records()
    r.update_service(headless("db"))
    pg = [port("pg", 5432)]
    r.update_slice(endpoint_slice("db-v4", "db", [ep("10.0.0.1", hostname="db-0")], ports=pg))
    r.update_slice(endpoint_slice("db-v6", "db", [ep("fd00::1", hostname="db-0")], ports=pg,
                                  family="IPv6"))
    r.update_slice(endpoint_slice("db-fqdn", "db", [ep("db.example.com")], family="FQDN"))
    expect(r.lookup("db-0." + DB, "A"), ["10.0.0.1"])
    expect(r.lookup("db-0." + DB, "AAAA"), ["fd00::1"])
    expect(r.lookup(DB, "AAAA"), ["fd00::1"])
    expect(r.lookup("_pg._tcp." + DB, "SRV"), [(0, 100, 5432, "db-0." + DB)])
    expect(r.lookup("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
                    "PTR"), ["db-0." + DB])


def test_unnamed_endpoint_ipv6_gets_the_coredns_dashed_name() -> None:
    r = Records()
    r.update_service(headless("db"))
    r.update_slice(endpoint_slice("db-v6", "db", [ep("fd00::1")], family="IPv6"))
    expect(r.lookup("fd00--1." + DB, "AAAA"), ["fd00::1"])


def test_externalname_that_is_an_address_publishes_nothing() -> None:
    r = Records()
    r.update_service(service("ext", type_="ExternalName", external="1.2.3.4"))
    expect(r.lookup("ext.default.svc." + Z, "A"), NX)


def test_two_services_sharing_an_endpoint_address_share_its_reverse_name() -> None:
    r = Records()
    for name in ("a", "b"):
        r.update_service(headless(name))
        r.update_slice(endpoint_slice(f"{name}-1", name, [ep("10.0.0.1", hostname="x")]))
    ptr = "1.0.0.10.in-addr.arpa."
    expect(r.lookup(ptr, "PTR"), ["x.a.default.svc." + Z, "x.b.default.svc." + Z])
    r.delete_service(headless("a"))
    expect(r.lookup(ptr, "PTR"), ["x.b.default.svc." + Z])
    expect(r.lookup("x.a.default.svc." + Z, "A"), NX)
    expect(r.lookup("x.b.default.svc." + Z, "A"), ["10.0.0.1"])


def test_slice_before_service_and_relabelled_slice() -> None:
    r = Records()
    slc = endpoint_slice("s1", "a", [ep("10.0.0.1")])
    r.update_slice(slc)
    expect(r.lookup("a.default.svc." + Z, "A"), NX)
    r.update_service(headless("a"))
    r.update_service(headless("b"))
    expect(r.lookup("a.default.svc." + Z, "A"), ["10.0.0.1"])
    r.update_slice(endpoint_slice("s1", "b", [ep("10.0.0.1")]))
    expect(r.lookup("a.default.svc." + Z, "A"), NX)
    expect(r.lookup("b.default.svc." + Z, "A"), ["10.0.0.1"])
    r.delete_slice(endpoint_slice("s1", "b", []))
    expect(r.lookup("b.default.svc." + Z, "A"), NX)


def test_version_bumps_on_every_change_and_only_then() -> None:
    r = Records()
    v = r.version
    svc = service("web")
    r.update_service(svc)
    assert r.version > v
    v = r.version
    r.update_service(service("web"))  # same content: answers cannot change
    assert r.version == v
    r.update_service(service("web", ip="10.96.0.7"))
    assert r.version > v
    expect(r.lookup(WEB, "A"), ["10.96.0.7"])
    expect(r.lookup("5.0.96.10.in-addr.arpa.", "PTR"), OUT)
    v = r.version
    r.update_namespace(namespace("default"))
    assert r.version > v
    v = r.version
    r.delete_service(svc)
    assert r.version > v
    expect(r.lookup(WEB, "A"), NX)
    assert r.names == 1  # only dns-version is left


def test_namespaces_exist_until_fed_then_from_namespaces_services_and_pods() -> None:
    r = Records()
    expect(r.lookup("anything.svc." + Z, "A"), [])  # not fed: every namespace exists
    r.update_namespace(namespace("default"))
    expect(r.lookup("anything.svc." + Z, "A"), NX)
    r.update_service(service("web", ns="anything"))
    expect(r.lookup("anything.svc." + Z, "A"), [])
    r.delete_namespace(namespace("default"))
    expect(r.lookup("default.svc." + Z, "A"), NX)


def test_configurable_zone_and_invalid_pod_mode() -> None:
    r = Records(zone="Example.Test.")
    r.update_service(service("web"))
    assert r.zone == "example.test"
    expect(r.lookup("web.default.svc.example.test", "A"), ["10.96.0.5"])
    expect(r.lookup(WEB, "A"), OUT)
    with pytest.raises(ValueError):
        Records(pod_mode="sometimes")


def test_a_thousand_services_with_ten_endpoints_each() -> None:
    r = Records()
    for i in range(1000):
        r.update_service(service(f"s{i}", ip=f"10.96.{i // 256}.{i % 256}",
                                 ports=[port("http", 80)]))
        r.update_service(headless(f"h{i}", ports=[port("http", 80)]))
        r.update_slice(endpoint_slice(f"h{i}-x", f"h{i}", [
            ep(f"10.{i // 256}.{i % 256}.{j}", hostname=f"h{i}-{j}") for j in range(10)],
            ports=[port("http", 8080)]))
    expect(r.lookup("s999.default.svc." + Z, "A"), ["10.96.3.231"])
    got = r.lookup("_http._tcp.h999.default.svc." + Z, "SRV")
    assert [rr.data[1:3] for rr in got.answers] == [(10, 8080)] * 10
    assert len(r.lookup("h7.default.svc." + Z, "A").answers) == 10
    # per ClusterIP Service: name, SRV, PTR; per headless: name, SRV, 10 names, 10 PTRs
    assert r.names == 1 + 1000 * 3 + 1000 * 22
    assert isinstance(got.answers[0], RR)

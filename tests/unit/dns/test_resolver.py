"""Resolver: every response shape read back with dnslib as dig would show it, EDNS sizes and
TC, case preservation, malformed queries, forwarding, and the precomputed-answer cache.
The record table is the real `kubemu.dns.records.Records`, fed with Kubernetes dicts."""

from __future__ import annotations

import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSHeader, DNSQuestion, DNSRecord
from kubemu.dns.records import RR, Records
from kubemu.dns.resolver import Forward, Resolver

SOA = "SOA"


def service(name: str, spec: dict, ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def endpoint_slice(svc: str, ips: list[str], *, ports: list[dict], hostnames: bool = False,
                   not_ready: tuple[str, ...] = ()) -> dict:
    endpoints = []
    for i, ip in enumerate(ips):
        endpoint: dict = {"addresses": [ip], "conditions": {"ready": ip not in not_ready}}
        if hostnames:
            endpoint["hostname"] = f"{svc}-{i}"
        endpoints.append(endpoint)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{svc}-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}


def cluster() -> Records:
    records = Records()
    http = [{"name": "http", "port": 80, "protocol": "TCP"}]
    records.update_service(service("web", {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"],
                                           "ports": http}))
    records.update_service(service("db", {"clusterIP": "None", "ports": []}))
    records.update_slice(endpoint_slice("db", ["10.244.1.2", "10.244.1.3", "10.244.1.4"],
                                        ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}],
                                        hostnames=True, not_ready=("10.244.1.4",)))
    records.update_service(service("many", {"clusterIP": "None", "ports": []}))
    records.update_slice(endpoint_slice("many", [f"10.244.2.{i}" for i in range(1, 101)],
                                        ports=http))
    records.update_service(service("ext", {"type": "ExternalName",
                                           "externalName": "example.com"}))
    records.update_service(service("alias", {"type": "ExternalName",
                                             "externalName": "web.default.svc.cluster.local"}))
    return records


def query(name: str, qtype: str = "A", *, id_: int = 0x1234, edns: int | None = None,
          version: int = 0, qclass: str = "IN") -> bytes:
    q = DNSRecord(DNSHeader(id=id_, rd=1), q=DNSQuestion(name, getattr(QTYPE, qtype),
                                                       {"IN": 1, "CH": 3}[qclass]))
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns, version=version))
    return q.pack()


def ask(resolver: Resolver, name: str, qtype: str = "A", **kw) -> DNSRecord:
    tcp = kw.pop("tcp", False)
    out = resolver.answer(query(name, qtype, **kw), tcp=tcp)
    assert isinstance(out, bytes), out
    return DNSRecord.parse(out)


def rrs(section: list) -> set[tuple[str, str, str]]:
    return {(str(rr.rname).lower(), QTYPE[rr.rtype], str(rr.rdata)) for rr in section
            if rr.rtype != QTYPE.OPT}


W = "web.default.svc.cluster.local."
DB = "db.default.svc.cluster.local."
SRV_WEB = "_http._tcp.web.default.svc.cluster.local."


@pytest.mark.parametrize("name,qtype,rcode,answer,additional", [
    pytest.param(W, "A", "NOERROR", {(W, "A", "10.96.0.5")}, set(), id="service-a"),
    pytest.param(W, "AAAA", "NOERROR", set(), set(), id="ipv4-service-aaaa-is-nodata"),
    pytest.param(W, "MX", "NOERROR", set(), set(), id="other-type-is-nodata"),
    pytest.param(W, "ANY", "NOERROR", set(), set(), id="any-is-nodata-like-coredns"),
    pytest.param("nope.default.svc.cluster.local.", "A", "NXDOMAIN", set(), set(),
                 id="missing-service-nxdomain"),
    pytest.param(SRV_WEB, "SRV", "NOERROR", {(SRV_WEB, "SRV", f"0 100 80 {W}")},
                 {(W, "A", "10.96.0.5")}, id="srv-with-target-address-in-additional"),
    pytest.param(DB, "A", "NOERROR", {(DB, "A", "10.244.1.2"), (DB, "A", "10.244.1.3")}, set(),
                 id="headless-ready-endpoints-only"),
    pytest.param("_pg._tcp." + DB, "SRV", "NOERROR",
                 {("_pg._tcp." + DB, "SRV", f"0 50 5432 db-{i}.{DB}") for i in (0, 1)},
                 {(f"db-{i}.{DB}", "A", f"10.244.1.{i + 2}") for i in (0, 1)},
                 id="headless-srv-per-endpoint-with-addresses"),
    pytest.param("db-1." + DB, "A", "NOERROR", {("db-1." + DB, "A", "10.244.1.3")}, set(),
                 id="headless-endpoint-hostname"),
    pytest.param("5.0.96.10.in-addr.arpa.", "PTR", "NOERROR",
                 {("5.0.96.10.in-addr.arpa.", "PTR", W)}, set(), id="ptr-of-cluster-ip"),
    pytest.param("dns-version.cluster.local.", "TXT", "NOERROR",
                 {("dns-version.cluster.local.", "TXT", '"1.1.0"')}, set(), id="txt-dns-version"),
    pytest.param("10-244-1-9.default.pod.cluster.local.", "A", "NOERROR",
                 {("10-244-1-9.default.pod.cluster.local.", "A", "10.244.1.9")}, set(),
                 id="pod-record-insecure"),
    pytest.param("ext.default.svc.cluster.local.", "CNAME", "NOERROR",
                 {("ext.default.svc.cluster.local.", "CNAME", "example.com.")}, set(),
                 id="externalname-cname"),
    pytest.param("ext.default.svc.cluster.local.", "A", "NOERROR",
                 {("ext.default.svc.cluster.local.", "CNAME", "example.com.")}, set(),
                 id="externalname-a-without-forwarding-is-cname-only"),
    pytest.param("alias.default.svc.cluster.local.", "A", "NOERROR",
                 {("alias.default.svc.cluster.local.", "CNAME", W), (W, "A", "10.96.0.5")},
                 set(), id="externalname-to-zone-name-chased-locally"),
    pytest.param("cluster.local.", "NS", "NOERROR",
                 {("cluster.local.", "NS", "ns.dns.cluster.local.")}, set(), id="apex-ns"),
])
def test_in_zone_answers_are_authoritative_with_the_records(name, qtype, rcode, answer,
                                                            additional):
    response = ask(Resolver(cluster(), forward=False), name, qtype)
    assert RCODE[response.header.rcode] == rcode
    assert response.header.aa and response.header.qr and response.header.rd
    assert rrs(response.rr) == answer
    assert rrs(response.ar) == additional
    assert all(rr.ttl == 5 for rr in response.rr + response.ar)
    negative = not answer
    assert [QTYPE[rr.rtype] for rr in response.auth] == ([SOA] if negative else [])


def test_soa_is_shaped_like_corednss_with_the_zone_in_the_clients_case():
    records = cluster()
    response = ask(Resolver(records, ttl=30, wall=lambda: 1_700_000_000.5),
                   "Nope.Default.Svc.Cluster.Local.", "A")
    (soa,) = response.auth
    assert str(soa.rname) == "Cluster.Local." and soa.ttl == 30
    assert str(soa.rdata) == "ns.dns.cluster.local. hostmaster.cluster.local. " \
                             "1700000000 7200 1800 86400 30"
    apex = ask(Resolver(records, ttl=600), "cluster.local.", "SOA")
    assert [QTYPE[rr.rtype] for rr in apex.rr] == [SOA] and not apex.auth
    assert apex.rr[0].ttl == 300 and str(apex.rr[0].rdata).endswith(f" {records.version} "
                                                                   "7200 1800 86400 600")


def test_the_clients_spelling_of_the_name_is_kept_in_question_and_answer():
    response = ask(Resolver(cluster()), "WeB.DeFault.SVC.cluster.LOCAL.", "A")
    assert str(response.q.qname) == "WeB.DeFault.SVC.cluster.LOCAL."
    assert str(response.rr[0].rname) == "WeB.DeFault.SVC.cluster.LOCAL."
    assert str(response.rr[0].rdata) == "10.96.0.5"


@pytest.mark.parametrize("raw,expected", [
    pytest.param(b"", None, id="empty-is-silence"),
    pytest.param(b"\x12\x34\x01\x00\x00", None, id="shorter-than-a-header-is-silence"),
    pytest.param(b"\x12\x34\x81\x00" + b"\x00" * 8, None, id="a-response-is-ignored"),
    pytest.param(b"\x12\x34\x29\x00\x00\x01" + b"\x00" * 6, "NOTIMP", id="update-opcode"),
    pytest.param(b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6, "FORMERR", id="two-questions"),
    pytest.param(b"\x12\x34\x01\x00\x00\x00" + b"\x00" * 6, "FORMERR", id="no-question"),
    pytest.param(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x09" + b"\x00" * 5, "FORMERR",
                 id="absurd-additional-count"),
    pytest.param(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\x07def",
                 "FORMERR", id="truncated-question"),
    pytest.param(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
                 "FORMERR", id="pointer-to-itself"),
    pytest.param(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\xc0\x0e\x00\x01\x00\x01",
                 "FORMERR", id="pointer-forward"),
    pytest.param(query(W) + b"junk", "FORMERR", id="trailing-garbage"),
    pytest.param(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x40" + b"a" * 64 +
                 b"\x00\x00\x01\x00\x01", "FORMERR", id="label-longer-than-63"),
])
def test_malformed_queries_get_formerr_notimp_or_silence_with_the_query_id(raw, expected):
    out = Resolver(cluster()).answer(raw)
    if expected is None:
        assert out is None
        return
    response = DNSRecord.parse(out)
    assert response.header.id == 0x1234 and response.header.qr
    assert RCODE[response.header.rcode] == expected
    assert response.header.rd == (raw[2] & 1)
    assert not (response.questions or response.rr or response.auth or response.ar)


@pytest.mark.parametrize("raw,expected", [
    pytest.param(query(W, qclass="CH"), "REFUSED", id="chaos-class-refused"),
    pytest.param(query("cluster.local.", "AXFR"), "REFUSED", id="zone-transfer-refused"),
    pytest.param(query("example.com."), "REFUSED", id="out-of-zone-without-forwarding"),
])
def test_queries_we_do_not_serve_are_refused(raw, expected):
    response = DNSRecord.parse(Resolver(cluster(), forward=False).answer(raw))
    assert RCODE[response.header.rcode] == expected and not response.header.aa
    assert str(response.q.qname) == str(DNSRecord.parse(raw).q.qname)


def test_edns_queries_get_our_opt_and_plain_queries_none():
    resolver = Resolver(cluster())
    plain = ask(resolver, W)
    assert not [rr for rr in plain.ar if rr.rtype == QTYPE.OPT]
    edns = ask(resolver, W, edns=4096)
    (opt,) = [rr for rr in edns.ar if rr.rtype == QTYPE.OPT]
    assert opt.rclass == 1232 and opt.ttl == 0


def test_unknown_edns_version_is_badvers_without_a_question():
    response = ask(Resolver(cluster()), W, edns=1232, version=1)
    (opt,) = response.ar
    assert opt.rtype == QTYPE.OPT and (opt.ttl >> 24) == 1 and (opt.ttl >> 16) & 0xFF == 0
    assert response.header.rcode == 0 and not response.questions and not response.rr


@pytest.mark.parametrize("edns,tcp,limit,complete", [
    pytest.param(None, False, 512, False, id="udp-without-edns-fits-512"),
    pytest.param(100, False, 512, False, id="tiny-edns-size-counts-as-512"),
    pytest.param(1232, False, 1232, False, id="udp-fits-client-size"),
    pytest.param(4096, False, 4096, True, id="large-client-size-takes-all"),
    pytest.param(None, True, 65535, True, id="tcp-takes-all"),
])
def test_large_answers_are_truncated_over_udp_with_tc_and_complete_over_tcp(edns, tcp, limit,
                                                                            complete):
    out = Resolver(cluster()).answer(query("many.default.svc.cluster.local.", edns=edns),
                                     tcp=tcp)
    response = DNSRecord.parse(out)
    assert len(out) <= limit
    assert bool(response.header.tc) == (not complete)
    assert (len(response.rr) == 100) == complete
    assert response.rr, "miekg/dns keeps the records that fit"
    if edns is not None:
        assert response.ar[-1].rtype == QTYPE.OPT


def test_out_of_zone_names_are_forwarded_and_answered_from_upstream():
    resolver = Resolver(cluster())
    forward = resolver.answer(query("Example.COM.", "A"))
    assert isinstance(forward, Forward)
    assert (forward.question.name, forward.question.rtype) == ("Example.COM.", "A")
    assert str(forward.question.qname) == "Example.COM."
    response = DNSRecord.parse(resolver.forwarded(
        forward, [RR("example.com.", "A", "93.184.216.34")], 0))
    assert response.header.id == 0x1234 and response.header.ra and not response.header.aa
    assert rrs(response.rr) == {("example.com.", "A", "93.184.216.34")}
    assert str(response.rr[0].rname) == "Example.COM."
    failed = DNSRecord.parse(resolver.forwarded(forward, None, 0))
    assert RCODE[failed.header.rcode] == "SERVFAIL" and not failed.rr
    nx = DNSRecord.parse(resolver.forwarded(forward, [], 3))
    assert RCODE[nx.header.rcode] == "NXDOMAIN"


def test_unknown_reverse_names_are_forwarded():
    forward = Resolver(cluster()).answer(query("9.9.9.9.in-addr.arpa.", "PTR"))
    assert isinstance(forward, Forward) and forward.question.rtype == "PTR"


def test_externalname_target_is_resolved_upstream_behind_the_cname():
    resolver = Resolver(cluster())
    forward = resolver.answer(query("ext.default.svc.cluster.local.", "A"))
    assert isinstance(forward, Forward)
    assert (forward.question.name, forward.question.rtype) == ("example.com.", "A")
    response = DNSRecord.parse(resolver.forwarded(
        forward, [RR("example.com.", "A", "93.184.216.34")], 0))
    assert [QTYPE[rr.rtype] for rr in response.rr] == ["CNAME", "A"]
    assert response.header.aa and RCODE[response.header.rcode] == "NOERROR"
    unresolved = DNSRecord.parse(resolver.forwarded(forward, None, 2))
    assert rrs(unresolved.rr) == {("ext.default.svc.cluster.local.", "CNAME", "example.com.")}
    assert RCODE[unresolved.header.rcode] == "NOERROR"


def test_cached_answers_are_the_same_bytes_under_the_new_id():
    resolver = Resolver(cluster())
    first = resolver.answer(query(W, id_=1))
    second = resolver.answer(query(W, id_=2))
    assert resolver.hits == 1 and resolver.misses == 1
    assert first[2:] == second[2:] and second[:2] == b"\x00\x02"
    upper = DNSRecord.parse(resolver.answer(query(W.upper(), id_=3)))
    assert str(upper.q.qname) == W.upper() and resolver.misses == 2


def test_the_cache_keeps_udp_and_tcp_apart():
    resolver = Resolver(cluster())
    raw = query("many.default.svc.cluster.local.")
    udp, tcp = resolver.answer(raw), resolver.answer(raw, tcp=True)
    assert DNSRecord.parse(udp).header.tc and not DNSRecord.parse(tcp).header.tc
    assert resolver.answer(raw) == udp and resolver.answer(raw, tcp=True) == tcp


def test_a_records_version_change_drops_the_cache():
    records = cluster()
    resolver = Resolver(records)
    raw = query("new.default.svc.cluster.local.")
    assert RCODE[DNSRecord.parse(resolver.answer(raw)).header.rcode] == "NXDOMAIN"
    records.update_service(service("new", {"clusterIP": "10.96.0.9",
                                           "clusterIPs": ["10.96.0.9"]}))
    response = DNSRecord.parse(resolver.answer(raw))
    assert rrs(response.rr) == {("new.default.svc.cluster.local.", "A", "10.96.0.9")}


def test_the_cache_is_bounded_oldest_out_and_skips_malformed_queries():
    resolver = Resolver(cluster(), cache_entries=3)
    for i in range(10):
        resolver.answer(query(f"s{i}.default.svc.cluster.local."))
        resolver.answer(b"\x00\x01\x01\x00\x00\x01" + struct.pack("!HHH", 0, 0, 0) + bytes([i]))
    assert resolver.cached_answers == 3
    hits = resolver.hits
    resolver.answer(query("s9.default.svc.cluster.local."))
    assert resolver.hits == hits + 1
    resolver.answer(query("s0.default.svc.cluster.local."))
    assert resolver.hits == hits + 1 and resolver.cached_answers == 3

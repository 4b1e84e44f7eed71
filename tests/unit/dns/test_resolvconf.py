"""The emulated pod resolv.conf, formed as the kubelet forms it (dnsPolicy, dnsConfig, limits),
its text, and the order in which a glibc-like stub tries names (ndots, search list)."""

from __future__ import annotations

import pytest
from kubemu.dns.resolvconf import (
    ResolvConf,
    parse_resolv_conf,
    pod_resolv_conf,
    pod_resolv_conf_for,
)

CLUSTER_SEARCH = ("web.svc.cluster.local", "svc.cluster.local", "cluster.local")
HOST = ResolvConf(("192.0.2.53", "192.0.2.54"), ("corp.example",), ("timeout:2",))


@pytest.mark.parametrize(("kwargs", "want"), [
    pytest.param({}, ResolvConf(("10.96.0.10",), CLUSTER_SEARCH, ("ndots:5",)),
                 id="cluster-first-default"),
    pytest.param({"host": HOST},
                 ResolvConf(("10.96.0.10",), (*CLUSTER_SEARCH, "corp.example"), ("ndots:5",)),
                 id="cluster-first-appends-host-searches-not-host-servers"),
    pytest.param({"zone": "kubemu.test"},
                 ResolvConf(("10.96.0.10",), ("web.svc.kubemu.test", "svc.kubemu.test",
                                              "kubemu.test"), ("ndots:5",)),
                 id="cluster-domain-configurable"),
    pytest.param({"host_network": True, "host": HOST}, HOST,
                 id="cluster-first-on-host-network-falls-back-to-default"),
    pytest.param({"host_network": True, "dns_policy": "ClusterFirstWithHostNet"},
                 ResolvConf(("10.96.0.10",), CLUSTER_SEARCH, ("ndots:5",)),
                 id="cluster-first-with-host-net-keeps-cluster-dns"),
    pytest.param({"nameserver": None, "host": HOST}, HOST,
                 id="no-cluster-dns-configured-falls-back-to-default"),
    pytest.param({"dns_policy": "Default", "host": HOST}, HOST, id="default-is-the-node-file"),
    pytest.param({"dns_policy": "Default"}, ResolvConf(("127.0.0.1",), (".",), ()),
                 id="default-without-node-file-is-localhost"),
    pytest.param({"dns_policy": "None", "dns_config": {
        "nameservers": ["1.1.1.1"], "searches": ["a.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}},
        ResolvConf(("1.1.1.1",), ("a.example",), ("ndots:2", "edns0")),
        id="none-takes-only-dns-config"),
    pytest.param({"dns_config": {
        "nameservers": ["10.96.0.10", "1.1.1.1"], "searches": ["svc.cluster.local", "x.example"],
        "options": [{"name": "ndots", "value": "1"}, {"name": "single-request-reopen"}]}},
        ResolvConf(("10.96.0.10", "1.1.1.1"), (*CLUSTER_SEARCH, "x.example"),
                   ("ndots:1", "single-request-reopen")),
        id="dns-config-appends-without-duplicates-and-overrides-options-by-name"),
    pytest.param({"dns_policy": "None", "dns_config": {
        "nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]}},
        ResolvConf(("1.1.1.1", "2.2.2.2", "3.3.3.3"), (), ()),
        id="at-most-three-nameservers"),
])
def test_pod_resolv_conf_follows_the_kubelet(kwargs, want) -> None:
    assert pod_resolv_conf("web", **kwargs) == want


def test_search_list_limits_drop_long_domains_and_trailing_ones() -> None:
    long_domain = "x" * 254
    many = [f"d{i:02d}.{'y' * 90}.example" for i in range(40)]
    conf = pod_resolv_conf("web", dns_policy="None",
                           dns_config={"searches": [long_domain, *many]})
    assert long_domain not in conf.searches
    assert len(conf.searches) <= 32 and len(" ".join(conf.searches)) <= 2048
    assert conf.searches == tuple(many[:len(conf.searches)])


def test_pod_dict_gives_namespace_policy_config_and_host_network() -> None:
    pod = {"metadata": {"name": "p", "namespace": "shop"},
           "spec": {"dnsPolicy": "ClusterFirst", "hostNetwork": False,
                    "dnsConfig": {"options": [{"name": "ndots", "value": "3"}]}}}
    conf = pod_resolv_conf_for(pod)
    assert conf.searches[0] == "shop.svc.cluster.local" and conf.ndots == 3


def test_text_is_the_file_a_pod_sees() -> None:
    assert pod_resolv_conf("default").text() == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n")


def test_parse_reads_a_node_file_as_the_kubelet_does() -> None:
    text = ("# generated\nnameserver 192.0.2.53\nsearch old.example\n"
            "search corp.example. lab.example\nnameserver 192.0.2.54\n"
            "options rotate\noptions timeout:2\n\n")
    assert parse_resolv_conf(text) == ResolvConf(("192.0.2.53", "192.0.2.54"),
                                                 ("corp.example", "lab.example"),
                                                 ("timeout:2",))
    assert parse_resolv_conf(parse_resolv_conf(text).text()) == parse_resolv_conf(text)


POD = pod_resolv_conf("default")


@pytest.mark.parametrize(("conf", "name", "want"), [
    pytest.param(POD, "my-svc", ["my-svc.default.svc.cluster.local.",
                                 "my-svc.svc.cluster.local.", "my-svc.cluster.local.",
                                 "my-svc."], id="short-name-search-list-first"),
    pytest.param(POD, "my-svc.other", ["my-svc.other.default.svc.cluster.local.",
                                       "my-svc.other.svc.cluster.local.",
                                       "my-svc.other.cluster.local.", "my-svc.other."],
                 id="service-dot-namespace-under-ndots"),
    pytest.param(POD, "a.b.c.d.example", ["a.b.c.d.example.default.svc.cluster.local.",
                                          "a.b.c.d.example.svc.cluster.local.",
                                          "a.b.c.d.example.cluster.local.",
                                          "a.b.c.d.example."], id="four-dots-still-under-5"),
    pytest.param(POD, "a.b.c.d.e.example", ["a.b.c.d.e.example.",
                                            "a.b.c.d.e.example.default.svc.cluster.local.",
                                            "a.b.c.d.e.example.svc.cluster.local.",
                                            "a.b.c.d.e.example.cluster.local."],
                 id="ndots-reached-tries-as-is-first"),
    pytest.param(POD, "example.com.", ["example.com."], id="trailing-dot-is-absolute"),
    pytest.param(ResolvConf((), ("corp.example",), ("ndots:1",)), "www.example.com",
                 ["www.example.com.", "www.example.com.corp.example."], id="ndots-1"),
    pytest.param(ResolvConf((), (), ()), "host", ["host."], id="no-search-list"),
    pytest.param(ResolvConf((), (".",), ()), "host", ["host."], id="root-search-is-the-name"),
    pytest.param(ResolvConf((), ("a.example",), ("ndots:0",)), "host",
                 ["host.", "host.a.example."], id="ndots-0-always-as-is-first"),
    pytest.param(ResolvConf((), (), ("ndots:30",)), "a", ["a."], id="ndots-capped"),
])
def test_candidates_follow_glibc_search_order(conf: ResolvConf, name: str, want) -> None:
    assert conf.candidates(name) == want


@pytest.mark.parametrize(("options", "ndots"), [
    pytest.param((), 1, id="absent-is-1"),
    pytest.param(("ndots:5",), 5, id="five"),
    pytest.param(("ndots:2", "ndots:4"), 4, id="last-wins"),
    pytest.param(("ndots:99",), 15, id="capped-at-15"),
    pytest.param(("ndots:x",), 1, id="garbage-ignored"),
])
def test_ndots_option(options, ndots) -> None:
    assert ResolvConf((), (), options).ndots == ndots

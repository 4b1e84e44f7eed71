"""CategorizeEndpoints (upstream topology.go) and EndpointSlice parsing for kube-proxy."""

from __future__ import annotations

import pytest
from kubemu.network.proxy_endpoints import categorize, parse_slice

from tests.unit.network.proxykit import endpoint, endpoint_slice


def _eps(*endpoints: dict):
    return parse_slice(endpoint_slice(endpoints=list(endpoints))).endpoints


def _ips(eps) -> set[str]:
    return {ep.ip for ep in eps}


@pytest.mark.parametrize("endpoints, zone, cluster, local, has_any", [
    pytest.param([endpoint("10.0.0.1", "n1"), endpoint("10.0.0.2", "n2")], "a",
                 {"10.0.0.1", "10.0.0.2"}, {"10.0.0.1"}, True, id="ready-all-cluster"),
    pytest.param([endpoint("10.0.0.1", "n1", ready=False), endpoint("10.0.0.2", "n2")], "a",
                 {"10.0.0.2"}, set(), True, id="unready-excluded-and-no-local"),
    pytest.param([endpoint("10.0.0.1", "n1", ready=False, serving=True, terminating=True),
                  endpoint("10.0.0.2", "n2", ready=False, serving=True, terminating=True)],
                 "a", {"10.0.0.1", "10.0.0.2"}, {"10.0.0.1"}, True,
                 id="no-ready-falls-back-to-serving-terminating"),
    pytest.param([endpoint("10.0.0.1", "n1", ready=False, serving=False, terminating=True)],
                 "a", set(), set(), False, id="terminating-not-serving-is-no-endpoint"),
    pytest.param([endpoint("10.0.0.1", "n1", ready=False, serving=True, terminating=True),
                  endpoint("10.0.0.2", "n2")], "a", {"10.0.0.2"}, {"10.0.0.1"}, True,
                 id="ready-wins-over-terminating-but-local-falls-back"),
    pytest.param([endpoint("10.0.0.1", "n1", ready=None)], "a", {"10.0.0.1"}, {"10.0.0.1"},
                 True, id="absent-ready-condition-means-ready"),
    pytest.param([endpoint("10.0.0.1", "n1", "a", hints=["a"]),
                  endpoint("10.0.0.2", "n2", "b", hints=["b"]),
                  endpoint("10.0.0.3", "n3", "a", hints=["a"])], "a",
                 {"10.0.0.1", "10.0.0.3"}, {"10.0.0.1"}, True, id="hints-keep-traffic-in-zone"),
    pytest.param([endpoint("10.0.0.1", "n1", "a", hints=["a"]),
                  endpoint("10.0.0.2", "n2", "b")], "a",
                 {"10.0.0.1", "10.0.0.2"}, {"10.0.0.1"}, True,
                 id="one-ready-endpoint-without-hints-disables-topology"),
    pytest.param([endpoint("10.0.0.1", "n1", "a", hints=["a"]),
                  endpoint("10.0.0.2", "n2", "b", ready=False)], "a",
                 {"10.0.0.1"}, {"10.0.0.1"}, True, id="unready-endpoint-without-hints-ignored"),
    pytest.param([endpoint("10.0.0.1", "n2", "b", hints=["b"]),
                  endpoint("10.0.0.2", "n3", "c", hints=["c"])], "a",
                 {"10.0.0.1", "10.0.0.2"}, set(), True,
                 id="no-endpoint-hinted-for-this-zone-ignores-hints"),
    pytest.param([endpoint("10.0.0.1", "n1", "a", hints=["a"]),
                  endpoint("10.0.0.2", "n2", "b", hints=["b"])], "",
                 {"10.0.0.1", "10.0.0.2"}, {"10.0.0.1"}, True,
                 id="node-without-zone-ignores-hints"),
    pytest.param([endpoint("10.0.0.1", "n2", "b", hints=["a", "b"]),
                  endpoint("10.0.0.2", "n3", "c", hints=["c"])], "a",
                 {"10.0.0.1"}, set(), True, id="endpoint-hinted-for-several-zones"),
    pytest.param([endpoint("10.0.0.1", "n1", "a", ready=False, serving=True, terminating=True,
                           hints=["a"]),
                  endpoint("10.0.0.2", "n2", "b", ready=False, serving=True, terminating=True,
                           hints=["b"])], "a", {"10.0.0.1", "10.0.0.2"}, {"10.0.0.1"}, True,
                 id="terminating-fallback-ignores-hints"),
])
def test_categorize_follows_upstream(endpoints, zone, cluster, local, has_any) -> None:
    got = categorize(_eps(*endpoints), node_name="n1", zone=zone)
    assert (_ips(got.cluster), _ips(got.local), got.has_any) == (cluster, local, has_any)


@pytest.mark.parametrize("mutate, ignored", [
    pytest.param(lambda s: s["metadata"]["labels"].clear(), True, id="no-service-name-label"),
    pytest.param(lambda s: s.update(addressType="FQDN"), True, id="fqdn-slice"),
    pytest.param(lambda s: s.update(addressType="IPv6"), True, id="ipv6-slice"),
    pytest.param(lambda s: None, False, id="ipv4-slice-kept"),
])
def test_parse_slice_ignores_what_kube_proxy_ignores(mutate, ignored) -> None:
    slc = endpoint_slice(endpoints=[endpoint("10.0.0.1", "n1")])
    mutate(slc)
    assert (parse_slice(slc) is None) is ignored


def test_parse_slice_reads_ports_target_ref_and_defaults() -> None:
    slc = endpoint_slice(endpoints=[endpoint("10.0.0.1", "n1", "z", pod="web-1"),
                                    {"addresses": []}])
    slc["ports"].append({"port": 53})
    slc["ports"].append({"name": "none"})
    parsed = parse_slice(slc)
    assert parsed.service == "default/web"
    assert parsed.ports == (("http", "TCP", 8080), ("", "TCP", 53))
    (ep,) = parsed.endpoints
    assert (ep.pod_name, ep.pod_namespace, ep.zone, ep.terminating) == \
        ("web-1", "default", "z", False)

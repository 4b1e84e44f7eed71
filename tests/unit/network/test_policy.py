"""NetworkPolicy verdicts: one table of policies and connections, checked against upstream."""

from __future__ import annotations

import pytest

from tests.unit.network.policykit import cluster, labels, peer, policy

DENY_INGRESS = policy("deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
WEB_FROM_CLIENTS = policy("web-from-clients", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"podSelector": labels(app="client")}]}]})
WEB_FROM_TEAM_A = policy("web-from-team-a", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"namespaceSelector": labels(team="a")}]}]})
WEB_FROM_TEAM_A_CLIENTS = policy("and", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"namespaceSelector": labels(team="a"),
                           "podSelector": labels(app="client")}]}]})
WEB_FROM_TEAM_A_OR_CLIENTS = policy("or", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"namespaceSelector": labels(team="a")},
                          {"podSelector": labels(app="client")}]}]})
WEB_FROM_DEV_BY_NAME = policy("dev-by-name", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "dev"}}}]}]})
WEB_FROM_STAGING_BY_NAME = policy("staging-by-name", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "staging"}}}]}]})
WEB_NAMED_PORT = policy("named", {
    "podSelector": labels(app="web"), "ingress": [{"ports": [{"port": "http"}]}]})
WEB_NAMED_UDP_PORT_AS_TCP = policy("named-udp", {
    "podSelector": labels(app="web"), "ingress": [{"ports": [{"port": "metrics"}]}]})
WEB_PORT_RANGE = policy("range", {
    "podSelector": labels(app="web"), "ingress": [{"ports": [{"port": 8000, "endPort": 8100}]}]})
WEB_PORT_8080 = policy("tcp-8080", {
    "podSelector": labels(app="web"), "ingress": [{"ports": [{"port": 8080}]}]})
WEB_UDP_ANY_PORT = policy("udp-any", {
    "podSelector": labels(app="web"), "ingress": [{"ports": [{"protocol": "UDP"}]}]})
WEB_FROM_IPBLOCK = policy("ipblock", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24",
                                       "except": ["203.0.113.128/25"]}}]}]})
WEB_FROM_PROD_CIDR = policy("pod-cidr", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.2.0/24"}}]}]})
WEB_ALLOW_ALL_RULE = policy("allow-all", {"podSelector": labels(app="web"), "ingress": [{}]})
EGRESS_DNS_ONLY = policy("egress-dns-only", {
    "podSelector": {}, "policyTypes": ["Egress"],
    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                            "kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": labels(**{"k8s-app": "kube-dns"})}],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]})
EGRESS_NAMED_DNS = policy("egress-named-dns", {
    "podSelector": labels(app="client"), "policyTypes": ["Egress"],
    "egress": [{"ports": [{"port": "dns", "protocol": "UDP"}]}]})
EGRESS_TO_EXTERNAL = policy("egress-external", {
    "podSelector": labels(app="client"), "policyTypes": ["Egress"],
    "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]})
# No policyTypes: egress rules present, so Egress is isolated too.
WEB_DEFAULTED_BOTH = policy("defaulted-both", {
    "podSelector": labels(app="web"),
    "ingress": [{"from": [{"podSelector": labels(app="client")}]}],
    "egress": [{"to": [{"podSelector": labels(app="client")}]}]})
# Explicit policyTypes Egress: the ingress rules are ignored, ingress stays open.
WEB_EGRESS_TYPE_ONLY = policy("egress-type-only", {
    "podSelector": labels(app="web"), "policyTypes": ["Egress"],
    "ingress": [{"from": [{"podSelector": labels(app="nobody")}]}],
    "egress": [{"to": [{"podSelector": labels(app="client")}]}]})
# Deny-all egress everywhere in default; the ingress side of the destination allows it.
DENY_EGRESS = policy("deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]})
INTERNET = "8.8.8.8"


CASES = [
    # id, policies, src, dst, port, protocol, allowed
    pytest.param([], "default/client", "default/web", 8080, "TCP", True, id="no-policies-allow-all"),
    pytest.param([DENY_INGRESS], "default/client", "default/web", 8080, "TCP", False,
                 id="default-deny-ingress-blocks-same-namespace"),
    pytest.param([DENY_INGRESS], "prod/client", "default/web", 8080, "TCP", False,
                 id="default-deny-ingress-blocks-other-namespace"),
    pytest.param([DENY_INGRESS], INTERNET, "default/web", 8080, "TCP", False,
                 id="default-deny-ingress-blocks-hosts"),
    pytest.param([DENY_INGRESS], "default/web", "prod/client", 80, "TCP", True,
                 id="default-deny-ingress-leaves-egress-open"),
    pytest.param([DENY_INGRESS], "prod/client", "prod/other", 80, "TCP", True,
                 id="pods-in-namespaces-without-policies-unaffected"),
    pytest.param([DENY_INGRESS], "default/web", "default/web", 8080, "TCP", True,
                 id="a-pod-always-reaches-itself"),
    pytest.param([DENY_INGRESS], "127.1.0.1@node-1", "default/web", 8080, "TCP", True,
                 id="the-pods-own-node-always-reaches-it"),
    pytest.param([DENY_INGRESS], "127.1.0.2@node-2", "default/web", 8080, "TCP", False,
                 id="another-node-is-a-host-like-any-other"),
    pytest.param([WEB_FROM_CLIENTS], "default/client", "default/web", 8080, "TCP", True,
                 id="pod-label-allows-matching-pod"),
    pytest.param([WEB_FROM_CLIENTS], "default/db", "default/web", 8080, "TCP", False,
                 id="pod-label-denies-other-pods"),
    pytest.param([WEB_FROM_CLIENTS], "prod/client", "default/web", 8080, "TCP", False,
                 id="pod-selector-alone-means-own-namespace"),
    pytest.param([WEB_FROM_CLIENTS], "default/client", "default/db", 5432, "TCP", True,
                 id="unselected-pod-in-same-namespace-unaffected"),
    pytest.param([WEB_FROM_TEAM_A], "prod/other", "default/web", 8080, "TCP", True,
                 id="namespace-label-allows-every-pod-there"),
    pytest.param([WEB_FROM_TEAM_A], "dev/client", "default/web", 8080, "TCP", False,
                 id="namespace-label-denies-other-namespaces"),
    pytest.param([WEB_FROM_TEAM_A], "default/client", "default/web", 8080, "TCP", False,
                 id="namespace-selector-does-not-include-own-namespace"),
    pytest.param([WEB_FROM_TEAM_A], "203.0.113.7", "default/web", 8080, "TCP", False,
                 id="namespace-selector-never-matches-hosts"),
    pytest.param([WEB_FROM_DEV_BY_NAME], "dev/client", "default/web", 8080, "TCP", True,
                 id="namespace-name-label-matches"),
    pytest.param([WEB_FROM_STAGING_BY_NAME], "staging/client", "default/web", 8080, "TCP", True,
                 id="namespace-name-label-present-for-unseen-namespace"),
    pytest.param([WEB_FROM_TEAM_A_CLIENTS], "prod/client", "default/web", 8080, "TCP", True,
                 id="anded-selectors-allow-pod-matching-both"),
    pytest.param([WEB_FROM_TEAM_A_CLIENTS], "prod/other", "default/web", 8080, "TCP", False,
                 id="anded-selectors-deny-pod-matching-namespace-only"),
    pytest.param([WEB_FROM_TEAM_A_CLIENTS], "dev/client", "default/web", 8080, "TCP", False,
                 id="anded-selectors-deny-pod-matching-labels-only"),
    pytest.param([WEB_FROM_TEAM_A_OR_CLIENTS], "prod/other", "default/web", 8080, "TCP", True,
                 id="ored-peers-allow-namespace-match"),
    pytest.param([WEB_FROM_TEAM_A_OR_CLIENTS], "default/client", "default/web", 8080, "TCP",
                 True, id="ored-peers-allow-pod-match"),
    pytest.param([WEB_FROM_TEAM_A_OR_CLIENTS], "dev/client", "default/web", 8080, "TCP", False,
                 id="ored-peers-deny-neither"),
    pytest.param([WEB_NAMED_PORT], "dev/client", "default/web", 8080, "TCP", True,
                 id="named-port-resolves-to-container-port"),
    pytest.param([WEB_NAMED_PORT], "dev/client", "default/web", 9090, "TCP", False,
                 id="named-port-denies-other-ports"),
    pytest.param([WEB_NAMED_PORT], "dev/client", "default/web", 8080, "UDP", False,
                 id="named-port-needs-matching-protocol"),
    pytest.param([WEB_NAMED_UDP_PORT_AS_TCP], "dev/client", "default/web", 9090, "UDP", False,
                 id="named-port-of-udp-container-port-needs-udp-rule"),
    pytest.param([WEB_PORT_RANGE], "dev/client", "default/web", 8080, "TCP", True,
                 id="end-port-range-includes-middle"),
    pytest.param([WEB_PORT_RANGE], "dev/client", "default/web", 8000, "TCP", True,
                 id="end-port-range-includes-start"),
    pytest.param([WEB_PORT_RANGE], "dev/client", "default/web", 8100, "TCP", True,
                 id="end-port-range-includes-end"),
    pytest.param([WEB_PORT_RANGE], "dev/client", "default/web", 8101, "TCP", False,
                 id="end-port-range-excludes-beyond"),
    pytest.param([WEB_PORT_8080], "dev/client", "default/web", 8080, "UDP", False,
                 id="port-protocol-defaults-to-tcp"),
    pytest.param([WEB_UDP_ANY_PORT], "dev/client", "default/web", 5000, "UDP", True,
                 id="protocol-without-port-matches-every-port"),
    pytest.param([WEB_FROM_IPBLOCK], "203.0.113.7", "default/web", 8080, "TCP", True,
                 id="ipblock-allows-address-in-cidr"),
    pytest.param([WEB_FROM_IPBLOCK], "203.0.113.200", "default/web", 8080, "TCP", False,
                 id="ipblock-except-denies"),
    pytest.param([WEB_FROM_IPBLOCK], "198.51.100.1", "default/web", 8080, "TCP", False,
                 id="ipblock-denies-outside-cidr"),
    pytest.param([WEB_FROM_IPBLOCK], "2001:db8::1", "default/web", 8080, "TCP", False,
                 id="ipblock-denies-other-ip-family"),
    pytest.param([WEB_FROM_PROD_CIDR], "prod/other", "default/web", 8080, "TCP", True,
                 id="ipblock-matches-pod-ips"),
    pytest.param([WEB_ALLOW_ALL_RULE, DENY_INGRESS], INTERNET, "default/web", 8080, "TCP", True,
                 id="empty-rule-allows-all-sources-and-ports"),
    pytest.param([EGRESS_DNS_ONLY], "default/client", "kube-system/coredns", 53, "UDP", True,
                 id="egress-deny-allows-dns-udp"),
    pytest.param([EGRESS_DNS_ONLY], "default/client", "kube-system/coredns", 53, "TCP", True,
                 id="egress-deny-allows-dns-tcp"),
    pytest.param([EGRESS_DNS_ONLY], "default/client", "kube-system/coredns", 80, "TCP", False,
                 id="egress-deny-blocks-other-ports-to-dns-pod"),
    pytest.param([EGRESS_DNS_ONLY], "default/client", "default/web", 8080, "TCP", False,
                 id="egress-deny-blocks-pods"),
    pytest.param([EGRESS_DNS_ONLY], "default/client", INTERNET, 53, "UDP", False,
                 id="egress-deny-blocks-external-dns"),
    pytest.param([EGRESS_DNS_ONLY], "prod/client", "default/web", 8080, "TCP", True,
                 id="egress-policy-leaves-ingress-open"),
    pytest.param([EGRESS_NAMED_DNS], "default/client", "kube-system/coredns", 53, "UDP", True,
                 id="egress-named-port-resolves-on-destination-pod"),
    pytest.param([EGRESS_NAMED_DNS], "default/client", INTERNET, 53, "UDP", False,
                 id="egress-named-port-never-matches-hosts"),
    pytest.param([EGRESS_TO_EXTERNAL], "default/client", INTERNET, 443, "TCP", True,
                 id="egress-ipblock-allows-internet"),
    pytest.param([EGRESS_TO_EXTERNAL], "default/client", "default/web", 8080, "TCP", False,
                 id="egress-ipblock-except-blocks-pod-network"),
    pytest.param([WEB_FROM_CLIENTS, WEB_PORT_8080], "default/db", "default/web", 8080, "TCP",
                 True, id="union-second-policy-allows"),
    pytest.param([WEB_FROM_CLIENTS, WEB_PORT_8080], "default/client", "default/web", 9999,
                 "TCP", True, id="union-first-policy-allows"),
    pytest.param([WEB_FROM_CLIENTS, WEB_PORT_8080], "default/db", "default/web", 9999, "TCP",
                 False, id="union-neither-allows"),
    pytest.param([WEB_FROM_CLIENTS, DENY_INGRESS], "default/client", "default/web", 8080, "TCP",
                 True, id="union-deny-all-adds-nothing"),
    pytest.param([WEB_FROM_CLIENTS], "default/web", "default/db", 5432, "TCP", True,
                 id="policy-types-default-ingress-only-without-egress-rules"),
    pytest.param([WEB_DEFAULTED_BOTH], "default/web", "default/db", 5432, "TCP", False,
                 id="policy-types-default-adds-egress-with-egress-rules"),
    pytest.param([WEB_DEFAULTED_BOTH], "default/web", "default/client", 80, "TCP", True,
                 id="policy-types-defaulted-egress-rule-allows"),
    pytest.param([WEB_EGRESS_TYPE_ONLY], "default/db", "default/web", 8080, "TCP", True,
                 id="policy-types-explicit-egress-ignores-ingress-rules"),
    pytest.param([WEB_EGRESS_TYPE_ONLY], "default/web", "default/db", 5432, "TCP", False,
                 id="policy-types-explicit-egress-isolates-egress"),
    pytest.param([DENY_EGRESS, WEB_ALLOW_ALL_RULE], "default/client", "default/web", 8080,
                 "TCP", False, id="needs-egress-at-source-even-if-ingress-allows"),
    pytest.param([WEB_FROM_CLIENTS], "dev/client", "default/web", 8080, "TCP", False,
                 id="needs-ingress-at-destination-even-if-egress-open"),
]


@pytest.mark.parametrize("policies, src, dst, port, protocol, allowed", CASES)
def test_connection_verdict(policies, src, dst, port, protocol, allowed):
    engine = cluster(*policies)
    verdict = engine.allowed(peer(engine, src), peer(engine, dst), port, protocol)
    assert verdict.allowed is allowed, verdict.reason

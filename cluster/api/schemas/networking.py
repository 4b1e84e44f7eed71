"""OpenAPI schemas of networking.k8s.io/v1 (NetworkPolicy, Ingress) and discovery.k8s.io/v1
(EndpointSlice).

Upstream 1.32 shapes under upstream's definition names. NetworkPolicy rules, peers and ports
are atomic lists (a patch replaces them whole), as upstream marks them; an empty rule list and
an absent one mean different things, which the policy engine (not the schema) decides.
EndpointSlice is the discovery API kube-proxy and DNS read: endpoints carry their own ready /
serving / terminating conditions, zone and topology hints.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.dsl import (
    array, boolean, define, int_or_string, integer, ref, string, string_map)
from kubemu.cluster.api.schemas.meta import LABEL_SELECTOR, define_kind

__all__ = ["NETWORKING", "DISCOVERY"]

NETWORKING = "io.k8s.api.networking.v1."
DISCOVERY = "io.k8s.api.discovery.v1."
_CORE = "io.k8s.api.core.v1."

# -- NetworkPolicy ----------------------------------------------------------------------------

define(NETWORKING + "IPBlock",
       "A CIDR range of peer addresses, minus some sub-ranges.", {
           "cidr": string("The range, such as 192.168.1.0/24 or 2001:db8::/64."),
           "except": array(string(), "Sub-ranges of cidr that are excluded.",
                           list_type="atomic"),
       }, required=("cidr",))

define(NETWORKING + "NetworkPolicyPeer",
       "Who a rule allows: pods by label (in namespaces by label), or an IP block.", {
           "podSelector": ref(LABEL_SELECTOR, "Pods allowed; with namespaceSelector, in "
                                              "those namespaces, otherwise in the policy's "
                                              "own namespace."),
           "namespaceSelector": ref(LABEL_SELECTOR, "Namespaces whose pods are allowed "
                                                    "(all of them without podSelector)."),
           "ipBlock": ref(NETWORKING + "IPBlock", "Addresses allowed; only when no "
                                                  "selector is set."),
       })

define(NETWORKING + "NetworkPolicyPort", "A port (or port range) a rule allows.", {
    "protocol": string("TCP (the default), UDP or SCTP.", enum=["SCTP", "TCP", "UDP"]),
    "port": int_or_string("A port number or a named container port; unset means every "
                          "port."),
    "endPort": integer("With a numeric port, the last port of the range port..endPort."),
})

define(NETWORKING + "NetworkPolicyIngressRule",
       "Traffic allowed into the selected pods: from any of the peers to any of the ports.", {
           "ports": array(ref(NETWORKING + "NetworkPolicyPort"),
                          "Allowed ports; empty or absent means every port.",
                          list_type="atomic"),
           "from": array(ref(NETWORKING + "NetworkPolicyPeer"),
                         "Allowed sources; empty or absent means every source.",
                         list_type="atomic"),
       })

define(NETWORKING + "NetworkPolicyEgressRule",
       "Traffic allowed out of the selected pods: to any of the peers on any of the ports.", {
           "ports": array(ref(NETWORKING + "NetworkPolicyPort"),
                          "Allowed ports; empty or absent means every port.",
                          list_type="atomic"),
           "to": array(ref(NETWORKING + "NetworkPolicyPeer"),
                       "Allowed destinations; empty or absent means every destination.",
                       list_type="atomic"),
       })

define(NETWORKING + "NetworkPolicySpec", "Which pods a NetworkPolicy isolates and what it "
                                         "allows.", {
    "podSelector": ref(LABEL_SELECTOR, "The pods the policy applies to, in its namespace; "
                                       "empty selects every pod."),
    "ingress": array(ref(NETWORKING + "NetworkPolicyIngressRule"),
                     "Allowed inbound traffic (summed over policies).", list_type="atomic"),
    "egress": array(ref(NETWORKING + "NetworkPolicyEgressRule"),
                    "Allowed outbound traffic (summed over policies).", list_type="atomic"),
    "policyTypes": array(string(enum=["Egress", "Ingress"]),
                         "Directions the policy isolates: Ingress, Egress or both. Defaults "
                         "to Ingress, plus Egress when egress rules are given.",
                         list_type="atomic"),
})

define_kind(NETWORKING + "NetworkPolicy",
            "Which traffic is allowed to and from a set of pods; pods selected by no "
            "policy are not isolated.", {
                "spec": ref(NETWORKING + "NetworkPolicySpec", "The desired policy."),
            }, group="networking.k8s.io", version="v1")

# -- Ingress ----------------------------------------------------------------------------------

define(NETWORKING + "ServiceBackendPort", "A Service port, by name or by number.", {
    "name": string("The Service port's name."),
    "number": integer("The Service port's number."),
})

define(NETWORKING + "IngressServiceBackend", "A Service traffic is sent to.", {
    "name": string("The Service's name, in the Ingress's namespace."),
    "port": ref(NETWORKING + "ServiceBackendPort", "The Service port."),
}, required=("name",))

define(NETWORKING + "IngressBackend",
       "Where matching requests go: a Service, or another object (exactly one).", {
           "service": ref(NETWORKING + "IngressServiceBackend", "A Service backend."),
           "resource": ref(_CORE + "TypedLocalObjectReference",
                           "An object in the Ingress's namespace, such as a storage bucket."),
       })

define(NETWORKING + "HTTPIngressPath", "A path routed to a backend.", {
    "path": string("The path matched against the request's path; must start with /."),
    "pathType": string("Exact, Prefix (by path element) or ImplementationSpecific.",
                       enum=["Exact", "ImplementationSpecific", "Prefix"]),
    "backend": ref(NETWORKING + "IngressBackend", "Where matching requests go."),
}, required=("pathType", "backend"))

define(NETWORKING + "HTTPIngressRuleValue", "HTTP routing for a host.", {
    "paths": array(ref(NETWORKING + "HTTPIngressPath"), "Paths and their backends.",
                   list_type="atomic"),
}, required=("paths",))

define(NETWORKING + "IngressRule", "Routing for one host (or every host).", {
    "host": string("The host name matched, possibly with a leading *. wildcard; empty "
                   "matches every host."),
    "http": ref(NETWORKING + "HTTPIngressRuleValue", "HTTP paths for this host."),
})

define(NETWORKING + "IngressTLS", "TLS for a set of hosts.", {
    "hosts": array(string(), "Hosts the certificate covers.", list_type="atomic"),
    "secretName": string("The Secret holding the certificate and key."),
})

define(NETWORKING + "IngressSpec", "The desired routing of an Ingress.", {
    "ingressClassName": string("The IngressClass (controller) that implements this "
                               "Ingress."),
    "defaultBackend": ref(NETWORKING + "IngressBackend",
                          "Where requests matching no rule go."),
    "tls": array(ref(NETWORKING + "IngressTLS"), "TLS configuration.", list_type="atomic"),
    "rules": array(ref(NETWORKING + "IngressRule"), "Host and path rules.",
                   list_type="atomic"),
})

define(NETWORKING + "IngressPortStatus", "The state of one port of a load balancer.", {
    "port": integer("The port number."),
    "protocol": string("TCP, UDP or SCTP.", enum=["SCTP", "TCP", "UDP"]),
    "error": string("Why the port has a problem, in CamelCase; empty when fine."),
}, required=("port", "protocol"))

define(NETWORKING + "IngressLoadBalancerIngress", "An address of the load balancer.", {
    "ip": string("An IP address."),
    "hostname": string("A DNS name."),
    "ports": array(ref(NETWORKING + "IngressPortStatus"), "The state of its ports.",
                   list_type="atomic"),
})

define(NETWORKING + "IngressLoadBalancerStatus", "The load balancer of an Ingress.", {
    "ingress": array(ref(NETWORKING + "IngressLoadBalancerIngress"),
                     "Addresses the Ingress is reachable at.", list_type="atomic"),
})

define(NETWORKING + "IngressStatus", "The observed state of an Ingress.", {
    "loadBalancer": ref(NETWORKING + "IngressLoadBalancerStatus",
                        "The load balancer's addresses."),
})

define_kind(NETWORKING + "Ingress",
            "HTTP(S) routing from outside the cluster to Services, by host and path.", {
                "spec": ref(NETWORKING + "IngressSpec", "The desired routing."),
                "status": ref(NETWORKING + "IngressStatus", "The observed state; "
                                                            "read-only."),
            }, group="networking.k8s.io", version="v1")

# -- EndpointSlice ----------------------------------------------------------------------------

define(DISCOVERY + "EndpointConditions", "The state of one endpoint.", {
    "ready": boolean("Whether the endpoint should receive traffic: its pod is ready and not "
                     "terminating (unless the Service publishes not-ready addresses)."),
    "serving": boolean("Like ready, but regardless of termination: a terminating pod that "
                       "still passes readiness is serving."),
    "terminating": boolean("Whether the endpoint's pod is terminating."),
})

define(DISCOVERY + "ForZone", "A zone an endpoint should serve.", {
    "name": string("The zone's name."),
}, required=("name",))

define(DISCOVERY + "ForNode", "A node an endpoint should serve.", {
    "name": string("The node's name."),
}, required=("name",))

define(DISCOVERY + "EndpointHints", "Topology-aware routing hints for an endpoint.", {
    "forZones": array(ref(DISCOVERY + "ForZone"), "Zones whose clients should use this "
                                                  "endpoint.", list_type="atomic"),
    "forNodes": array(ref(DISCOVERY + "ForNode"), "Nodes whose clients should use this "
                                                  "endpoint.", list_type="atomic"),
})

define(DISCOVERY + "Endpoint", "One backend of a Service: usually a pod.", {
    "addresses": array(string(), "The endpoint's addresses, of the slice's addressType; "
                                 "consumers use the first.", list_type="set"),
    "conditions": ref(DISCOVERY + "EndpointConditions", "The endpoint's state."),
    "hostname": string("The endpoint's hostname, for DNS records."),
    "targetRef": ref(_CORE + "ObjectReference", "The object (pod) behind the endpoint."),
    "deprecatedTopology": string_map("Deprecated topology labels; use zone and nodeName."),
    "nodeName": string("The node hosting the endpoint."),
    "zone": string("The zone the endpoint is in."),
    "hints": ref(DISCOVERY + "EndpointHints", "Topology-aware routing hints."),
}, required=("addresses",))

define(DISCOVERY + "EndpointPort", "A port served by the endpoints of a slice.", {
    "name": string("The port's name, matching the Service port's name."),
    "protocol": string("TCP (the default), UDP or SCTP.", enum=["SCTP", "TCP", "UDP"]),
    "port": integer("The port number; unset means every port."),
    "appProtocol": string("The application protocol, such as http or "
                          "kubernetes.io/h2c."),
})

define_kind(DISCOVERY + "EndpointSlice",
            "A subset of a Service's endpoints (at most 100 by default), maintained by the "
            "EndpointSlice controller and read by kube-proxy and DNS.", {
                "addressType": string("IPv4, IPv6 or FQDN: the type of every address in "
                                      "the slice.", enum=["FQDN", "IPv4", "IPv6"]),
                "endpoints": array(ref(DISCOVERY + "Endpoint"), "The endpoints.",
                                   list_type="atomic"),
                "ports": array(ref(DISCOVERY + "EndpointPort"),
                               "The ports every endpoint serves.", list_type="atomic"),
            }, group="discovery.k8s.io", version="v1",
            required=("addressType", "endpoints"))

"""Cluster addons, as kubeadm installs them once the API answers: today the `kube-dns`
Service in kube-system at 10.96.0.10 (the tenth address of the service CIDR, the
`clusterDNS` every kubelet hands its pods), with kubeadm's ports (53/UDP `dns`, 53/TCP
`dns-tcp`, 9153/TCP `metrics`) and selector (`k8s-app: kube-dns`). Applying is idempotent:
a cluster restarted over the same store finds its addons in place.
"""

from __future__ import annotations

from typing import Any

from kubemu.cluster.api.errors import AlreadyExists, Invalid, NotFound

__all__ = ["KUBE_DNS_IP", "ensure_addons", "kube_dns_service"]

KUBE_DNS_IP = "10.96.0.10"


def kube_dns_service() -> dict:
    labels = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
              "kubernetes.io/name": "CoreDNS"}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels,
                         "annotations": {"prometheus.io/port": "9153",
                                         "prometheus.io/scrape": "true"}},
            "spec": {"clusterIP": KUBE_DNS_IP, "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP",
                                "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP",
                                "targetPort": 53},
                               {"name": "metrics", "port": 9153, "protocol": "TCP",
                                "targetPort": 9153}]}}


async def ensure_addons(client: Any) -> None:
    """Create the addons that are missing. A Service that exists answers a create with
    Invalid (its ClusterIP is taken, which the API server checks first, as upstream's does)
    rather than AlreadyExists: kubeadm takes either as "already there", and so does this."""
    for obj in (kube_dns_service(),):
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        try:
            await client.create(obj, namespace=ns)
        except (AlreadyExists, Invalid) as refused:
            try:
                await client.get(obj["apiVersion"], obj["kind"], name, namespace=ns)
            except NotFound:
                raise refused from None  # invalid for another reason: a real error


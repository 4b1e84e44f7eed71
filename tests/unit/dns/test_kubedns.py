"""KubeDNS: Services, EndpointSlices, Namespaces and Pods changed through the real API reach
the record table (in-process API server, virtual time)."""

from __future__ import annotations

import asyncio

from kubemu.cluster.client.factory import InformerFactory
from kubemu.dns.kubedns import KubeDNS
from kubemu.dns.records import Records

from tests import vtime
from tests.kube import api, eventually

Z = "cluster.local."


def service(name: str, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80}], **spec}}


def answers(records: Records, name: str, rtype: str = "A") -> list | None:
    """The answer data, or None for NXDOMAIN."""
    got = records.lookup(name, rtype)
    return sorted(rr.data for rr in got.answers) if got.exists else None


def test_services_and_slices_through_the_api_reach_the_records() -> None:
    async def main() -> None:
        async with api() as kube:
            records = Records()
            dns = KubeDNS(kube.client, kube.timing, records)
            task = asyncio.create_task(dns.run())
            await eventually(lambda: dns.synced(0), what="informers synced")
            web = "web.default.svc." + Z
            assert answers(records, web) is None
            assert answers(records, "nope.svc." + Z) is None  # namespaces are known now
            assert answers(records, "default.svc." + Z) == []

            created = await kube.client.create(service("web"), namespace="default")
            ip = created["spec"]["clusterIP"]
            await eventually(lambda: answers(records, web) == [ip], what="Service resolves")
            assert answers(records, "_http._tcp." + web, "SRV") == [(0, 100, 80, web)]

            await kube.client.create(service("db", clusterIP="None"), namespace="default")
            db = "db.default.svc." + Z
            assert answers(records, db) is None  # headless without endpoints: NXDOMAIN
            await kube.client.create({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "db-1", "namespace": "default",
                             "labels": {"kubernetes.io/service-name": "db"}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                "endpoints": [{"addresses": ["10.244.1.5"], "hostname": "db-0",
                               "conditions": {"ready": True}}]}, namespace="default")
            await eventually(lambda: answers(records, "db-0." + db) == ["10.244.1.5"],
                             what="headless endpoint resolves")

            await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "team"}})
            await eventually(lambda: answers(records, "team.svc." + Z) == [],
                             what="new namespace answers NODATA")

            version = records.version
            await kube.client.delete("v1", "Service", "web", namespace="default")
            await eventually(lambda: answers(records, web) is None, what="NXDOMAIN")
            assert records.version > version
            await kube.client.delete("discovery.k8s.io/v1", "EndpointSlice", "db-1",
                                     namespace="default")
            await eventually(lambda: answers(records, db) is None, what="endpoints gone")
            await dns.stop()
            await asyncio.wait_for(task, 10)

    vtime.run(main)


def test_verified_pod_mode_follows_pod_addresses_with_a_shared_factory() -> None:
    async def main() -> None:
        async with api() as kube:
            factory = InformerFactory(kube.client, kube.timing)
            records = Records(pod_mode="verified")
            dns = KubeDNS(kube.client, kube.timing, records, factory=factory)
            task = asyncio.create_task(dns.run())
            await asyncio.sleep(0)
            factory.start()
            await eventually(lambda: dns.synced(0), what="informers synced")
            name = "10-244-2-7.default.pod." + Z
            assert answers(records, name) is None
            await kube.client.create({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                namespace="default")
            await kube.client.patch("v1", "Pod", "p", {"status": {
                "podIP": "10.244.2.7", "podIPs": [{"ip": "10.244.2.7"}]}},
                namespace="default", subresource="status")
            await eventually(lambda: answers(records, name) == ["10.244.2.7"],
                             what="pod name resolves")
            await kube.client.delete("v1", "Pod", "p", namespace="default")
            await eventually(lambda: answers(records, name) is None, what="pod name gone")
            await dns.stop()
            await asyncio.wait_for(task, 10)
            await factory.stop()

    vtime.run(main)

"""Addons are applied idempotently: a cluster restarted over the same store (`kubemu down`,
then `kubemu up` with the same name) finds kube-dns in place instead of failing on its
ClusterIP, which the API server reports as taken before it reports the name as taken."""

from __future__ import annotations

import pytest

from kubemu.actors.addons import KUBE_DNS_IP, ensure_addons, kube_dns_service
from kubemu.cluster.api.errors import Invalid
from tests import vtime
from tests.kube import api


def test_addons_applied_twice_leave_one_kube_dns() -> None:
    async def main() -> None:
        async with api() as kube:
            await ensure_addons(kube.client)
            with pytest.raises(Invalid, match="already allocated"):  # what a re-create meets
                await kube.client.create(kube_dns_service(), namespace="kube-system")
            await ensure_addons(kube.client)
            listed = await kube.client.list("v1", "Service", namespace="kube-system")
            assert [(s["metadata"]["name"], s["spec"]["clusterIP"]) for s in listed["items"]] \
                == [("kube-dns", KUBE_DNS_IP)]

    vtime.run(main)


def test_a_kube_dns_ip_taken_by_another_service_is_an_error() -> None:
    async def main() -> None:
        async with api() as kube:
            other = kube_dns_service()
            other["metadata"]["name"] = "squatter"
            await kube.client.create(other, namespace="kube-system")
            with pytest.raises(Invalid, match="already allocated"):
                await ensure_addons(kube.client)

    vtime.run(main)

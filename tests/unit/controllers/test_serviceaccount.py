"""ServiceAccountController: `default` ServiceAccount and `kube-root-ca.crt` per namespace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.controllers.serviceaccount import (
    DESCRIPTION_ANNOTATION, ROOT_CA_CONFIGMAP, ServiceAccountController,
)
from tests import vtime
from tests.kube import Kube, api, eventually

CA = "-----BEGIN CERTIFICATE-----\nkubemu\n-----END CERTIFICATE-----\n"


@asynccontextmanager
async def _controller(kube: Kube, *, ca_cert: str | None) -> AsyncIterator[None]:
    ctl = ServiceAccountController(kube.client, kube.timing, ca_cert=ca_cert)
    task = asyncio.create_task(ctl.run())
    try:
        yield
    finally:
        await ctl.stop()
        await asyncio.gather(task, return_exceptions=True)


async def _get(kube: Kube, kind: str, name: str, namespace: str) -> dict | None:
    try:
        return await kube.client.get("v1", kind, name, namespace=namespace)
    except NotFound:
        return None


def test_every_namespace_gets_a_default_service_account_recreated_when_deleted() -> None:
    async def main() -> None:
        async with api() as kube, _controller(kube, ca_cert=None):
            await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "team"}})
            for ns in ("default", "kube-system", "team"):
                await eventually(lambda ns=ns: _get(kube, "ServiceAccount", "default", ns),
                                 what=f"default ServiceAccount in {ns}")
            first = await _get(kube, "ServiceAccount", "default", "team")
            await kube.client.delete("v1", "ServiceAccount", "default", namespace="team")

            async def recreated() -> bool:
                sa = await _get(kube, "ServiceAccount", "default", "team")
                return sa is not None and sa["metadata"]["uid"] != first["metadata"]["uid"]

            await eventually(recreated, what="the default ServiceAccount recreated")
            assert await _get(kube, "ConfigMap", ROOT_CA_CONFIGMAP, "team") is None

    vtime.run(main)


@pytest.mark.parametrize("drift", [
    pytest.param(None, id="created-when-missing"),
    pytest.param({"data": {"ca.crt": "stale", "extra": "x"}}, id="stale-data-restored"),
    pytest.param("delete", id="recreated-when-deleted"),
])
def test_root_ca_configmap_is_published_in_every_namespace(drift: dict | str | None) -> None:
    async def main() -> None:
        async with api() as kube, _controller(kube, ca_cert=CA):
            async def published() -> dict | None:
                cm = await _get(kube, "ConfigMap", ROOT_CA_CONFIGMAP, "default")
                return cm if cm is not None and cm.get("data") == {"ca.crt": CA} else None

            cm = await eventually(published, what="kube-root-ca.crt published")
            assert cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION]
            if drift == "delete":
                await kube.client.delete("v1", "ConfigMap", ROOT_CA_CONFIGMAP)
            elif drift is not None:
                await kube.client.patch("v1", "ConfigMap", ROOT_CA_CONFIGMAP, drift)
            await asyncio.sleep(1)
            await eventually(published, what="kube-root-ca.crt back to the CA")

    vtime.run(main)


def test_a_terminating_namespace_gets_no_service_account() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "team"}})
            await kube.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "held", "namespace": "team",
                                                   "finalizers": ["example.com/hold"]}})
            await kube.client.delete("v1", "Namespace", "team")
            async with _controller(kube, ca_cert=CA):
                await eventually(lambda: _get(kube, "ServiceAccount", "default", "default"),
                                 what="default namespace served")
                await asyncio.sleep(10)
                assert await _get(kube, "ServiceAccount", "default", "team") is None

    vtime.run(main)

"""Host names of overlay traffic (`kubemu net`, `Overlay`), resolved as the sending pod's
resolver would resolve them.

`resolve_host(host, conf, dns=..., client=...)`: an IPv4 literal as is; otherwise the
pod's resolv.conf (`conf`) walked by `dns.stub.StubResolver` against the cluster DNS at
`dns` ("host:port", the DNS actor's host address), first A record of the first candidate
that has one. So a headless Service gives one of its ready endpoints, an ExternalName the
address of its CNAME target, a StatefulSet pod's `<hostname>.<svc>` its pod IP. With no
cluster DNS (`dns` empty) the API answers instead: the same candidates, each
`<svc>.<ns>.svc.cluster.local.` looked up as a Service, its clusterIP (headless and
ExternalName Services cannot be resolved that way and say so). Failures are `ResolveError`
("Could not resolve host", curl's exit 6 in the CLI).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import ray
from kubemu.actors.dns import DNS_ACTOR
from kubemu.cluster.api.errors import NotFound
from kubemu.dns.resolvconf import ResolvConf
from kubemu.dns.stub import NotResolved, StubResolver, StubTimeout

__all__ = ["NetError", "ResolveError", "cluster_dns_address", "resolve_host", "search_names"]

CLUSTER_DOMAIN = "cluster.local"


class NetError(Exception):
    """A request that cannot be sent: bad URL, unknown pod or node, no actor."""


class ResolveError(NetError):
    """The host name resolves to no address (curl: "Could not resolve host")."""


async def resolve_host(host: str, conf: ResolvConf, *, dns: str, client: Any) -> str:
    """The address a pod with resolv.conf `conf` connects to for `host`."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    if not dns:
        return await _resolve_by_api(host, conf, client)
    try:
        answer = await StubResolver(dns).lookup(host, conf)
    except NotResolved:
        raise ResolveError(f"Could not resolve host: {host}") from None
    except StubTimeout as exc:
        raise ResolveError(f"Could not resolve host: {host} ({exc})") from None
    return answer.of_type("A")[0].data


async def cluster_dns_address(ray_namespace: str) -> str:
    """The "host:port" of the cluster DNS actor in `ray_namespace`; "" when none runs."""
    try:
        actor = ray.get_actor(DNS_ACTOR, namespace=ray_namespace)
        return await actor.address.remote()
    except (ValueError, ray.exceptions.RayActorError):
        return ""


def search_names(host: str, conf: ResolvConf) -> list[tuple[str, str]]:
    """(service, namespace) pairs `host` may name, in the resolv.conf's search order."""
    out: list[tuple[str, str]] = []
    suffix = f".svc.{CLUSTER_DOMAIN}."
    for name in conf.candidates(host.lower()):
        parts = name[:-len(suffix)].split(".") if name.endswith(suffix) else []
        if len(parts) == 2 and all(parts) and tuple(parts) not in out:
            out.append((parts[0], parts[1]))
    return out


async def _resolve_by_api(host: str, conf: ResolvConf, client: Any) -> str:
    for svc_name, svc_ns in search_names(host, conf):
        try:
            svc = await client.get("v1", "Service", svc_name, namespace=svc_ns)
        except NotFound:
            continue
        return _cluster_ip(svc)
    raise ResolveError(f"Could not resolve host: {host}")


def _cluster_ip(svc: dict) -> str:
    meta, spec = svc["metadata"], svc.get("spec") or {}
    name = f"{meta.get('namespace')}/{meta['name']}"
    if spec.get("type") == "ExternalName":
        raise ResolveError(f"Service {name} is ExternalName ({spec.get('externalName')}): "
                           f"resolving it needs the cluster DNS, which this cluster lacks")
    ip = spec.get("clusterIP")
    if not ip or ip == "None":
        raise ResolveError(f"Service {name} is headless (no clusterIP): its name resolves "
                           f"to pod IPs only through the cluster DNS, which this cluster "
                           f"lacks; use a pod IP")
    return ip

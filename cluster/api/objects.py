"""Object mechanics shared by every verb: encoding, system metadata, timestamps and names.

Objects are stored as orjson bytes without `metadata.resourceVersion`: the resourceVersion of an
object is the store's mod_revision of its key, added on every read, so it can never disagree
with the store. Timestamps are wall-clock RFC 3339 seconds ("2026-11-24T01:02:03Z") as upstream
writes them, from an injected wall clock; generated names take upstream's five characters from
an alphabet without vowels or look-alikes, from an injected seeded RNG.
"""

from __future__ import annotations

import copy
import functools
import random
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson

from kubemu.cluster.api import transformer
from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.registry import Resource

__all__ = [
    "decode", "encode", "kept_json", "rfc3339", "parse_rfc3339", "generate_name", "new_uid", "meta",
    "SYSTEM_FIELDS", "GENERATION_KINDS", "tracks_generation", "spec_of", "qos_class",
    "check_type", "deep_copy",
]

SYSTEM_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds", "generation", "selfLink")
"""metadata fields the server owns; what a client sends for them is replaced."""

# Kinds whose metadata.generation counts spec changes (upstream strategies that set it).
GENERATION_KINDS = frozenset({
    ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"),
    ("apps", "DaemonSet"), ("batch", "Job"), ("batch", "CronJob"),
    ("policy", "PodDisruptionBudget"), ("networking.k8s.io", "NetworkPolicy"),
    ("networking.k8s.io", "Ingress"), ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("discovery.k8s.io", "EndpointSlice"),
})

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def encode(obj: dict) -> bytes:
    """Stored bytes of `obj` (its resourceVersion is not stored; see `transformer`)."""
    md = obj.get("metadata")
    if md and "resourceVersion" in md:
        md = dict(md)
        del md["resourceVersion"]
        obj = {**obj, "metadata": md}
    return transformer.write(orjson.dumps(obj))


def kept_json(obj: Any) -> bytes:
    """orjson.dumps(obj) for bytes kept a while: orjson returns its whole growth buffer (at
    least 4 KiB, the next power of two for larger objects; a 2.5 KB pod holds 8 KiB), so what
    is kept is an exact-sized copy."""
    return bytes(memoryview(orjson.dumps(obj)))


def decode(kv: dict) -> dict:
    """The object a store key-value holds, with resourceVersion = its mod_revision."""
    obj = transformer.loads(kv["value"])
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv["mod_revision"])
    return obj


def deep_copy(obj: Any) -> Any:
    return orjson.loads(orjson.dumps(obj)) if isinstance(obj, dict | list) else copy.copy(obj)


def meta(obj: dict) -> dict:
    """obj["metadata"], created if missing."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    return md


def rfc3339(t: float) -> str:
    return _rfc3339_second(int(t))


@functools.lru_cache(maxsize=64)
def _rfc3339_second(t: int) -> str:
    """Formatting costs microseconds and a node pool stamps thousands of conditions and
    Events a second, nearly all in the same few seconds."""
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def generate_name(prefix: str, rng: random.Random) -> str:
    """`prefix` + 5 random characters; the prefix is cut so the name stays <= 63 chars."""
    return prefix[:58] + "".join(rng.choice(_NAME_ALPHABET) for _ in range(5))


def new_uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def tracks_generation(resource: Resource) -> bool:
    return resource.custom or (resource.group, resource.kind) in GENERATION_KINDS


def spec_of(resource: Resource, obj: dict) -> dict:
    """Everything generation counts: all but metadata and status (for kinds with a status
    subresource) -- for custom resources too."""
    skip = ("metadata", "status", "apiVersion", "kind") if resource.status_separate \
        else ("metadata", "apiVersion", "kind")
    return {k: v for k, v in obj.items() if k not in skip}


def qos_class(pod: dict) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = list((pod.get("spec") or {}).get("containers") or []) + \
        list((pod.get("spec") or {}).get("initContainers") or [])
    requests_any = limits_any = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests_any |= bool(req)
        limits_any |= bool(lim)
        for name in ("cpu", "memory"):
            if name not in lim or str(req.get(name, lim[name])) != str(lim[name]):
                guaranteed = False
    if not requests_any and not limits_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def check_type(resource: Resource, obj: Any) -> dict:
    """The body as an object of `resource`'s kind (apiVersion/kind filled in when missing);
    BadRequest when it is not an object or names another kind."""
    if not isinstance(obj, dict):
        raise BadRequest(f"the body of the request must be a {resource.kind} object, "
                         f"not {type(obj).__name__}")
    api_version = obj.get("apiVersion") or resource.api_version
    kind = obj.get("kind") or resource.kind
    if api_version != resource.api_version:
        raise BadRequest(f"the API version in the data ({api_version}) does not match the "
                         f"expected API version ({resource.api_version})")
    if kind != resource.kind:
        raise BadRequest(f"the kind in the data ({kind}) does not match the expected kind "
                         f"({resource.kind})")
    obj["apiVersion"], obj["kind"] = api_version, kind
    if "metadata" in obj and not isinstance(obj["metadata"], dict):
        raise BadRequest("metadata must be an object")
    return obj

"""NamespaceCache: which namespaces exist and are open, as of a watch, for creates.

Every create in a namespace must find the namespace present and not terminating. Reading it
from the store costs a linearizable read per create; kube-apiserver's NamespaceLifecycle
admission checks an informer cache instead. kubemu does the same, without trusting the cache:
`guard(name)` turns a cached open namespace into a txn compare on the namespace key's
mod_revision, so the create's txn fails (and the handler falls back to reading the store) if
the namespace changed in any way -- deleted, terminating, relabelled -- since the cache saw it.
A stale cache can cost a retry, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubemu.cluster.api import transformer
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.store import prefix_end

__all__ = ["NamespaceCache"]

log = logging.getLogger(__name__)


class NamespaceCache:
    def __init__(self, store: Any, namespaces: Resource, hub: Any) -> None:
        self.store = store
        self.res = namespaces
        self.hub = hub
        self.open: dict[str, int] = {}  # name -> mod_revision, for namespaces not terminating
        self.synced = False

    def guard(self, name: str) -> dict | None:
        """A txn compare that holds while namespace `name` is as the cache saw it (open), or
        None when the cache cannot vouch for it."""
        revision = self.open.get(name) if self.synced else None
        if revision is None:
            return None
        return {"key": self.res.key("", name), "target": "mod", "result": "=",
                "value": revision}

    async def run(self) -> None:
        """List, then follow the namespaces through the watch hub; relist after any error."""
        while True:
            try:
                start = await self._list()
                async for kind, event in self.hub.stream(self.res, start):
                    if kind == "event":
                        self._apply(event)
                self.synced = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("namespace cache: %s; relisting", exc)
                self.synced = False
                await asyncio.sleep(0.5)

    async def _list(self) -> int:
        prefix = self.res.prefix()
        listed = await self.store.request({"op": "range", "key": prefix,
                                           "range_end": prefix_end(prefix)})
        self.open = {}
        for kv in listed["kvs"]:
            self._remember(kv)
        self.synced = True
        return listed["revision"] + 1

    def _apply(self, event: dict) -> None:
        kv = event["kv"]
        name = kv["key"][len(self.res.prefix()):]
        if event["type"] == "DELETE":
            self.open.pop(name, None)
        else:
            self._remember(kv)

    def _remember(self, kv: dict) -> None:
        name = kv["key"][len(self.res.prefix()):]
        ns = transformer.loads(kv["value"])
        terminating = (ns.get("metadata") or {}).get("deletionTimestamp") or \
            (ns.get("status") or {}).get("phase") == "Terminating"
        if terminating:
            self.open.pop(name, None)
        else:
            self.open[name] = kv["mod_revision"]

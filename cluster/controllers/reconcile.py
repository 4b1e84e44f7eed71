"""Reconcile vocabulary: controller-runtime's `reconcile.Request` and `reconcile.Result`.

A `Request` names one object (namespace, name) and nothing else: reconcilers are level-based,
so they read the object's current state from a lister when they run instead of trusting the
event that queued them. Requests are frozen and hashable, so they are the workqueue's keys and
many events for one object collapse into one queued Request. `key` is client-go's
`namespace/name` (just `name` for a cluster-scoped object), the same key listers use.

A `Result` says what happens after a successful reconcile: nothing (the key's backoff is
forgotten), or `requeue_after` seconds later run again (time-based work: a CronJob's next
schedule, a Deployment's progress deadline). Failure is not a Result: the reconciler raises,
and the runtime requeues the key with per-key exponential backoff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Reconciler", "Request", "Result"]


@dataclass(frozen=True, order=True)
class Request:
    """The object to reconcile; `namespace` is "" for a cluster-scoped object."""

    namespace: str
    name: str

    @property
    def key(self) -> str:
        """`namespace/name`, or `name` when cluster-scoped (client-go's key format)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def from_object(cls, obj: dict) -> Request:
        """The Request naming `obj` (a Kubernetes object dict)."""
        meta = obj.get("metadata") or {}
        return cls(meta.get("namespace") or "", meta.get("name") or "")

    @classmethod
    def from_key(cls, key: str) -> Request:
        """Parse a `namespace/name` or `name` key."""
        namespace, sep, name = key.rpartition("/")
        return cls(namespace if sep else "", name)

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Result:
    """After success: `requeue_after` seconds until the key runs again, or None for never."""

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError("requeue_after must not be negative")


Reconciler = Callable[[Request], Awaitable["Result | None"]]

"""Controllers: level-based reconcilers on the informer -> workqueue -> reconcile runtime.

`reconcile` holds the vocabulary every controller speaks (`Request`, `Result`); `runtime`
holds `Controller`, which turns informer events into queued Requests and runs workers that call
a reconcile function with backoff and requeue-after. One module per controller sits beside them.
"""

from kubemu.cluster.controllers.reconcile import Reconciler, Request, Result
from kubemu.cluster.controllers.runtime import Controller, MapFunc, owner_requests

__all__ = ["Controller", "MapFunc", "Reconciler", "Request", "Result", "owner_requests"]

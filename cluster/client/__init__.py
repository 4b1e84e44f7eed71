"""The API client side: one async client over a swappable transport, informers and listers.

`ApiClient` talks Kubernetes REST through a `Transport` (in-process `RouterTransport` for
tests, `kubemu.actors.http_transport.HttpTransport` over HTTP); an `Informer` keeps an indexed
cache of one resource by list-then-watch and feeds handlers; a `Lister` reads that cache; a
`WorkQueue` with its rate limiters carries the keys those handlers enqueue to reconcilers.
"""

from kubemu.cluster.client.client import PATCH_CONTENT_TYPES, ApiClient
from kubemu.cluster.client.informer import Informer, Registration
from kubemu.cluster.client.lister import (NAMESPACE_INDEX, Cache, Lister, namespace_index,
                                          object_key)
from kubemu.cluster.client.ratelimit import (
    BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, RateLimiter,
    default_controller_rate_limiter)
from kubemu.cluster.client.transport import RouterTransport, Transport
from kubemu.cluster.client.workqueue import ShutDown, WorkQueue

__all__ = ["ApiClient", "PATCH_CONTENT_TYPES", "Informer", "Registration", "Cache", "Lister",
           "NAMESPACE_INDEX", "namespace_index", "object_key", "RouterTransport", "Transport",
           "WorkQueue", "ShutDown", "RateLimiter", "ItemExponentialFailureRateLimiter",
           "BucketRateLimiter", "MaxOfRateLimiter", "default_controller_rate_limiter"]

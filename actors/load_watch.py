"""The pod watch of `kubemu load` (which labelled pods run, and when each was first seen
so) and its retry policy for API calls.

`RunningPods` is the bookkeeping, with no I/O: a dict from `namespace/name` to the loop time
the pod was first seen Running with every container ready, and nothing else, so 100,000 pods
cost a few megabytes (no objects are kept). A DELETED pod leaves the dict (its replacement
counts once it runs), so the count is of pods that exist and have run. `reached_at` is when the
count last rose to the number wanted (cleared if it drops below again).

`PodWatch` feeds it as client-go's reflector feeds a cache: a paged list (label selector, all
namespaces) whose resourceVersion starts a watch; a watch that ends (the server's
`timeoutSeconds`, a dropped connection, any error) resumes from the last resourceVersion it
saw (bookmarks keep that fresh), and a 410 Expired/Gone relists: pods found Running are added,
pods no longer listed were deleted meanwhile and leave. Counts are never lost, only delayed.

`retrying` retries a call while its failure is `transient` (a 5xx or 429 answer, or none at
all: refused, reset, timed out) with jittered exponential backoff, a few times; any other
API error (Forbidden, Invalid, NotFound, ...) will not change and is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from kubemu.cluster.api.errors import ApiError
from kubemu.cluster.client.client import ApiClient

__all__ = ["PodWatch", "RunningPods", "pod_key", "retrying", "running_and_ready", "transient"]

log = logging.getLogger(__name__)

_PAGE = 500
_RETRY_FIRST, _RETRY_MAX = 0.2, 5.0
_ATTEMPTS = 6                    # tries of one call whose failures are transient
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0
T = TypeVar("T")


def running_and_ready(pod: dict) -> bool:
    """Phase Running and every container of the spec reported ready."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    wanted = len((pod.get("spec") or {}).get("containers") or ())
    ready = sum(1 for c in status.get("containerStatuses") or () if c.get("ready"))
    return wanted > 0 and ready >= wanted


def pod_key(pod: dict) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def transient(exc: BaseException) -> bool:
    """Worth retrying: a 5xx or 429 answer, or no answer (connection refused, reset, timed
    out). Other API errors will not change."""
    if isinstance(exc, ApiError):
        return exc.code >= 500 or exc.code == 429
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    return type(exc).__module__.startswith("aiohttp")  # ClientError and its family


async def retrying(call: Callable[[], Awaitable[T]], *, rng: random.Random,
                   on_retry: Callable[[], None] | None = None,
                   attempts: int = _ATTEMPTS) -> T:
    """`await call()`, again after a jittered backoff while it fails transiently, at most
    `attempts` times; the last failure (or the first lasting one) is raised."""
    delay = _BACKOFF_FIRST
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as exc:  # sorted below: transient or lasting
            if attempt == attempts or not transient(exc):
                raise
        if on_retry is not None:
            on_retry()
        await asyncio.sleep(delay * (0.5 + rng.random()))
        delay = min(delay * 2, _BACKOFF_MAX)
    raise ValueError("attempts must be at least 1")


class RunningPods:
    """First-Running times of the pods seen Running and ready; `on_change(count)` after every
    change of the count."""

    def __init__(self, wanted: int, *,
                 on_change: Callable[[int], None] | None = None) -> None:
        self.wanted = wanted
        self.first_running: dict[str, float] = {}
        self.reached_at: float | None = None
        self._on_change = on_change

    @property
    def count(self) -> int:
        return len(self.first_running)

    def times(self) -> list[float]:
        return sorted(self.first_running.values())

    def observe(self, event_type: str, pod: dict, now: float) -> None:
        """One watch event (ADDED, MODIFIED, DELETED; others are ignored)."""
        key = pod_key(pod)
        if event_type == "DELETED":
            if self.first_running.pop(key, None) is not None:
                self._changed(now)
        elif (event_type in ("ADDED", "MODIFIED") and key not in self.first_running
              and running_and_ready(pod)):
            self.first_running[key] = now
            self._changed(now)

    def relisted(self, present: set[str], running: Iterable[str], now: float) -> None:
        """A full list: `present` holds every pod's key, `running` those Running and ready."""
        before = self.count
        for key in [k for k in self.first_running if k not in present]:
            del self.first_running[key]
        for key in running:
            self.first_running.setdefault(key, now)
        if self.count != before:
            self._changed(now)

    def _changed(self, now: float) -> None:
        if self.count >= self.wanted:
            if self.reached_at is None:
                self.reached_at = now
        else:
            self.reached_at = None
        if self._on_change is not None:
            self._on_change(self.count)


class PodWatch:
    """List then watch pods matching `label_selector` in every namespace into `pods`."""

    def __init__(self, client: ApiClient, label_selector: str, pods: RunningPods, *,
                 timeout_seconds: int = 300, page: int = _PAGE) -> None:
        self.client = client
        self.label_selector = label_selector
        self.pods = pods
        self.timeout_seconds = timeout_seconds
        self.page = page
        self.resource_version: str | None = None
        self.relists = 0     # lists after the first (a 410 answered a resume)
        self.resumes = 0     # watches opened after the first

    async def list(self) -> str:
        """One paged list into `pods`; its resourceVersion (also kept to resume from).
        Raises what the list raises (the first list is how a caller learns the API is
        unreachable)."""
        present: set[str] = set()
        running: list[str] = []
        token: str | None = None
        rv = ""
        while True:
            page = await self.client.list("v1", "Pod", label_selector=self.label_selector,
                                          limit=self.page, continue_=token)
            meta = page.get("metadata") or {}
            rv = rv or meta.get("resourceVersion", "")
            for pod in page.get("items") or ():
                key = pod_key(pod)
                present.add(key)
                if running_and_ready(pod):
                    running.append(key)
            token = meta.get("continue")
            if not token:
                break
        self.pods.relisted(present, running, asyncio.get_running_loop().time())
        self.resource_version = rv
        return rv

    async def run(self) -> None:
        """Watch from the last list's resourceVersion until cancelled; never returns."""
        if self.resource_version is None:
            await self.list()
        loop = asyncio.get_running_loop()
        delay = _RETRY_FIRST
        first = True
        while True:
            if not first:
                self.resumes += 1
            first = False
            seen = False
            try:
                async for event in self.client.watch(
                        "v1", "Pod", label_selector=self.label_selector,
                        resource_version=self.resource_version,
                        timeout_seconds=self.timeout_seconds):
                    pod = event.get("object") or {}
                    rv = (pod.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.resource_version = rv
                    self.pods.observe(event.get("type", ""), pod, loop.time())
                    seen, delay = True, _RETRY_FIRST
                if seen:
                    continue  # the server ended a watch that worked: resume at once
            except ApiError as exc:
                if exc.code == 410:
                    await self._relist()
                    continue
                log.info("pod watch failed, resuming: %s", exc)
            except Exception as exc:  # noqa: BLE001 - a dropped connection resumes
                log.info("pod watch ended, resuming: %r", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    async def _relist(self) -> None:
        delay = _RETRY_FIRST
        while True:
            try:
                await self.list()
                self.relists += 1
                return
            except Exception as exc:  # noqa: BLE001 - keep trying until cancelled
                log.info("pod relist failed, retrying: %r", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

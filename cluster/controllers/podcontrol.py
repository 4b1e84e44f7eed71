"""PodControl: how workload controllers create and delete pods (upstream's RealPodControl).

ReplicaSet, Job, StatefulSet and DaemonSet controllers all write pods through here, so pods
look alike whoever made them: a pod from a template copies the template's labels,
annotations, finalizers and spec, lives in the controller's namespace, is named by
`generateName` `<controller name>-` (or an explicit name) and carries the controller's
ownerReference. Every write records upstream's Event on the controller object:
SuccessfulCreate "Created pod: <name>", FailedCreate "Error creating: <error>" (Warning),
SuccessfulDelete "Deleted pod: <name>", FailedDelete "Error deleting: <error>" (Warning). A
create refused because the namespace is terminating records nothing (nothing can be done about
it); a delete of a pod already gone records nothing. Errors are re-raised for the caller.

`slow_start_batch` issues many creates as upstream does: batches of 1, 2, 4, ... run
concurrently, stopping after the first batch with a failure, so a controller whose pods are
all rejected sends one request, not five hundred.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kubemu.cluster.api.errors import ApiError, Forbidden, NotFound
from kubemu.cluster.api.objects import deep_copy
from kubemu.cluster.controllers.events import NORMAL, WARNING

__all__ = ["PodControl", "pod_from_template", "slow_start_batch", "is_namespace_terminating",
           "SLOW_START_INITIAL_BATCH_SIZE", "FAILED_CREATE", "SUCCESSFUL_CREATE",
           "FAILED_DELETE", "SUCCESSFUL_DELETE"]

SLOW_START_INITIAL_BATCH_SIZE = 1
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_DELETE = "FailedDelete"
SUCCESSFUL_DELETE = "SuccessfulDelete"


def pod_from_template(template: dict, owner: dict, controller_ref: dict | None = None, *,
                      namespace: str | None = None, generate_name: str | None = None,
                      name: str | None = None) -> dict:
    """The Pod a controller creates from `template` (upstream's GetPodFromTemplate)."""
    tmeta = template.get("metadata") or {}
    omd = owner.get("metadata") or {}
    md: dict[str, Any] = {"namespace": namespace or omd.get("namespace") or "default",
                          "labels": dict(tmeta.get("labels") or {})}
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        md["finalizers"] = list(tmeta["finalizers"])
    if name:
        md["name"] = name
    else:
        md["generateName"] = generate_name or f"{omd.get('name', 'pod')}-"
    if controller_ref is not None:
        md["ownerReferences"] = [dict(controller_ref)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": deep_copy(template.get("spec") or {})}


def is_namespace_terminating(err: BaseException) -> bool:
    """Whether a create was refused because its namespace is being deleted."""
    if not isinstance(err, ApiError):
        return False
    causes = (err.details or {}).get("causes") or ()
    if any(c.get("type") == "NamespaceTerminating" for c in causes if isinstance(c, dict)):
        return True
    return isinstance(err, Forbidden) and "because it is being terminated" in err.message


class PodControl:
    """Creates and deletes pods for a controller, recording upstream's Events."""

    def __init__(self, client: Any, recorder: Any | None = None) -> None:
        self.client = client
        self.recorder = recorder

    async def create_pod(self, template: dict, owner: dict,
                         controller_ref: dict | None = None, *, namespace: str | None = None,
                         generate_name: str | None = None, name: str | None = None,
                         mutate: Callable[[dict], None] | None = None) -> dict:
        """Create a pod from `template` for `owner`; `mutate` adjusts it before the write
        (a DaemonSet's node affinity, a Job's completion index)."""
        pod = pod_from_template(template, owner, controller_ref, namespace=namespace,
                                generate_name=generate_name, name=name)
        if mutate is not None:
            mutate(pod)
        if not pod["metadata"]["labels"]:
            raise ValueError("unable to create pods, no labels")
        try:
            created = await self.client.create(pod, namespace=pod["metadata"]["namespace"])
        except ApiError as err:
            if not is_namespace_terminating(err):
                self._record(owner, WARNING, FAILED_CREATE, f"Error creating: {err.message}")
            raise
        self._record(owner, NORMAL, SUCCESSFUL_CREATE,
                     f"Created pod: {(created.get('metadata') or {}).get('name', '')}")
        return created

    async def delete_pod(self, namespace: str, name: str, owner: dict) -> None:
        """Delete one pod of `owner`; NotFound is raised without an Event."""
        try:
            await self.client.delete("v1", "Pod", name, namespace=namespace)
        except NotFound:
            raise
        except ApiError as err:
            self._record(owner, WARNING, FAILED_DELETE, f"Error deleting: {err.message}")
            raise
        self._record(owner, NORMAL, SUCCESSFUL_DELETE, f"Deleted pod: {name}")

    async def patch_pod(self, namespace: str, name: str, patch: dict, *,
                        patch_type: str = "strategic") -> dict:
        return await self.client.patch("v1", "Pod", name, patch, namespace=namespace,
                                       patch_type=patch_type)

    def _record(self, owner: dict, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.record(owner, type_, reason, message)


async def slow_start_batch(count: int, initial_batch_size: int,
                           fn: Callable[[], Awaitable[Any]]) -> tuple[int, BaseException | None]:
    """Call `fn` `count` times in doubling concurrent batches; (successes, first error).
    Stops after the first batch in which a call failed."""
    remaining, successes = count, 0
    batch = min(remaining, initial_batch_size)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for err in errors:
            if isinstance(err, asyncio.CancelledError):
                raise err
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None

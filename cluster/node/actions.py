"""What a pod worker asks its kubelet to do: record an Event, delete the finished pod.

The pod worker is sans-I/O; `step()` returns these small values and the kubelet driver
performs them (the Event through the EventRecorder with the pod as involved object and
`field_path` as `involvedObject.fieldPath`; the deletion with grace period 0 and a uid
precondition, as upstream's status manager does once a deleted pod's containers stopped).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Event", "DeletePod", "Action"]


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" | "Warning"
    reason: str
    message: str
    field_path: str = ""


@dataclass(frozen=True)
class DeletePod:
    uid: str


Action = Event | DeletePod

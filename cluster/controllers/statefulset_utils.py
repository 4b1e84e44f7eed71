"""StatefulSet identity, storage and status helpers (upstream's stateful_set_utils.go), pure.

A StatefulSet's pods have stable identities: `<set>-<ordinal>` for ordinals
`spec.ordinals.start .. start+replicas-1`, hostname = pod name, subdomain = spec.serviceName,
labels `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
`controller-revision-hash` (the name of the ControllerRevision whose template made the pod).
Each volumeClaimTemplate gives every pod a PVC `<claim>-<set>-<ordinal>` labelled with the
selector's matchLabels and mounted as the volume named after the template.

PVC ownerReferences follow persistentVolumeClaimRetentionPolicy as upstream (v1.32):
whenDeleted=Delete makes the set a controller owner of its claims (the garbage collector
removes them with the set); whenScaled=Delete makes a condemned pod (ordinal outside the
range after a scale down) an owner (they go with the pod); Retain removes those references.

`live_ordinals` is the simulation's invariant probe: live pods per ordinal, where "no ordinal
ever has two live pods" must hold at every instant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kubemu.cluster.api.objects import deep_copy
from kubemu.cluster.controllers.ownership import new_controller_ref
from kubemu.cluster.controllers.podcontrol import pod_from_template
from kubemu.cluster.controllers.podutil import is_pod_ready

__all__ = [
    "POD_INDEX_LABEL",
    "POD_NAME_LABEL",
    "REVISION_LABEL",
    "claim_name",
    "claim_owner_refs",
    "claims_for",
    "duplicate_ordinals",
    "end_ordinal",
    "identity_labels",
    "identity_matches",
    "in_ordinal_range",
    "is_created",
    "is_member_of",
    "is_running_and_ready",
    "is_terminating",
    "live_ordinals",
    "new_stateful_pod",
    "ordinal_of",
    "parent_and_ordinal",
    "pod_name",
    "pod_revision",
    "retention_policy",
    "start_ordinal",
]

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_NAME = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(pod: dict) -> tuple[str, int]:
    """(set name, ordinal) parsed from the pod's name; ("", -1) when it has no ordinal."""
    match = _NAME.match((pod.get("metadata") or {}).get("name") or "")
    if match is None:
        return "", -1
    return match.group(1), int(match.group(2))


def ordinal_of(pod: dict) -> int:
    return parent_and_ordinal(pod)[1]


def start_ordinal(sts: dict) -> int:
    return int((((sts.get("spec") or {}).get("ordinals")) or {}).get("start") or 0)


def end_ordinal(sts: dict) -> int:
    """The highest ordinal in range (start - 1 when replicas is 0)."""
    return start_ordinal(sts) + _replicas(sts) - 1


def in_ordinal_range(pod: dict, sts: dict) -> bool:
    ordinal = ordinal_of(pod)
    return start_ordinal(sts) <= ordinal <= end_ordinal(sts)


def pod_name(sts: dict, ordinal: int) -> str:
    return f"{_name(sts)}-{ordinal}"


def claim_name(sts: dict, template: dict, ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name', '')}-{_name(sts)}-{ordinal}"


def is_member_of(sts: dict, pod: dict) -> bool:
    return parent_and_ordinal(pod)[0] == _name(sts)


def pod_revision(pod: dict) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, "")


def new_stateful_pod(sts: dict, ordinal: int, *, revision: str,
                     template_source: dict | None = None) -> dict:
    """The pod for `ordinal` (not yet created), from `template_source`'s template (the set
    with the revision applied; `sts` itself by default), labelled with `revision`."""
    source = template_source if template_source is not None else sts
    template = (source.get("spec") or {}).get("template") or {}
    pod = pod_from_template(template, sts, new_controller_ref(
        sts, api_version="apps/v1", kind="StatefulSet"), name=pod_name(sts, ordinal))
    pod["metadata"]["labels"].update(identity_labels(sts, ordinal))
    pod["metadata"]["labels"][REVISION_LABEL] = revision
    spec = pod["spec"]
    spec["hostname"] = pod["metadata"]["name"]
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    _update_storage(sts, pod, ordinal)
    return pod


def identity_labels(sts: dict, ordinal: int) -> dict[str, str]:
    return {POD_NAME_LABEL: pod_name(sts, ordinal), POD_INDEX_LABEL: str(ordinal)}


def identity_matches(sts: dict, pod: dict) -> bool:
    """Upstream's identityMatches: name, namespace and identity labels fit the ordinal."""
    parent, ordinal = parent_and_ordinal(pod)
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    return (ordinal >= 0 and parent == _name(sts)
            and md.get("namespace") == (sts.get("metadata") or {}).get("namespace")
            and all(labels.get(k) == v for k, v in identity_labels(sts, ordinal).items()))


def claims_for(sts: dict, ordinal: int) -> list[dict]:
    """The PVCs the pod at `ordinal` mounts, built from the volumeClaimTemplates."""
    spec = sts.get("spec") or {}
    selector_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    claims = []
    for template in spec.get("volumeClaimTemplates") or ():
        tmd = template.get("metadata") or {}
        md = {"name": claim_name(sts, template, ordinal),
              "namespace": (sts.get("metadata") or {}).get("namespace", ""),
              "labels": {**(tmd.get("labels") or {}), **selector_labels}}
        if tmd.get("annotations"):
            md["annotations"] = dict(tmd["annotations"])
        claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": md,
                       "spec": deep_copy(template.get("spec") or {})})
    return claims


def retention_policy(sts: dict) -> tuple[str, str]:
    """(whenDeleted, whenScaled), each "Retain" or "Delete"."""
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return policy.get("whenDeleted") or "Retain", policy.get("whenScaled") or "Retain"


def claim_owner_refs(claim: dict, sts: dict, pod: dict) -> list[dict]:
    """The claim's ownerReferences as the retention policy wants them for `pod` (upstream's
    updateClaimOwnerRefForSetAndPod). A pod not yet created (no uid) is never an owner."""
    when_deleted, when_scaled = retention_policy(sts)
    set_uid = (sts.get("metadata") or {}).get("uid")
    pod_md = pod.get("metadata") or {}
    pod_uid = pod_md.get("uid")
    refs = [r for r in (claim.get("metadata") or {}).get("ownerReferences") or ()
            if r.get("uid") not in (set_uid, pod_uid)]
    scaled_down = not in_ordinal_range(pod, sts)
    if when_scaled == "Delete" and scaled_down:
        if pod_uid:
            refs.append({"apiVersion": "v1", "kind": "Pod", "name": pod_md.get("name", ""),
                         "uid": pod_uid})
    elif when_deleted == "Delete" and set_uid:
        refs.append(new_controller_ref(sts, api_version="apps/v1", kind="StatefulSet"))
    return refs


def is_created(pod: dict) -> bool:
    """The pod exists in the API (a pod the controller only built has no uid yet)."""
    return bool((pod.get("metadata") or {}).get("uid"))


def is_running_and_ready(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def is_terminating(pod: dict) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def live_ordinals(pods: Iterable[dict], *, set_name: str | None = None) -> dict[int, list[str]]:
    """Live pods (not Succeeded or Failed; terminating ones still run) of StatefulSet
    `set_name` (any parent when None) by ordinal: each value lists the pods' uids (names
    when absent). The invariant: no list ever holds two entries."""
    out: dict[int, list[str]] = {}
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        parent, ordinal = parent_and_ordinal(pod)
        if ordinal < 0 or (set_name is not None and parent != set_name):
            continue
        md = pod.get("metadata") or {}
        out.setdefault(ordinal, []).append(md.get("uid") or md.get("name", ""))
    return out


def duplicate_ordinals(pods: Iterable[dict], *,
                       set_name: str | None = None) -> dict[int, list[str]]:
    """The ordinals breaking the invariant (more than one live pod)."""
    return {k: v for k, v in live_ordinals(pods, set_name=set_name).items() if len(v) > 1}


# -- helpers ---------------------------------------------------------------------------------

def _name(sts: dict) -> str:
    return (sts.get("metadata") or {}).get("name", "")


def _replicas(sts: dict) -> int:
    value = (sts.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _update_storage(sts: dict, pod: dict, ordinal: int) -> None:
    """Mount each claim as the volume named after its template, replacing a pod volume of
    that name (upstream's updateStorage)."""
    templates = (sts.get("spec") or {}).get("volumeClaimTemplates") or ()
    if not templates:
        return
    names = [(t.get("metadata") or {}).get("name", "") for t in templates]
    volumes = [{"name": n, "persistentVolumeClaim": {"claimName": claim_name(sts, t, ordinal)}}
               for n, t in zip(names, templates)]
    volumes += [v for v in pod["spec"].get("volumes") or () if v.get("name") not in names]
    pod["spec"]["volumes"] = volumes

"""PersistentVolume and PersistentVolumeClaim validation.

A PV needs access modes, a `storage` capacity and exactly one volume source, and its source
never changes. A PVC needs access modes and a `storage` request; after creation its spec is
immutable except that the binder may set `volumeName` once, a default StorageClass may be
filled in, and a bound claim's storage request may grow (never shrink), with upstream's
`spec is immutable after creation ...` message.
"""

from __future__ import annotations

import copy

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.containers import validate_resource_quantity
from kubemu.cluster.api.validation.field import (
    child, forbidden, immutable, index, invalid, key, not_supported, required)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors, validate_label_selector,)

__all__ = ["validate_pv", "validate_pv_update", "validate_pvc", "validate_pvc_update",
           "ACCESS_MODES"]

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
_VOLUME_MODES = ("Block", "Filesystem")
_RECLAIM = ("Delete", "Recycle", "Retain")
_PV_SOURCES = ("gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs",
               "rbd", "iscsi", "cinder", "cephfs", "fc", "flocker", "flexVolume", "azureFile",
               "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
               "portworxVolume", "scaleIO", "local", "storageos", "csi")
_PVC_IMMUTABLE = ("spec is immutable after creation except resources.requests and "
                  "volumeAttributesClassName for bound claims")


def validate_pv(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs = _access_modes(spec.get("accessModes") or [], "spec.accessModes", "")
    capacity = spec.get("capacity") or {}
    if not capacity:
        errs.append(required("spec.capacity"))
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported("spec.capacity", capacity, ["storage"]))
    for name, value in capacity.items():
        errs += validate_resource_quantity(value, key("spec.capacity", name))[1]
    policy = spec.get("persistentVolumeReclaimPolicy") or ""
    if policy and policy not in _RECLAIM:
        errs.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, _RECLAIM))
    present = [s for s in _PV_SOURCES if spec.get(s) is not None]
    if not present:
        errs.append(required("spec", "must specify a volume type"))
    errs += [forbidden(child("spec", s), "may not specify more than 1 volume type")
             for s in present[1:]]
    host_path = spec.get("hostPath")
    if host_path is not None and not host_path.get("path"):
        errs.append(required("spec.hostPath.path"))
    local = spec.get("local")
    if local is not None:
        if not local.get("path"):
            errs.append(required("spec.local.path"))
        if spec.get("nodeAffinity") is None:
            errs.append(required("spec.nodeAffinity", "Local volume requires node affinity"))
    errs += _volume_mode(spec)
    if spec.get("storageClassName"):
        errs += messages_to_errors("spec.storageClassName", spec["storageClassName"],
                                   n.is_dns1123_subdomain(spec["storageClassName"]))
    return errs


def validate_pv_update(new: dict, old: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if {s: spec.get(s) for s in _PV_SOURCES} != {s: old_spec.get(s) for s in _PV_SOURCES}:
        errs.append(forbidden("spec.persistentvolumesource",
                              "spec.persistentvolumesource is forbidden."))
    errs += immutable(spec.get("volumeMode"), old_spec.get("volumeMode"), "spec.volumeMode")
    if old_spec.get("nodeAffinity") is not None:
        errs += immutable(spec.get("nodeAffinity"), old_spec.get("nodeAffinity"),
                          "spec.nodeAffinity")
    return errs + validate_pv(new)


def validate_pvc(obj: dict) -> list[FieldError]:
    return _pvc_spec(obj.get("spec") or {}, "spec")


def validate_pvc_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs = _pvc_spec(spec, "spec")
    new_clone, old_clone = copy.deepcopy(spec), copy.deepcopy(old_spec)
    if not old_spec.get("volumeName"):
        _copy_field(new_clone, old_clone, "volumeName")
    if old_spec.get("storageClassName") is None:
        _copy_field(new_clone, old_clone, "storageClassName")
    new_size, old_size = _storage(spec), _storage(old_spec)
    if (old.get("status") or {}).get("phase") == "Bound":
        for clone in (new_clone, old_clone):
            ((clone.get("resources") or {}).get("requests") or {}).pop("storage", None)
            clone.pop("volumeAttributesClassName", None)
    if new_clone != old_clone:
        errs.append(forbidden("spec", _PVC_IMMUTABLE))
    if new_size is not None and old_size is not None and new_size < old_size:
        errs.append(forbidden("spec.resources.requests.storage",
                              "field can not be less than previous value"))
    return errs


def _pvc_spec(spec: dict, path: str) -> list[FieldError]:
    errs = _access_modes(spec.get("accessModes") or [], child(path, "accessModes"),
                         "at least 1 access mode is required")
    errs += validate_label_selector(spec.get("selector"), child(path, "selector"))
    requests = (spec.get("resources") or {}).get("requests") or {}
    storage_path = key(child(path, "resources"), "storage")
    if "storage" not in requests:
        errs.append(required(storage_path))
    else:
        q, qerrs = validate_resource_quantity(requests["storage"], storage_path)
        errs += qerrs
        if q is not None and q <= 0 and not qerrs:
            errs.append(invalid(storage_path, str(requests["storage"]),
                                "must be greater than zero"))
    if spec.get("storageClassName"):
        errs += messages_to_errors(child(path, "storageClassName"), spec["storageClassName"],
                                   n.is_dns1123_subdomain(spec["storageClassName"]))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in _VOLUME_MODES:
        errs.append(not_supported(child(path, "volumeMode"), mode, _VOLUME_MODES))
    return errs


def _access_modes(modes: list[str], path: str, detail: str) -> list[FieldError]:
    if not modes:
        return [required(path, detail)]
    errs: list[FieldError] = []
    for i, mode in enumerate(modes):
        if mode not in ACCESS_MODES:
            errs.append(not_supported(index(path, i), mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def _volume_mode(spec: dict) -> list[FieldError]:
    mode = spec.get("volumeMode")
    if mode is not None and mode not in _VOLUME_MODES:
        return [not_supported("spec.volumeMode", mode, _VOLUME_MODES)]
    return []


def _copy_field(source: dict, target: dict, name: str) -> None:
    if name in source:
        target[name] = source[name]
    else:
        target.pop(name, None)


def _storage(spec: dict):
    value = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if value is None:
        return None
    q, errs = validate_resource_quantity(value, "")
    return None if errs else q

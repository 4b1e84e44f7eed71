"""Pod volumes: unique DNS-label names, exactly one source each, the sources kubemu uses.

Upstream's ValidateVolumes. Every volume needs exactly one source (`must specify a volume
type`); the sources kubemu emulates (emptyDir, hostPath, configMap, secret, projected,
downwardAPI, persistentVolumeClaim, ephemeral, nfs, csi) get their field checks, the other
upstream sources are accepted as opaque. Returns the set of valid volume names, which
container volumeMounts must refer to.
"""

from __future__ import annotations

import posixpath
from typing import Any

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.containers import validate_resource_quantity
from kubemu.cluster.api.validation.field import (
    child, duplicate, forbidden, index, invalid, not_supported, required)
from kubemu.cluster.api.validation.meta import messages_to_errors

__all__ = ["validate_volumes", "VOLUME_SOURCES"]

VOLUME_SOURCES = (  # upstream's checking order: the first one present is "the" source
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs", "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "quobyte",
    "flexVolume", "cinder", "cephfs", "downwardAPI", "fc", "azureFile", "vsphereVolume",
    "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "configMap", "storageos",
    "projected", "csi", "ephemeral", "image")
_HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File",
                    "FileOrCreate", "Socket")
_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"


def validate_volumes(volumes: Any, path: str) -> tuple[set[str], list[FieldError]]:
    names: set[str] = set()
    errs: list[FieldError] = []
    for i, vol in enumerate(volumes or []):
        p = index(path, i)
        name = vol.get("name") or ""
        verrs = _source(vol, p)
        if not name:
            verrs.append(required(child(p, "name")))
        else:
            verrs += messages_to_errors(child(p, "name"), name, n.is_dns1123_label(name))
        if name in names:
            verrs.append(duplicate(child(p, "name"), name))
        if verrs:
            errs += verrs
        else:
            names.add(name)
    return names, errs


def _source(vol: dict, path: str) -> list[FieldError]:
    present = [s for s in VOLUME_SOURCES if vol.get(s) is not None]
    if not present:
        return [required(path, "must specify a volume type")]
    errs = [forbidden(child(path, s), "may not specify more than 1 volume type")
            for s in present[1:]]
    kind = present[0]
    check = _CHECKS.get(kind)
    if check is not None:
        errs += check(vol[kind], child(path, kind))
    return errs


def _host_path(src: dict, path: str) -> list[FieldError]:
    errs = [] if src.get("path") else [required(child(path, "path"))]
    if src.get("type", "") not in _HOST_PATH_TYPES:
        errs.append(not_supported(child(path, "type"), src.get("type"), _HOST_PATH_TYPES))
    return errs


def _empty_dir(src: dict, path: str) -> list[FieldError]:
    if src.get("sizeLimit") is not None:
        return validate_resource_quantity(src["sizeLimit"], child(path, "sizeLimit"))[1]
    return []


def _secret(src: dict, path: str) -> list[FieldError]:
    errs = [] if src.get("secretName") else [required(child(path, "secretName"))]
    return errs + _mode(src.get("defaultMode"), child(path, "defaultMode")) + _items(src, path)


def _config_map(src: dict, path: str) -> list[FieldError]:
    errs = [] if src.get("name") else [required(child(path, "name"))]
    return errs + _mode(src.get("defaultMode"), child(path, "defaultMode")) + _items(src, path)


def _pvc(src: dict, path: str) -> list[FieldError]:
    return [] if src.get("claimName") else [required(child(path, "claimName"))]


def _nfs(src: dict, path: str) -> list[FieldError]:
    errs = [] if src.get("server") else [required(child(path, "server"))]
    nfs_path = src.get("path") or ""
    if not nfs_path:
        errs.append(required(child(path, "path")))
    elif not nfs_path.startswith("/"):
        errs.append(invalid(child(path, "path"), nfs_path, "must be an absolute path"))
    return errs


def _csi(src: dict, path: str) -> list[FieldError]:
    return [] if src.get("driver") else [required(child(path, "driver"))]


def _ephemeral(src: dict, path: str) -> list[FieldError]:
    if src.get("volumeClaimTemplate") is None:
        return [required(child(path, "volumeClaimTemplate"))]
    return []


def _downward_api(src: dict, path: str) -> list[FieldError]:
    errs = _mode(src.get("defaultMode"), child(path, "defaultMode"))
    for i, item in enumerate(src.get("items") or []):
        p = index(child(path, "items"), i)
        errs += _relative_path(item.get("path") or "", child(p, "path"))
        errs += _mode(item.get("mode"), child(p, "mode"))
        refs = [k for k in ("fieldRef", "resourceFieldRef") if item.get(k) is not None]
        if len(refs) != 1:
            errs.append(invalid(p, "", "must specify exactly one of: `fieldRef` or "
                                "`resourceFieldRef`"))
    return errs


def _projected(src: dict, path: str) -> list[FieldError]:
    errs = _mode(src.get("defaultMode"), child(path, "defaultMode"))
    kinds = ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle")
    for i, source in enumerate(src.get("sources") or []):
        p = index(child(path, "sources"), i)
        present = [k for k in kinds if source.get(k) is not None]
        if not present:
            errs.append(required(p, "must specify one of: `configMap`, `secret`, "
                                 "`downwardAPI`, `serviceAccountToken` or `clusterTrustBundle`"))
        errs += [forbidden(child(p, k), "may not specify more than 1 volume type")
                 for k in present[1:]]
        token = source.get("serviceAccountToken")
        if token is not None:
            if not token.get("path"):
                errs.append(required(child(p, "serviceAccountToken", "path")))
            seconds = token.get("expirationSeconds", 3600)
            if seconds < 600:
                errs.append(invalid(child(p, "serviceAccountToken", "expirationSeconds"),
                                    seconds, "may not specify a duration less than 10 minutes"))
        for k in ("secret", "configMap"):
            if source.get(k) is not None:
                errs += _items(source[k], child(p, k))
    return errs


def _items(src: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(src.get("items") or []):
        p = index(child(path, "items"), i)
        if not item.get("key"):
            errs.append(required(child(p, "key")))
        errs += _relative_path(item.get("path") or "", child(p, "path"))
        errs += _mode(item.get("mode"), child(p, "mode"))
    return errs


def _relative_path(target: str, path: str) -> list[FieldError]:
    if not target:
        return [required(path)]
    errs = []
    if posixpath.isabs(target):
        errs.append(invalid(path, target, "must be a relative path"))
    if ".." in target.split("/"):
        errs.append(invalid(path, target, "must not contain '..'"))
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid(path, target, "must not start with '..'"))
    return errs


def _mode(mode: Any, path: str) -> list[FieldError]:
    if mode is not None and not 0 <= mode <= 0o777:
        return [invalid(path, mode, _FILE_MODE)]
    return []


_CHECKS = {"hostPath": _host_path, "emptyDir": _empty_dir, "secret": _secret,
           "configMap": _config_map, "persistentVolumeClaim": _pvc, "nfs": _nfs, "csi": _csi,
           "ephemeral": _ephemeral, "downwardAPI": _downward_api, "projected": _projected}

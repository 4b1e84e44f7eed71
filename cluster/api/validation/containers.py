"""Container validation: names, images, ports, env, resources, probes, lifecycle, mounts.

Upstream's validateContainers / validateInitContainers, per container. Regular and init
containers share one name space (a clash is reported on the later container); init containers
may carry probes and lifecycle hooks only as sidecars (`restartPolicy: Always`). Resource
quantities are parsed with `cluster/api/quantity.py`; a request above its limit is reported at
`resources.requests` with upstream's wording (`must be less than or equal to cpu limit of 1`).
Defaults have already been applied, so defaulted fields (protocol, imagePullPolicy,
terminationMessagePolicy, probe thresholds) are checked as required.
"""

from __future__ import annotations

import posixpath
from typing import Any

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.quantity import QuantityError, parse_quantity
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.field import (
    IS_NEGATIVE, child, duplicate, forbidden, index, invalid, key, not_found, not_supported,
    required)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors, nonnegative, validate_qualified_name)

__all__ = ["validate_containers", "validate_init_containers", "validate_port_num_or_name",
           "validate_resource_quantity", "PROTOCOLS"]

PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_ENV_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name",
                    "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                    "status.podIP", "status.podIPs")
_NOT_FOR_INIT = "may not be set for init containers without restartPolicy=Always"


def validate_containers(containers: Any, path: str, volumes: set[str]) -> list[FieldError]:
    """spec.containers: at least one, unique DNS-label names, each container valid."""
    if not containers:
        return [required(path)]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, ctr in enumerate(containers):
        p = index(path, i)
        errs += _common(ctr, p, volumes)
        name = ctr.get("name") or ""
        if name in seen:
            errs.append(duplicate(child(p, "name"), name))
        seen.add(name)
        errs += _probes_and_lifecycle(ctr, p)
        if ctr.get("restartPolicy") is not None:
            errs.append(forbidden(child(p, "restartPolicy"),
                                  "may not be set for non-init containers"))
    return errs


def validate_init_containers(containers: Any, regular: Any, path: str,
                             volumes: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    seen = {c.get("name") or "" for c in regular or []}
    for i, ctr in enumerate(containers or []):
        p = index(path, i)
        errs += _common(ctr, p, volumes)
        policy = ctr.get("restartPolicy")
        if policy is not None and policy != "Always":
            errs.append(not_supported(child(p, "restartPolicy"), policy, ["Always"]))
        name = ctr.get("name") or ""
        if name in seen:
            errs.append(duplicate(child(p, "name"), name))
        elif name:
            seen.add(name)
        if policy == "Always":
            errs += _probes_and_lifecycle(ctr, p)
        else:
            for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if ctr.get(f) is not None:
                    errs.append(forbidden(child(p, f), _NOT_FOR_INIT))
    return errs


def validate_port_num_or_name(port: Any, path: str) -> list[FieldError]:
    """An int-or-string port: 1..65535 or an IANA_SVC_NAME."""
    if isinstance(port, str):
        return messages_to_errors(path, port, n.is_valid_port_name(port))
    if isinstance(port, int) and not isinstance(port, bool):
        return messages_to_errors(path, port, n.is_valid_port_num(port))
    return [invalid(path, port, "must be an integer or a port name")]


def validate_resource_quantity(value: Any, path: str) -> tuple[Any, list[FieldError]]:
    """(parsed Decimal or None, errors): parse errors and negative values are reported."""
    try:
        q = parse_quantity(value)
    except QuantityError as e:
        return None, [invalid(path, value, str(e))]
    if q < 0:
        return q, [invalid(path, str(value), IS_NEGATIVE)]
    return q, []


def _common(ctr: dict, path: str, volumes: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    name = ctr.get("name") or ""
    if not name:
        errs.append(required(child(path, "name")))
    else:
        errs += messages_to_errors(child(path, "name"), name, n.is_dns1123_label(name))
    image = ctr.get("image") or ""
    if not image:
        errs.append(required(child(path, "image")))
    elif image.strip() != image:
        errs.append(invalid(child(path, "image"), image,
                            "must not have leading or trailing whitespace"))
    errs += _enum(ctr.get("terminationMessagePolicy"), _MESSAGE_POLICIES,
                  child(path, "terminationMessagePolicy"))
    errs += _enum(ctr.get("imagePullPolicy"), _PULL_POLICIES, child(path, "imagePullPolicy"))
    errs += _ports(ctr.get("ports") or [], child(path, "ports"))
    errs += _env(ctr.get("env") or [], child(path, "env"))
    errs += _env_from(ctr.get("envFrom") or [], child(path, "envFrom"))
    errs += _volume_mounts(ctr.get("volumeMounts") or [], volumes, child(path, "volumeMounts"))
    errs += _resources(ctr.get("resources") or {}, child(path, "resources"))
    return errs


def _enum(value: Any, allowed: tuple[str, ...], path: str) -> list[FieldError]:
    if not value:
        return [required(path)]
    if value not in allowed:
        return [not_supported(path, value, allowed)]
    return []


def _ports(ports: list[dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        p = index(path, i)
        name = port.get("name") or ""
        if name:
            msgs = n.is_valid_port_name(name)
            if msgs:
                errs += messages_to_errors(child(p, "name"), name, msgs)
            elif name in names:
                errs.append(duplicate(child(p, "name"), name))
            else:
                names.add(name)
        cport = port.get("containerPort") or 0
        if not cport:
            errs.append(required(child(p, "containerPort")))
        else:
            errs += messages_to_errors(child(p, "containerPort"), cport, n.is_valid_port_num(cport))
        if port.get("hostPort"):
            errs += messages_to_errors(child(p, "hostPort"), port["hostPort"],
                                       n.is_valid_port_num(port["hostPort"]))
        errs += _protocol(port.get("protocol"), child(p, "protocol"))
    return errs


def _protocol(protocol: Any, path: str) -> list[FieldError]:
    if not protocol:
        return [required(path)]
    if protocol not in PROTOCOLS:
        return [not_supported(path, protocol, PROTOCOLS)]
    return []


def _env(env: list[dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, var in enumerate(env):
        p = index(path, i)
        name = var.get("name") or ""
        if not name:
            errs.append(required(child(p, "name")))
        else:
            errs += messages_to_errors(child(p, "name"), name, n.is_relaxed_env_var_name(name))
        source = var.get("valueFrom")
        if source is None:
            continue
        vp = child(p, "valueFrom")
        kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                 if source.get(k) is not None]
        if source.get("fieldRef") is not None:
            errs += _field_ref(source["fieldRef"], child(vp, "fieldRef"))
        if source.get("resourceFieldRef") is not None:
            if not source["resourceFieldRef"].get("resource"):
                errs.append(required(child(vp, "resourceFieldRef", "resource")))
        for k in ("configMapKeyRef", "secretKeyRef"):
            if source.get(k) is not None:
                errs += _key_selector(source[k], child(vp, k))
        if not kinds:
            errs.append(invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                "`configMapKeyRef` or `secretKeyRef`"))
        elif var.get("value"):
            errs.append(invalid(vp, "", "may not be specified when `value` is not empty"))
        elif len(kinds) > 1:
            errs.append(invalid(vp, "", "may not have more than one field specified at a time"))
    return errs


def _field_ref(ref: dict, path: str) -> list[FieldError]:
    if not ref.get("apiVersion"):
        return [required(child(path, "apiVersion"))]
    field_path = ref.get("fieldPath") or ""
    if not field_path:
        return [required(child(path, "fieldPath"))]
    if field_path.endswith("]") and "['" in field_path:
        base, _, subscript = field_path[:-2].partition("['")
        if base == "metadata.annotations":
            return validate_qualified_name(subscript.lower(), path)
        if base == "metadata.labels":
            return validate_qualified_name(subscript, path)
        return [invalid(path, base, "does not support subscript")]
    if field_path not in _ENV_FIELD_PATHS:
        return [not_supported(child(path, "fieldPath"), field_path, _ENV_FIELD_PATHS)]
    return []


def _key_selector(ref: dict, path: str) -> list[FieldError]:
    name = ref.get("name") or ""
    errs = messages_to_errors(child(path, "name"), name, n.is_dns1123_subdomain(name))
    k = ref.get("key") or ""
    if not k:
        errs.append(required(child(path, "key")))
    else:
        errs += messages_to_errors(child(path, "key"), k, n.is_config_map_key(k))
    return errs


def _env_from(sources: list[dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, source in enumerate(sources):
        p = index(path, i)
        if source.get("prefix"):
            errs += messages_to_errors(child(p, "prefix"), source["prefix"],
                                       n.is_relaxed_env_var_name(source["prefix"]))
        refs = [k for k in ("configMapRef", "secretRef") if source.get(k) is not None]
        for k in refs:
            name = source[k].get("name") or ""
            errs += messages_to_errors(child(p, k, "name"), name, n.is_dns1123_subdomain(name))
        if not refs:
            errs.append(invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            errs.append(invalid(p, "", "may not have more than one field specified at a time"))
    return errs


def _volume_mounts(mounts: list[dict], volumes: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    mount_points: set[str] = set()
    for i, mount in enumerate(mounts):
        p = index(path, i)
        name = mount.get("name") or ""
        if not name:
            errs.append(required(child(p, "name")))
        if name not in volumes:
            errs.append(not_found(child(p, "name"), name))
        mount_path = mount.get("mountPath") or ""
        if not mount_path:
            errs.append(required(child(p, "mountPath")))
        if mount_path in mount_points:
            errs.append(invalid(child(p, "mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
        sub = mount.get("subPath") or ""
        if sub:
            if posixpath.isabs(sub):
                errs.append(invalid(child(path, "subPath"), sub, "must be a relative path"))
            if ".." in sub.split("/"):
                errs.append(invalid(child(path, "subPath"), sub, "must not contain '..'"))
    return errs


def _resources(resources: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    limits_path, requests_path = child(path, "limits"), child(path, "requests")
    limits: dict[str, Any] = {}
    for name, value in (resources.get("limits") or {}).items():
        p = key(limits_path, name)
        errs += _resource_name(name, p)
        q, qerrs = validate_resource_quantity(value, p)
        errs += qerrs + _integer_if_needed(name, q, value, p)
        limits[name] = (q, value)
    for name, value in (resources.get("requests") or {}).items():
        p = key(requests_path, name)
        errs += _resource_name(name, p)
        q, qerrs = validate_resource_quantity(value, p)
        errs += qerrs + _integer_if_needed(name, q, value, p)
        if q is None:
            continue
        if name in limits:
            limit, raw = limits[name]
            if limit is None:
                continue
            if q != limit and not _overcommit_allowed(name):
                errs.append(invalid(requests_path, str(value),
                                    f"must be equal to {name} limit of {raw}"))
            elif q > limit:
                errs.append(invalid(requests_path, str(value),
                                    f"must be less than or equal to {name} limit of {raw}"))
        elif not _overcommit_allowed(name):
            errs.append(required(limits_path, "Limit must be set for non overcommitable "
                                 "resources"))
    return errs


def _resource_name(name: str, path: str) -> list[FieldError]:
    errs = validate_qualified_name(name, path)
    if "/" not in name:
        if name not in ("cpu", "memory", "ephemeral-storage") and not name.startswith(
                "hugepages-"):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    return errs


def _native(name: str) -> bool:
    return "/" not in name or name.split("/")[0].endswith("kubernetes.io")


def _overcommit_allowed(name: str) -> bool:
    return _native(name) and not name.startswith("hugepages-")


def _integer_if_needed(name: str, q: Any, value: Any, path: str) -> list[FieldError]:
    if q is not None and not _native(name) and q != q.to_integral_value():
        return [invalid(path, value, "must be an integer")]
    return []


def _probes_and_lifecycle(ctr: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    lifecycle = ctr.get("lifecycle")
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                errs += _handler(lifecycle[hook], child(path, "lifecycle", hook),
                                 ("exec", "httpGet", "tcpSocket", "sleep"))
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = ctr.get(name)
        if probe is None:
            continue
        p = child(path, name)
        errs += _probe(probe, p)
        if name != "readinessProbe" and probe.get("successThreshold", 1) != 1:
            errs.append(invalid(child(p, "successThreshold"), probe["successThreshold"],
                                "must be 1"))
        if name == "readinessProbe" and probe.get("terminationGracePeriodSeconds") is not None:
            errs.append(invalid(child(p, "terminationGracePeriodSeconds"),
                                probe["terminationGracePeriodSeconds"],
                                "must not be set for readinessProbes"))
    return errs


def _probe(probe: dict, path: str) -> list[FieldError]:
    errs = _handler(probe, path, ("exec", "httpGet", "tcpSocket", "grpc"))
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
              "failureThreshold"):
        errs += nonnegative(probe.get(f, 0), child(path, f))
    grace = probe.get("terminationGracePeriodSeconds")
    if grace is not None and grace <= 0:
        errs.append(invalid(child(path, "terminationGracePeriodSeconds"), grace,
                            "must be greater than 0"))
    return errs


def _handler(handler: dict, path: str, kinds: tuple[str, ...]) -> list[FieldError]:
    errs: list[FieldError] = []
    found = 0
    for kind in kinds:
        action = handler.get(kind)
        if action is None:
            continue
        if found:
            errs.append(forbidden(child(path, kind), "may not specify more than 1 handler type"))
            continue
        found += 1
        p = child(path, kind)
        if kind == "exec":
            if not action.get("command"):
                errs.append(required(child(p, "command")))
        elif kind == "httpGet":
            if not action.get("path"):
                errs.append(required(child(p, "path")))
            errs += validate_port_num_or_name(action.get("port"), child(p, "port"))
            if action.get("scheme") not in ("HTTP", "HTTPS"):
                errs.append(not_supported(child(p, "scheme"), action.get("scheme") or "",
                                          ("HTTP", "HTTPS")))
        elif kind == "tcpSocket":
            errs += validate_port_num_or_name(action.get("port"), child(p, "port"))
        elif kind == "grpc":
            port = action.get("port", 0)
            errs += messages_to_errors(child(p, "port"), port, n.is_valid_port_num(port))
        elif kind == "sleep":
            errs += nonnegative(action.get("seconds", 0), child(p, "seconds"))
    if not found:
        errs.append(required(path, "must specify a handler type"))
    return errs

"""Cluster file: what `kubemu up -f cluster.yaml` reads (docs/cluster-file.md is the reference).

A cluster file is one YAML document: cluster settings in camelCase (name, storeReplicas,
apiservers, schedulers, controllerManagers, timeScale, apiPort, dnsPort, zones,
nodesPerActor, zonePerHost) and `nodeGroups`, each a set of identical emulated nodes
(`count`, `zone`, `labels`, `taints`, `cpu`, `memory`, `maxPods`, optional `name`), as
kind's config or an EKS/GKE node group describes machines. Decoding is strict, as the API
server's: an unknown field, a wrong type or a bad value is a `ClusterFileError` whose one line
names the field (`nodeGroups[1].taints[0].effect: ...`).

Node names: nodes of unnamed groups are `node-1..N`, numbered on across those groups in file
order (so a file without names gives the same names as `--nodes N`); a named group's nodes are
`<name>-1..count` and carry the label `kubemu.io/node-group=<name>`. A group without a zone
deals its nodes round-robin over `zones` zones (zone-a, zone-b, ...) counting across the whole
cluster, as `--zones` does. Every node gets its own loopback InternalIP 127.1.x.y by its
position in the cluster. Parsing is pure: no Ray, no files but the one read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubemu.cluster.api.quantity import parse_quantity
from kubemu.cluster.api.selectors import label_value_errors, qualified_name_errors

__all__ = ["ClusterFileError", "ClusterSpec", "NodeGroup", "load_cluster_file",
           "parse_cluster_file", "group_node_configs", "zone_name", "NODE_GROUP_LABEL",
           "API_VERSION"]

API_VERSION = "kubemu.io/v1alpha1"
NODE_GROUP_LABEL = "kubemu.io/node-group"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

# camelCase field -> (python name, type, check) of the cluster settings
_SETTINGS: dict[str, tuple[str, type, Any]] = {
    "name": ("name", str, lambda v: _dns_label(v)),
    "storeReplicas": ("store_replicas", int,
                      lambda v: None if v in (3, 5) else "must be 3 or 5"),
    "apiservers": ("apiservers", int, lambda v: _between(v, 1, 16)),
    "schedulers": ("schedulers", int, lambda v: _between(v, 1, 16)),
    "controllerManagers": ("controller_managers", int, lambda v: _between(v, 1, 16)),
    "timeScale": ("time_scale", float, lambda v: None if v > 0 else "must be > 0"),
    "apiPort": ("api_port", int, lambda v: _between(v, 1, 65535)),
    "dnsPort": ("dns_port", int, lambda v: _between(v, 0, 65535)),
    "zones": ("zones", int, lambda v: _between(v, 1, 26)),
    "nodesPerActor": ("nodes_per_actor", int, lambda v: _between(v, 1, 1000)),
    "zonePerHost": ("zone_per_host", bool, None),
}
_GROUP_FIELDS = ("name", "count", "zone", "labels", "taints", "cpu", "memory", "maxPods")


class ClusterFileError(ValueError):
    """A bad cluster file, in one line naming the field."""


@dataclass(frozen=True)
class NodeGroup:
    count: int
    name: str = ""
    zone: str = ""  # "": round-robin over the cluster's zones
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping] = ()
    cpu: str | None = None  # None: the cluster default (--node-cpu)
    memory: str | None = None
    max_pods: int | None = None


@dataclass(frozen=True)
class ClusterSpec:
    """The settings a file gives (None: not given there) and its node groups."""
    name: str | None = None
    store_replicas: int | None = None
    apiservers: int | None = None
    schedulers: int | None = None
    controller_managers: int | None = None
    time_scale: float | None = None
    api_port: int | None = None
    dns_port: int | None = None
    zones: int | None = None
    nodes_per_actor: int | None = None
    zone_per_host: bool | None = None
    node_groups: tuple[NodeGroup, ...] | None = None

    def settings(self) -> dict[str, Any]:
        """The cluster settings the file gives, by python name (node groups aside)."""
        return {py: getattr(self, py) for py, _, _ in _SETTINGS.values()
                if getattr(self, py) is not None}


def load_cluster_file(path: str | os.PathLike) -> ClusterSpec:
    """Read and parse the cluster file at `path`."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ClusterFileError(f"cannot read cluster file {path}: {exc.strerror}") from None
    return parse_cluster_file(text, source=str(path))


def parse_cluster_file(text: str, *, source: str = "cluster file") -> ClusterSpec:
    """Parse one cluster file's text; `ClusterFileError` names the first bad field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ClusterFileError(f"{source}: not YAML{where}: {problem}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ClusterFileError(f"{source}: a cluster file is a mapping of fields, "
                               f"not {_type_name(doc)}")
    unknown = sorted(set(doc) - set(_SETTINGS) - {"apiVersion", "kind", "nodeGroups"})
    if unknown:
        raise ClusterFileError(f"{unknown[0]}: unknown field (known: "
                               f"{', '.join([*_SETTINGS, 'nodeGroups'])})")
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        raise ClusterFileError(f"apiVersion: must be {API_VERSION}, not {doc['apiVersion']!r}")
    if doc.get("kind", "Cluster") != "Cluster":
        raise ClusterFileError(f"kind: must be Cluster, not {doc['kind']!r}")
    values: dict[str, Any] = {}
    for key, (py, kind, check) in _SETTINGS.items():
        if key in doc:
            values[py] = _typed(doc[key], kind, key, check)
    if "nodeGroups" in doc:
        groups = doc["nodeGroups"]
        if not isinstance(groups, list):
            raise ClusterFileError(f"nodeGroups: must be a list, not {_type_name(groups)}")
        values["node_groups"] = tuple(_group(g, f"nodeGroups[{i}]")
                                      for i, g in enumerate(groups))
        _check_names(values["node_groups"])
    return ClusterSpec(**values)


def group_node_configs(groups: Sequence[NodeGroup], *, zones: int = 1, cpu: str = "4",
                       memory: str = "8Gi", max_pods: int = 110) -> list[dict]:
    """NodeConfig dicts of every node of `groups`, in order (names and zones as the module
    docstring says); `cpu`, `memory`, `max_pods` fill what a group leaves out."""
    out: list[dict] = []
    unnamed = 0
    for group in groups:
        for j in range(1, group.count + 1):
            index = len(out)
            if group.name:
                name = f"{group.name}-{j}"
            else:
                unnamed += 1
                name = f"node-{unnamed}"
            labels = dict(group.labels)
            if group.name:
                labels.setdefault(NODE_GROUP_LABEL, group.name)
            high, low = divmod(index, 254)
            out.append({"name": name, "zone": group.zone or zone_name(index % zones),
                        "region": "region-1", "cpu": group.cpu or cpu,
                        "memory": group.memory or memory,
                        "max_pods": group.max_pods or max_pods, "labels": labels,
                        "taints": [dict(t) for t in group.taints],
                        "address": f"127.1.{high}.{low + 1}"})
    return out


def zone_name(index: int) -> str:
    """zone-a, zone-b, ... zone-z, zone-aa, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"zone-{letters}"


# ---- one node group ------------------------------------------------------------------------

def _group(raw: Any, where: str) -> NodeGroup:
    if not isinstance(raw, dict):
        raise ClusterFileError(f"{where}: must be a mapping, not {_type_name(raw)}")
    unknown = sorted(set(raw) - set(_GROUP_FIELDS))
    if unknown:
        raise ClusterFileError(f"{where}.{unknown[0]}: unknown field (known: "
                               f"{', '.join(_GROUP_FIELDS)})")
    if "count" not in raw:
        raise ClusterFileError(f"{where}.count: required")
    count = _typed(raw["count"], int, f"{where}.count", lambda v: _between(v, 1, 1000))
    name = _typed(raw.get("name", ""), str, f"{where}.name",
                  lambda v: _dns_label(v) if v else None)
    zone = _typed(raw.get("zone", ""), str, f"{where}.zone",
                  lambda v: "; ".join(label_value_errors(v)) or None)
    labels = _labels(raw.get("labels") or {}, f"{where}.labels")
    taints = raw.get("taints") or []
    if not isinstance(taints, list):
        raise ClusterFileError(f"{where}.taints: must be a list, not {_type_name(taints)}")
    cpu, memory = (_quantity(raw.get(k), f"{where}.{k}") for k in ("cpu", "memory"))
    max_pods = (_typed(raw["maxPods"], int, f"{where}.maxPods",
                       lambda v: _between(v, 1, 10_000)) if "maxPods" in raw else None)
    return NodeGroup(count=count, name=name, zone=zone, labels=labels,
                     taints=tuple(_taint(t, f"{where}.taints[{i}]")
                                  for i, t in enumerate(taints)),
                     cpu=cpu, memory=memory, max_pods=max_pods)


def _labels(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ClusterFileError(f"{where}: must be a mapping, not {_type_name(raw)}")
    out = {}
    for key, value in raw.items():
        value = "" if value is None else value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ClusterFileError(f"{where}.{key}: must be a string, not {_type_name(value)}")
        errors = qualified_name_errors(str(key)) or label_value_errors(str(value))
        if errors:
            raise ClusterFileError(f"{where}.{key}: {errors[0]}")
        out[str(key)] = str(value)
    return out


def _taint(raw: Any, where: str) -> dict:
    """A taint as a mapping {key, value?, effect} or kubectl's `key[=value]:Effect`."""
    if isinstance(raw, str):
        spec, sep, effect = raw.rpartition(":")
        if not sep:
            raise ClusterFileError(f"{where}: {raw!r} is not key[=value]:Effect")
        key, _, value = spec.partition("=")
        raw = {"key": key, "effect": effect} | ({"value": value} if value else {})
    if not isinstance(raw, dict):
        raise ClusterFileError(f"{where}: must be a mapping or key[=value]:Effect, "
                               f"not {_type_name(raw)}")
    unknown = sorted(set(raw) - {"key", "value", "effect"})
    if unknown:
        raise ClusterFileError(f"{where}.{unknown[0]}: unknown field (known: key, value, "
                               f"effect)")
    key = _typed(raw.get("key", ""), str, f"{where}.key",
                 lambda v: "; ".join(qualified_name_errors(v)) or None)
    value = _typed(raw.get("value", ""), str, f"{where}.value",
                   lambda v: "; ".join(label_value_errors(v)) or None)
    effect = raw.get("effect")
    if effect not in TAINT_EFFECTS:
        raise ClusterFileError(f"{where}.effect: must be one of {', '.join(TAINT_EFFECTS)}, "
                               f"not {effect!r}")
    return {"key": key, "effect": effect} | ({"value": value} if value else {})


def _check_names(groups: tuple[NodeGroup, ...]) -> None:
    seen: dict[str, int] = {}
    for i, group in enumerate(groups):
        if not group.name:
            continue
        if group.name in seen:
            raise ClusterFileError(f"nodeGroups[{i}].name: {group.name!r} is also the name "
                                   f"of nodeGroups[{seen[group.name]}]")
        seen[group.name] = i
    if "node" in seen and any(not g.name for g in groups):
        raise ClusterFileError(f"nodeGroups[{seen['node']}].name: 'node' would clash with "
                               f"the node-N names of the unnamed groups")


# ---- values ----------------------------------------------------------------------------------

def _typed(value: Any, kind: type, where: str, check: Any = None) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise ClusterFileError(f"{where}: must be {_KIND_NAMES[kind]}, not "
                               f"{_type_name(value)} {value!r}")
    problem = check(value) if check is not None else None
    if problem:
        raise ClusterFileError(f"{where}: {problem} (got {value!r})")
    return value


def _quantity(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ClusterFileError(f"{where}: must be a quantity, not {_type_name(value)}")
    try:
        if parse_quantity(str(value)) <= 0:
            raise ValueError
    except (ValueError, ArithmeticError):
        raise ClusterFileError(f"{where}: {value!r} is not a positive quantity "
                               f"(e.g. 4, 500m, 8Gi)") from None
    return str(value)


def _between(value: int, low: int, high: int) -> str | None:
    return None if low <= value <= high else f"must be between {low} and {high}"


def _dns_label(value: str) -> str | None:
    ok = (0 < len(value) <= 63 and value[0].isalnum() and value[-1].isalnum()
          and all(c.islower() or c.isdigit() or c == "-" for c in value))
    return None if ok else "must be a DNS label (lower-case letters, digits, '-')"


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value),
                                                                             type(value).__name__)

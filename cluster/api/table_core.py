"""Printers for the core group (besides Pod): columns and cells as kube-apiserver 1.32 prints.

Each printer mirrors its upstream counterpart in pkg/printers/internalversion: Node STATUS
comes from the Ready condition alone ("Ready", "NotReady", "Unknown" without one) plus
",SchedulingDisabled" when cordoned, ROLES from `node-role.kubernetes.io/<role>` and
`kubernetes.io/role` labels; Service EXTERNAL-IP is "<none>" for ClusterIP/NodePort without
externalIPs, the ingress IPs/hostnames (then externalIPs) or "<pending>" for LoadBalancer, and
the external name for ExternalName; PORT(S) reads "80/TCP" or "80:30080/TCP". Events print
LAST SEEN from lastTimestamp, else firstTimestamp, else eventTime (series.lastObservedTime when
a series exists) and OBJECT as "kind/name" in lower case. Fields that upstream's defaulting
always sets (Service type, port protocol, Secret type) fall back to those defaults.
"""

from __future__ import annotations

from kubemu.cluster.api.duration import age
from kubemu.cluster.api.table_common import (
    AGE, NAME, Printer, age_cell, col, format_labels, meta, name_cell, spec, status)

__all__ = ["CORE_PRINTERS"]


def _namespace(obj: dict, now: float) -> list:
    return [name_cell(obj), status(obj).get("phase", ""), age_cell(obj, now)]


def _node(obj: dict, now: float) -> list:
    st = status(obj)
    states = []
    for cond in st.get("conditions") or ():
        if cond.get("type") == "Ready":
            states = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if spec(obj).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = st.get("nodeInfo") or {}
    return [name_cell(obj), ",".join(states), ",".join(_node_roles(obj)) or "<none>",
            age_cell(obj, now), info.get("kubeletVersion", ""),
            _node_address(st, "InternalIP"), _node_address(st, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _service(obj: dict, now: float) -> list:
    sp = spec(obj)
    cluster_ips = sp.get("clusterIPs") or ([sp["clusterIP"]] if sp.get("clusterIP") else [])
    ports = ",".join(_service_port(p) for p in sp.get("ports") or ())
    return [name_cell(obj), sp.get("type") or "ClusterIP",
            cluster_ips[0] if cluster_ips else "<none>", _external_ip(obj), ports or "<none>",
            age_cell(obj, now), format_labels(sp.get("selector"))]


def _endpoints(obj: dict, now: float) -> list:
    return [name_cell(obj), _format_endpoints(obj.get("subsets") or []), age_cell(obj, now)]


def _config_map(obj: dict, now: float) -> list:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [name_cell(obj), count, age_cell(obj, now)]


def _secret(obj: dict, now: float) -> list:
    return [name_cell(obj), obj.get("type") or "Opaque", len(obj.get("data") or {}),
            age_cell(obj, now)]


def _service_account(obj: dict, now: float) -> list:
    return [name_cell(obj), len(obj.get("secrets") or ()), age_cell(obj, now)]


def _event(obj: dict, now: float) -> list:
    first = obj.get("firstTimestamp")
    first_seen = age(first, now) if first else age(obj.get("eventTime"), now)
    last = obj.get("lastTimestamp")
    last_seen = age(last, now) if last else first_seen
    count = obj.get("count") or 0
    series = obj.get("series")
    if series is not None:
        last_seen = age(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1
    involved = obj.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingController") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return [last_seen, obj.get("type", ""), obj.get("reason", ""), target,
            involved.get("fieldPath", ""), f"{component}, {instance}" if instance else component,
            (obj.get("message") or "").strip(), first_seen, count, name_cell(obj)]


def _persistent_volume(obj: dict, now: float) -> list:
    sp, st = spec(obj), status(obj)
    claim = sp.get("claimRef")
    claim_cell = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""
    phase = "Terminating" if meta(obj).get("deletionTimestamp") else st.get("phase", "")
    return [name_cell(obj), (sp.get("capacity") or {}).get("storage", "0"),
            _access_modes(sp.get("accessModes")), sp.get("persistentVolumeReclaimPolicy", ""),
            phase, claim_cell, _storage_class(obj),
            sp.get("volumeAttributesClassName") or "<unset>", st.get("reason", ""), age_cell(obj, now), sp.get("volumeMode") or "<unset>"]


def _persistent_volume_claim(obj: dict, now: float) -> list:
    sp, st = spec(obj), status(obj)
    phase = "Terminating" if meta(obj).get("deletionTimestamp") else st.get("phase", "")
    capacity = modes = ""
    if sp.get("volumeName"):
        modes = _access_modes(st.get("accessModes"))
        capacity = (st.get("capacity") or {}).get("storage", "0")
    return [name_cell(obj), phase, sp.get("volumeName", ""), capacity, modes,
            _storage_class(obj),
            sp.get("volumeAttributesClassName") or "<unset>", age_cell(obj, now),
            sp.get("volumeMode") or "<unset>"]


_WIDE = {"priority": 1}

CORE_PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Namespace"): Printer((NAME, col("Status", "string", "The status of the namespace"),
                                AGE), _namespace),
    ("", "Node"): Printer((
        NAME, col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"), AGE,
        col("Version", "string", "Kubelet Version reported by the node."),
        col("Internal-IP", "string", "List of addresses reachable to the node.", **_WIDE),
        col("External-IP", "string", "List of addresses reachable to the node.", **_WIDE),
        col("OS-Image", "string", "OS Image reported by the node.", **_WIDE),
        col("Kernel-Version", "string", "Kernel Version reported by the node.", **_WIDE),
        col("Container-Runtime", "string", "ContainerRuntime Version reported by the node.",
            **_WIDE)), _node),
    ("", "Service"): Printer((
        NAME, col("Type", "string", "type determines how the Service is exposed."),
        col("Cluster-IP", "string", "clusterIP is the IP address of the service."),
        col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes "
            "in the cluster will also accept traffic for this service."),
        col("Port(s)", "string", "The list of ports that are exposed by this service."), AGE,
        col("Selector", "string", "Route service traffic to pods with label keys and values "
            "matching this selector.", **_WIDE)), _service),
    ("", "Endpoints"): Printer((
        NAME, col("Endpoints", "string", "The set of all endpoints is the union of all "
                  "subsets."), AGE), _endpoints),
    ("", "ConfigMap"): Printer((
        NAME, col("Data", "string", "Data contains the configuration data."), AGE), _config_map),
    ("", "Secret"): Printer((
        NAME, col("Type", "string", "Used to facilitate programmatic handling of secret "
                  "data."),
        col("Data", "string", "Data contains the secret data."), AGE), _secret),
    ("", "ServiceAccount"): Printer((
        NAME, col("Secrets", "string", "Secrets is a list of the secrets in the same namespace "
                  "that pods running using this ServiceAccount are allowed to use."), AGE),
        _service_account),
    ("", "Event"): Printer((
        col("Last Seen", "string", "The time at which the most recent occurrence of this event "
            "was recorded."),
        col("Type", "string", "Type of this event (Normal, Warning), new types could be added "
            "in the future"),
        col("Reason", "string", "This should be a short, machine understandable string that "
            "gives the reason for the transition into the object's current status."),
        col("Object", "string", "The object that this event is about."),
        col("Subobject", "string", "If referring to a piece of an object instead of an entire "
            "object, this string should contain a valid JSON/Go field access statement.",
            **_WIDE),
        col("Source", "string", "The component reporting this event.", **_WIDE),
        col("Message", "string", "A human-readable description of the status of this "
            "operation."),
        col("First Seen", "string", "The time at which the event was first recorded.", **_WIDE),
        col("Count", "string", "The number of times this event has occurred.", **_WIDE),
        col("Name", "string", "Name must be unique within a namespace.", format_="name",
            **_WIDE)), _event),
    ("", "PersistentVolume"): Printer((
        NAME, col("Capacity", "string", "capacity is the description of the persistent "
                  "volume's resources and capacity."),
        col("Access Modes", "string", "accessModes contains all ways the volume can be "
            "mounted."),
        col("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to "
            "a persistent volume when released from its claim."),
        col("Status", "string", "phase indicates if a volume is available, bound to a claim, "
            "or released by a claim."),
        col("Claim", "string", "claimRef is part of a bi-directional binding between "
            "PersistentVolume and PersistentVolumeClaim."),
        col("StorageClass", "string", "StorageClass of the pv"),
        col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
        col("Reason", "string", "reason is a brief CamelCase string that describes any "
            "failure."), AGE,
        col("VolumeMode", "string", "volumeMode defines if a volume is intended to be used "
            "with a formatted filesystem or to remain in raw block state.", **_WIDE)),
        _persistent_volume),
    ("", "PersistentVolumeClaim"): Printer((
        NAME, col("Status", "string", "phase represents the current phase of "
                  "PersistentVolumeClaim."),
        col("Volume", "string", "volumeName is the binding reference to the PersistentVolume "
            "backing this claim."),
        col("Capacity", "string", "capacity represents the actual resources of the underlying "
            "volume."),
        col("Access Modes", "string", "accessModes contains the actual access modes the volume "
            "backing the PVC has."),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"), AGE,
        col("VolumeMode", "string", "volumeMode defines what type of volume is required by "
            "the claim.", **_WIDE)), _persistent_volume_claim),
}

_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
_MODE_ABBREVIATIONS = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"),
                       ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))


def _node_roles(node: dict) -> list[str]:
    roles = set()
    for key, value in (meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return sorted(roles)


def _node_address(st: dict, type_: str) -> str:
    for address in st.get("addresses") or ():
        if address.get("type") == type_:
            return address.get("address", "")
    return "<none>"


def _service_port(port: dict) -> str:
    protocol = port.get("protocol") or "TCP"
    if port.get("nodePort"):
        return f"{port.get('port', 0)}:{port['nodePort']}/{protocol}"
    return f"{port.get('port', 0)}/{protocol}"


def _external_ip(svc: dict) -> str:
    sp = spec(svc)
    type_ = sp.get("type") or "ClusterIP"
    external = sp.get("externalIPs") or []
    if type_ in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if type_ == "LoadBalancer":
        ingress = ((status(svc).get("loadBalancer") or {}).get("ingress")) or ()
        lb = sorted({i.get("ip") or i.get("hostname") for i in ingress
                     if i.get("ip") or i.get("hostname")})
        if external:
            return ",".join(lb + external)
        return ",".join(lb) if lb else "<pending>"
    if type_ == "ExternalName":
        return sp.get("externalName", "")
    return "<unknown>"


def _format_endpoints(subsets: list[dict]) -> str:
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(address.get("ip", ""))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(_host_port(address.get("ip", ""), port.get("port", 0)))
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def _storage_class(obj: dict) -> str:
    """The beta storage-class annotation wins over spec.storageClassName, as upstream."""
    annotations = meta(obj).get("annotations") or {}
    if _BETA_CLASS in annotations:
        return annotations[_BETA_CLASS]
    return spec(obj).get("storageClassName") or ""


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _access_modes(modes: list[str] | None) -> str:
    present = set(modes or ())
    return ",".join(short for mode, short in _MODE_ABBREVIATIONS if mode in present)

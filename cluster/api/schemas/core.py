"""OpenAPI schemas of core/v1 kinds other than Pod, and the storage types pods share with PVs.

Namespace, Node, Service, Endpoints, ConfigMap, Secret, ServiceAccount, Event,
PersistentVolume and PersistentVolumeClaim are defined with their Lists through
`meta.define_kind`; Binding (the pods/binding subresource body) has no List. Volume and its
common sources (emptyDir, hostPath, configMap, secret, persistentVolumeClaim, projected,
downwardAPI, nfs, ephemeral, csi) sit with PersistentVolume because both use them; the rarer
cloud sources are left out, so a manifest using one fails strict field validation. Patch
metadata follows upstream 1.32: node conditions and addresses merge by type, Service ports
by port (list map on port + protocol), ServiceAccount secrets by name.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.core_pod import CORE, core_list, core_ref, resources, strings
from kubemu.cluster.api.schemas.dsl import (
    array, boolean, define, int_or_string, integer, map_of, quantity, ref, string, string_map,
    time)
from kubemu.cluster.api.schemas.meta import (
    LABEL_SELECTOR, META, OBJECT_META, define_kind, type_meta)

__all__ = ["OBJECT_REFERENCE", "LOCAL_OBJECT_REFERENCE", "VOLUME", "CORE_KINDS"]

OBJECT_REFERENCE = CORE + "ObjectReference"
LOCAL_OBJECT_REFERENCE = CORE + "LocalObjectReference"
VOLUME = CORE + "Volume"

CORE_KINDS = ("Namespace", "Node", "Pod", "Service", "Endpoints", "ConfigMap", "Secret",
              "ServiceAccount", "Event", "PersistentVolume", "PersistentVolumeClaim")
"""The core/v1 kinds served with a List (Binding has none)."""


_r, _list, _strings, _resources = core_ref, core_list, strings, resources


def _kind(name: str, description: str, props: dict, **options) -> None:
    define_kind(CORE + name, description, props, group="", version="v1", **options)


def _conditions(name: str, description: str) -> dict:
    return _list(name, description, merge_key="type", strategy="merge", list_type="map",
                 list_map_keys=["type"])


def _condition(name: str, description: str, *, probe_field: str | None = None) -> None:
    props = {
        "type": string("The condition type."),
        "status": string("True, False or Unknown."),
        "lastTransitionTime": time("When status last changed."),
        "reason": string("A CamelCase reason for the last transition."),
        "message": string("A human-readable explanation of the last transition."),
    }
    if probe_field:
        props[probe_field] = time("When the condition was last checked or reported.")
    define(CORE + name, description, props, required=("type", "status"))


_PROTOCOL = ["SCTP", "TCP", "UDP"]
_ACCESS_MODES = ("Access modes: ReadWriteOnce, ReadOnlyMany, ReadWriteMany or "
                 "ReadWriteOncePod.")
_VOLUME_MODE = ["Block", "Filesystem"]

# ---- references -------------------------------------------------------------------------

define(OBJECT_REFERENCE, "Points at an object, or at a field within one.", {
    "kind": string("Kind of the referent."),
    "namespace": string("Namespace of the referent."),
    "name": string("Name of the referent."),
    "uid": string("UID of the referent."),
    "apiVersion": string("API version of the referent."),
    "resourceVersion": string("The referent's resourceVersion this reference was made at."),
    "fieldPath": string("A field inside the referent, such as spec.containers{web}."),
})

define(LOCAL_OBJECT_REFERENCE, "Names an object in the same namespace.", {
    "name": string("Name of the referent."),
})

define(CORE + "TypedLocalObjectReference", "Names a typed object in the same namespace.", {
    "apiGroup": string("API group of the referent; empty for the core group."),
    "kind": string("Kind of the referent."),
    "name": string("Name of the referent."),
}, required=("kind", "name"))

define(CORE + "TypedObjectReference", "Names a typed object, possibly in another namespace.", {
    "apiGroup": string("API group of the referent; empty for the core group."),
    "kind": string("Kind of the referent."),
    "name": string("Name of the referent."),
    "namespace": string("Namespace of the referent; another namespace needs a "
                        "ReferenceGrant."),
}, required=("kind", "name"))

define(CORE + "Binding", "Binds a pod to a node: the body of a pods/binding request, "
                         "usually sent by the scheduler.", {
    **type_meta(),
    "metadata": ref(OBJECT_META, "Name and namespace of the pod being bound."),
    "target": _r("ObjectReference", "The node to bind to (kind Node and its name)."),
}, required=("target",), gvk=("", "v1", "Binding"))

# ---- Namespace, Node --------------------------------------------------------------------

_kind("Namespace", "A scope for names; most objects live in one.", {
    "spec": _r("NamespaceSpec", "The namespace's desired state."),
    "status": _r("NamespaceStatus", "The namespace's observed state."),
})

define(CORE + "NamespaceSpec", "The desired state of a namespace.", {
    "finalizers": _strings("Must be empty before the namespace is removed; the namespace "
                           "controller clears `kubernetes` once the contents are deleted.",
                           list_type="atomic"),
})

define(CORE + "NamespaceStatus", "The observed state of a namespace.", {
    "phase": string("Active, or Terminating once deletion was requested.",
                    enum=["Active", "Terminating"]),
    "conditions": _conditions("NamespaceCondition", "The namespace's current conditions."),
})
_condition("NamespaceCondition", "One aspect of a namespace's state (deletion progress).")

_kind("Node", "A worker machine pods run on; its kubelet registers and reports it.", {
    "spec": _r("NodeSpec", "How the node is configured."),
    "status": _r("NodeStatus", "The node's most recently reported state; read-only."),
})

define(CORE + "NodeSpec", "How a node is configured.", {
    "podCIDR": string("The pod IP range given to this node."),
    "podCIDRs": _strings("The pod IP ranges, at most one per family, podCIDR first.",
                         strategy="merge", list_type="set"),
    "providerID": string("The node's ID in the cloud provider: <provider>://<id>."),
    "unschedulable": boolean("Keep new pods off the node (kubectl cordon)."),
    "taints": _list("Taint", "Taints that repel pods without a matching toleration.",
                    list_type="atomic"),
})

define(CORE + "Taint", "Marks a node so that pods not tolerating it are repelled.", {
    "key": string("The taint key."),
    "value": string("The taint value."),
    "effect": string("NoSchedule, PreferNoSchedule or NoExecute (evicts running pods).",
                     enum=["NoExecute", "NoSchedule", "PreferNoSchedule"]),
    "timeAdded": time("When a NoExecute taint was added."),
}, required=("key", "effect"))

define(CORE + "NodeStatus", "The observed state of a node.", {
    "capacity": _resources("Total resources of the node."),
    "allocatable": _resources("Resources available to pods; capacity minus reservations."),
    "phase": string("Deprecated lifecycle phase: Pending, Running or Terminated.",
                    enum=["Pending", "Running", "Terminated"]),
    "conditions": _conditions("NodeCondition", "Ready, MemoryPressure, DiskPressure, "
                                               "PIDPressure, NetworkUnavailable."),
    "addresses": _list("NodeAddress", "Addresses of the node: InternalIP, ExternalIP, "
                       "Hostname, ...", merge_key="type", strategy="merge",
                       list_type="map", list_map_keys=["type"]),
    "daemonEndpoints": _r("NodeDaemonEndpoints", "Ports of the daemons on the node."),
    "nodeInfo": _r("NodeSystemInfo", "Versions and IDs reported by the node."),
    "images": _list("ContainerImage", "Images present on the node.", list_type="atomic"),
    "volumesInUse": _strings("Attachable volumes in use (mounted) by the node.",
                             list_type="atomic"),
    "volumesAttached": _list("AttachedVolume", "Volumes attached to the node.",
                             list_type="atomic"),
})
_condition("NodeCondition", "One aspect of a node's state.", probe_field="lastHeartbeatTime")

define(CORE + "NodeAddress", "One address of a node.", {
    "type": string("Hostname, ExternalIP, InternalIP, ExternalDNS or InternalDNS."),
    "address": string("The address."),
}, required=("type", "address"))

define(CORE + "NodeDaemonEndpoints", "Ports the node's daemons listen on.", {
    "kubeletEndpoint": _r("DaemonEndpoint", "The kubelet's endpoint."),
})

define(CORE + "DaemonEndpoint", "A daemon's port.", {
    "Port": integer("The port number."),
}, required=("Port",))

define(CORE + "NodeSystemInfo", "Identity and versions of a node's software.", {
    "machineID": string("The machine ID (/etc/machine-id)."),
    "systemUUID": string("The system UUID from the firmware."),
    "bootID": string("Changes on every boot."),
    "kernelVersion": string("Kernel version (uname -r)."),
    "osImage": string("OS image (/etc/os-release PRETTY_NAME)."),
    "containerRuntimeVersion": string("Runtime name and version: <runtime>://<version>."),
    "kubeletVersion": string("Kubelet version."),
    "kubeProxyVersion": string("Deprecated: kube-proxy version, unreliable."),
    "operatingSystem": string("GOOS of the kubelet: linux or windows."),
    "architecture": string("GOARCH of the kubelet: amd64, arm64, ..."),
}, required=("machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
             "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion",
             "operatingSystem", "architecture"))

define(CORE + "ContainerImage", "An image on a node.", {
    "names": _strings("Names and digests of the image.", list_type="atomic"),
    "sizeBytes": integer("Size of the image in bytes.", format="int64"),
})

define(CORE + "AttachedVolume", "A volume attached to a node.", {
    "name": string("Name of the attached volume."),
    "devicePath": string("Where the device is available on the node."),
}, required=("name", "devicePath"))

# ---- Service, Endpoints -----------------------------------------------------------------

_kind("Service", "A stable virtual IP and DNS name for a set of pods, chosen by label "
                 "selector, with the ports traffic is proxied on.", {
    "spec": _r("ServiceSpec", "How the Service selects pods and exposes ports."),
    "status": _r("ServiceStatus", "The Service's observed state (load balancer)."),
})

define(CORE + "ServiceSpec", "How a Service selects pods and exposes ports.", {
    "ports": _list("ServicePort", "The ports the Service exposes.", merge_key="port",
                   strategy="merge", list_type="map", list_map_keys=["port", "protocol"]),
    "selector": string_map("Pods with these labels back the Service; without a selector, "
                           "endpoints are managed by hand."),
    "clusterIP": string("The virtual IP; allocated when empty, `None` for a headless "
                        "Service. Immutable once set."),
    "clusterIPs": _strings("The virtual IPs, one per family, clusterIP first.",
                           list_type="atomic"),
    "type": string("ClusterIP (default), NodePort, LoadBalancer or ExternalName.",
                   enum=["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]),
    "externalIPs": _strings("Extra IPs on which the nodes accept traffic for the Service.",
                            list_type="atomic"),
    "sessionAffinity": string("ClientIP sends a client to the same pod each time; None "
                              "(default) balances each connection.",
                              enum=["ClientIP", "None"]),
    "loadBalancerIP": string("Deprecated: the IP asked of the load balancer."),
    "loadBalancerSourceRanges": _strings("Client CIDRs allowed through the load balancer.",
                                         list_type="atomic"),
    "externalName": string("For type ExternalName: the DNS name the Service is a CNAME "
                           "of."),
    "externalTrafficPolicy": string("Cluster (default) spreads external traffic over all "
                                    "endpoints; Local keeps it on the receiving node and "
                                    "the client IP.", enum=["Cluster", "Local"]),
    "healthCheckNodePort": integer("Node port of the health check a load balancer uses "
                                   "with externalTrafficPolicy Local."),
    "publishNotReadyAddresses": boolean("Publish DNS records and endpoints for pods that "
                                        "are not ready."),
    "sessionAffinityConfig": _r("SessionAffinityConfig", "Settings of session affinity."),
    "ipFamilies": _strings("IPv4 and/or IPv6, in order; clusterIPs follow it.",
                           list_type="atomic"),
    "ipFamilyPolicy": string("SingleStack, PreferDualStack or RequireDualStack.",
                             enum=["PreferDualStack", "RequireDualStack", "SingleStack"]),
    "allocateLoadBalancerNodePorts": boolean("Whether a LoadBalancer Service gets node "
                                             "ports; default true."),
    "loadBalancerClass": string("The load balancer implementation to use; immutable."),
    "internalTrafficPolicy": string("Cluster (default) or Local: whether in-cluster traffic "
                                    "may leave the node.", enum=["Cluster", "Local"]),
    "trafficDistribution": string("A preference for how traffic reaches endpoints, such "
                                  "as PreferClose (same zone first)."),
})

define(CORE + "ServicePort", "One port of a Service.", {
    "name": string("Unique name of the port; required when there are several."),
    "protocol": string("TCP (default), UDP or SCTP.", enum=_PROTOCOL, default="TCP"),
    "appProtocol": string("The application protocol, as a hint (http, kubernetes.io/h2c)."),
    "port": integer("The port the Service exposes."),
    "targetPort": int_or_string("Number or name of the pods' port traffic goes to; "
                                "defaults to port."),
    "nodePort": integer("Port on every node for NodePort and LoadBalancer Services; "
                        "allocated when empty."),
}, required=("port",))

define(CORE + "SessionAffinityConfig", "Settings of session affinity.", {
    "clientIP": _r("ClientIPConfig", "Settings of ClientIP affinity."),
})

define(CORE + "ClientIPConfig", "Settings of ClientIP session affinity.", {
    "timeoutSeconds": integer("How long a client sticks to its pod; default 10800 (3h)."),
})

define(CORE + "ServiceStatus", "The observed state of a Service.", {
    "loadBalancer": _r("LoadBalancerStatus", "The load balancer, for LoadBalancer "
                                             "Services."),
    "conditions": array(ref(META + "Condition"), "The Service's current conditions.",
                        merge_key="type", strategy="merge", list_type="map",
                        list_map_keys=["type"]),
})

define(CORE + "LoadBalancerStatus", "The status of a load balancer.", {
    "ingress": _list("LoadBalancerIngress", "Where the load balancer accepts traffic.",
                     list_type="atomic"),
})

define(CORE + "LoadBalancerIngress", "One load balancer entry point.", {
    "ip": string("IP of the entry point."),
    "hostname": string("DNS name of the entry point."),
    "ipMode": string("VIP (traffic arrives addressed to the IP) or Proxy."),
    "ports": _list("PortStatus", "Status of each port.", list_type="atomic"),
})

define(CORE + "PortStatus", "The status of one load balancer port.", {
    "port": integer("The port number."),
    "protocol": string("TCP, UDP or SCTP.", enum=_PROTOCOL),
    "error": string("A CamelCase error of this port, empty when it works."),
}, required=("port", "protocol"))

_kind("Endpoints", "The addresses that back a Service (legacy; EndpointSlices replace it).",
      {"subsets": _list("EndpointSubset", "Groups of addresses sharing the same ports.",
                        list_type="atomic")})

define(CORE + "EndpointSubset", "Addresses that all serve the same ports.", {
    "addresses": _list("EndpointAddress", "Ready addresses.", list_type="atomic"),
    "notReadyAddresses": _list("EndpointAddress", "Addresses not ready yet.",
                               list_type="atomic"),
    "ports": _list("EndpointPort", "Ports on every address.", list_type="atomic"),
})

define(CORE + "EndpointAddress", "One endpoint address.", {
    "ip": string("The IP of the endpoint."),
    "hostname": string("The endpoint's hostname."),
    "nodeName": string("The node hosting the endpoint."),
    "targetRef": _r("ObjectReference", "The object (usually a Pod) behind the address."),
}, required=("ip",))

define(CORE + "EndpointPort", "One endpoint port.", {
    "name": string("Matches the Service port's name."),
    "port": integer("The port number."),
    "protocol": string("TCP (default), UDP or SCTP.", enum=_PROTOCOL),
    "appProtocol": string("The application protocol, as a hint."),
}, required=("port",))

# ---- ConfigMap, Secret, ServiceAccount, Event -------------------------------------------

_kind("ConfigMap", "Non-secret configuration data for pods to consume.", {
    "data": string_map("UTF-8 values by key."),
    "binaryData": map_of(string(format="byte"), "Binary values by key, base64 in JSON; "
                                                "keys must not repeat those of data."),
    "immutable": boolean("When true, data cannot change (only deletion)."),
})

_kind("Secret", "Sensitive data such as passwords and tokens.", {
    "data": map_of(string(format="byte"), "Values by key, base64 in JSON."),
    "stringData": string_map("Write-only plain-text values, merged into data on write."),
    "type": string("How the data is used: Opaque (default), kubernetes.io/tls, "
                   "kubernetes.io/dockerconfigjson, kubernetes.io/service-account-token, "
                   "..."),
    "immutable": boolean("When true, data cannot change (only deletion)."),
})

_kind("ServiceAccount", "An identity for processes in pods.", {
    "secrets": _list("ObjectReference", "Secrets pods of this account may use; legacy "
                     "token secrets.", merge_key="name", strategy="merge"),
    "imagePullSecrets": _list("LocalObjectReference", "Pull secrets added to pods of this "
                              "account.", list_type="atomic"),
    "automountServiceAccountToken": boolean("Whether pods mount an API token by default."),
})

_kind("Event", "A report of something that happened to an object (core/v1 Event).", {
    "involvedObject": _r("ObjectReference", "The object the event is about."),
    "reason": string("A short CamelCase reason, such as Scheduled or BackOff."),
    "message": string("A human-readable description."),
    "source": _r("EventSource", "The component that reported it (deprecated form)."),
    "firstTimestamp": time("When the event was first recorded."),
    "lastTimestamp": time("When it most recently occurred."),
    "count": integer("How many times it occurred."),
    "type": string("Normal or Warning."),
    "eventTime": string("When it first occurred, in microseconds (MicroTime).",
                        format="date-time"),
    "series": _r("EventSeries", "Data about a recurring event."),
    "action": string("What was done, or failed, about the object."),
    "related": _r("ObjectReference", "A second object involved, if any."),
    "reportingComponent": string("The controller that emitted the event "
                                 "(kubernetes.io/kubelet).", default=""),
    "reportingInstance": string("The controller instance that emitted it.", default=""),
}, required=("metadata", "involvedObject"))

define(CORE + "EventSource", "The component that reported an event.", {
    "component": string("The component."),
    "host": string("The node it ran on."),
})

define(CORE + "EventSeries", "Repeated occurrences of one event.", {
    "count": integer("Occurrences so far."),
    "lastObservedTime": string("When the last occurrence was seen (MicroTime).",
                               format="date-time"),
})

# ---- storage: volumes, PersistentVolume, PersistentVolumeClaim --------------------------

define(VOLUME, "A named volume of a pod, which its containers may mount; set one source.", {
    "name": string("The volume's name, a DNS label unique within the pod."),
    "emptyDir": _r("EmptyDirVolumeSource", "A scratch directory that lives as long as the "
                                           "pod."),
    "hostPath": _r("HostPathVolumeSource", "A file or directory of the node; for system "
                                           "agents."),
    "configMap": _r("ConfigMapVolumeSource", "Files from the keys of a ConfigMap."),
    "secret": _r("SecretVolumeSource", "Files from the keys of a Secret."),
    "persistentVolumeClaim": _r("PersistentVolumeClaimVolumeSource", "The volume bound to "
                                "a PersistentVolumeClaim in the namespace."),
    "projected": _r("ProjectedVolumeSource", "Several sources projected into one "
                                             "directory."),
    "downwardAPI": _r("DownwardAPIVolumeSource", "Files holding fields of the pod."),
    "nfs": _r("NFSVolumeSource", "An NFS export."),
    "ephemeral": _r("EphemeralVolumeSource", "A volume provisioned from a claim template "
                                             "for this pod and deleted with it."),
    "csi": _r("CSIVolumeSource", "An inline ephemeral volume from a CSI driver."),
}, required=("name",))

define(CORE + "EmptyDirVolumeSource", "An empty directory created for the pod.", {
    "medium": string("Backing storage: empty for the node's default, Memory for tmpfs."),
    "sizeLimit": quantity("Most space the directory may use."),
})

define(CORE + "HostPathVolumeSource", "A path on the node.", {
    "path": string("The path on the node; a symlink is followed."),
    "type": string("What must be at the path; empty skips the check.",
                   enum=["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate",
                         "File", "FileOrCreate", "Socket"]),
}, required=("path",))

_ITEMS = ("Keys to project and the paths they appear at; without it every key becomes a "
          "file named after it.")
_DEFAULT_MODE = ("Permission bits of created files, 0000-0777 (octal in YAML); default "
                 "0644.")

define(CORE + "ConfigMapVolumeSource", "Files from the keys of a ConfigMap.", {
    "name": string("Name of the ConfigMap."),
    "items": _list("KeyToPath", _ITEMS, list_type="atomic"),
    "defaultMode": integer(_DEFAULT_MODE),
    "optional": boolean("Allow the ConfigMap or its keys to be missing."),
})

define(CORE + "SecretVolumeSource", "Files from the keys of a Secret.", {
    "secretName": string("Name of the Secret in the pod's namespace."),
    "items": _list("KeyToPath", _ITEMS, list_type="atomic"),
    "defaultMode": integer(_DEFAULT_MODE),
    "optional": boolean("Allow the Secret or its keys to be missing."),
})

define(CORE + "KeyToPath", "Maps one key to a file path in the volume.", {
    "key": string("The key."),
    "path": string("Relative file path; must not contain '..'."),
    "mode": integer("Permission bits of this file; defaults to the volume's."),
}, required=("key", "path"))

define(CORE + "PersistentVolumeClaimVolumeSource", "Mounts the volume of a claim.", {
    "claimName": string("Name of the PersistentVolumeClaim in the pod's namespace."),
    "readOnly": boolean("Mount read-only."),
}, required=("claimName",))

define(CORE + "ProjectedVolumeSource", "Several volume sources in one directory.", {
    "sources": _list("VolumeProjection", "The projected sources.", list_type="atomic"),
    "defaultMode": integer(_DEFAULT_MODE),
})

define(CORE + "VolumeProjection", "One projected source; set one field.", {
    "secret": _r("SecretProjection", "Keys of a Secret."),
    "downwardAPI": _r("DownwardAPIProjection", "Fields of the pod."),
    "configMap": _r("ConfigMapProjection", "Keys of a ConfigMap."),
    "serviceAccountToken": _r("ServiceAccountTokenProjection", "A bound service account "
                                                               "token."),
})

for _name in ("ConfigMap", "Secret"):
    define(CORE + f"{_name}Projection", f"Keys of a {_name} projected as files.", {
        "name": string(f"Name of the {_name}."),
        "items": _list("KeyToPath", _ITEMS, list_type="atomic"),
        "optional": boolean(f"Allow the {_name} or its keys to be missing."),
    })

define(CORE + "DownwardAPIProjection", "Pod fields projected as files.", {
    "items": _list("DownwardAPIVolumeFile", "The files.", list_type="atomic"),
})

define(CORE + "DownwardAPIVolumeSource", "Pod fields as files.", {
    "items": _list("DownwardAPIVolumeFile", "The files.", list_type="atomic"),
    "defaultMode": integer(_DEFAULT_MODE),
})

define(CORE + "DownwardAPIVolumeFile", "A file holding one pod field or resource.", {
    "path": string("Relative file path; must not contain '..'."),
    "fieldRef": ref(CORE + "ObjectFieldSelector", "A pod field: metadata.name, "
                    "metadata.namespace, metadata.labels, metadata.annotations, "
                    "metadata.uid."),
    "resourceFieldRef": ref(CORE + "ResourceFieldSelector", "A container's limit or "
                                                            "request."),
    "mode": integer("Permission bits of this file; defaults to the volume's."),
}, required=("path",))

define(CORE + "ServiceAccountTokenProjection", "A token of the pod's service account, "
                                               "refreshed by the kubelet.", {
    "audience": string("The token's intended audience; the API server's by default."),
    "expirationSeconds": integer("Requested validity; at least 600, default 3600.",
                                 format="int64"),
    "path": string("Relative file path of the token."),
}, required=("path",))

define(CORE + "NFSVolumeSource", "An NFS export.", {
    "server": string("Host name or IP of the NFS server."),
    "path": string("The exported path."),
    "readOnly": boolean("Mount read-only."),
}, required=("server", "path"))

define(CORE + "EphemeralVolumeSource", "A per-pod volume from a claim template.", {
    "volumeClaimTemplate": _r("PersistentVolumeClaimTemplate", "The claim made for the pod, "
                              "named <pod>-<volume> and owned by it."),
})

define(CORE + "PersistentVolumeClaimTemplate", "A template of a PersistentVolumeClaim.", {
    "metadata": ref(OBJECT_META, "Labels and annotations copied to the claim."),
    "spec": _r("PersistentVolumeClaimSpec", "The claim's spec, copied unchanged."),
}, required=("spec",))

define(CORE + "CSIVolumeSource", "An inline volume from a CSI driver.", {
    "driver": string("Name of the CSI driver."),
    "readOnly": boolean("Mount read-only."),
    "fsType": string("Filesystem type, such as ext4."),
    "volumeAttributes": string_map("Driver-specific properties."),
    "nodePublishSecretRef": _r("LocalObjectReference", "Secret passed to the driver's "
                                                       "publish calls."),
}, required=("driver",))

_kind("PersistentVolume", "A piece of storage in the cluster, provisioned by an "
                          "administrator or dynamically for a claim.", {
    "spec": _r("PersistentVolumeSpec", "The volume's capacity, source and access."),
    "status": _r("PersistentVolumeStatus", "The volume's observed state; read-only."),
})

define(CORE + "PersistentVolumeSpec", "A persistent volume's capacity, source and access.", {
    "capacity": _resources("The volume's capacity (storage)."),
    "accessModes": _strings(_ACCESS_MODES, list_type="atomic"),
    "claimRef": _r("ObjectReference", "The claim bound to this volume."),
    "persistentVolumeReclaimPolicy": string(
        "What happens when the claim is released: Retain (manual reclaim), Delete, or the "
        "deprecated Recycle.", enum=["Delete", "Recycle", "Retain"]),
    "storageClassName": string("The StorageClass the volume belongs to; empty for none."),
    "mountOptions": _strings("Mount options, not validated.", list_type="atomic"),
    "volumeMode": string("Filesystem (default) or Block.", enum=_VOLUME_MODE),
    "nodeAffinity": _r("VolumeNodeAffinity", "The nodes the volume can be reached from."),
    "volumeAttributesClassName": string("The VolumeAttributesClass of the volume."),
    "hostPath": _r("HostPathVolumeSource", "A path on one node; for testing only."),
    "nfs": _r("NFSVolumeSource", "An NFS export."),
    "local": _r("LocalVolumeSource", "A local disk or directory of one node."),
})

define(CORE + "VolumeNodeAffinity", "The nodes a volume can be reached from.", {
    "required": _r("NodeSelector", "Nodes that must match."),
})

define(CORE + "LocalVolumeSource", "Local storage on a node.", {
    "path": string("Path of the disk, partition or directory on the node."),
    "fsType": string("Filesystem type for a block device."),
}, required=("path",))

define(CORE + "PersistentVolumeStatus", "The observed state of a persistent volume.", {
    "phase": string("Pending, Available, Bound, Released or Failed.",
                    enum=["Available", "Bound", "Failed", "Pending", "Released"]),
    "message": string("Why the volume is in this state, for people."),
    "reason": string("A short CamelCase reason for a failure."),
    "lastPhaseTransitionTime": time("When the phase last changed."),
})

_kind("PersistentVolumeClaim", "A user's request for storage, bound to one "
                               "PersistentVolume.", {
    "spec": _r("PersistentVolumeClaimSpec", "The storage requested."),
    "status": _r("PersistentVolumeClaimStatus", "The claim's observed state; read-only."),
})

define(CORE + "PersistentVolumeClaimSpec", "The storage a claim requests.", {
    "accessModes": _strings(_ACCESS_MODES, list_type="atomic"),
    "selector": ref(LABEL_SELECTOR, "Labels a volume must have to be bound."),
    "resources": _r("VolumeResourceRequirements", "The minimum (and maximum) storage."),
    "volumeName": string("Bind to this specific PersistentVolume."),
    "storageClassName": string("The StorageClass to provision from; empty string for none, "
                               "unset for the default class."),
    "volumeMode": string("Filesystem (default) or Block.", enum=_VOLUME_MODE),
    "dataSource": _r("TypedLocalObjectReference", "A snapshot or claim to fill the volume "
                                                  "from."),
    "dataSourceRef": _r("TypedObjectReference", "Any populator object to fill the volume "
                                                "from."),
    "volumeAttributesClassName": string("The VolumeAttributesClass to use."),
})

define(CORE + "VolumeResourceRequirements", "Storage requested by a claim.", {
    "limits": _resources("The most storage allowed."),
    "requests": _resources("The least storage needed."),
})

define(CORE + "PersistentVolumeClaimStatus", "The observed state of a claim.", {
    "phase": string("Pending, Bound or Lost.", enum=["Bound", "Lost", "Pending"]),
    "accessModes": _strings("The access modes of the bound volume.", list_type="atomic"),
    "capacity": _resources("The capacity of the bound volume."),
    "conditions": _conditions("PersistentVolumeClaimCondition", "The claim's current "
                              "conditions, such as Resizing."),
    "allocatedResources": _resources("Storage allotted to the claim during a resize."),
    "allocatedResourceStatuses": string_map("Progress of a resize per resource."),
    "currentVolumeAttributesClassName": string("The VolumeAttributesClass in effect."),
})
_condition("PersistentVolumeClaimCondition", "One aspect of a claim's state.",
           probe_field="lastProbeTime")

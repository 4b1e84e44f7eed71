"""OpenAPI schemas of the core/v1 Pod: PodSpec, Container and every part, PodStatus.

The Pod is the one kind whose schema most tools read closely: kubectl's strategic merge patch
merges containers and volumes by name, ports by containerPort, env by name and volumeMounts
by mountPath, and keeps tolerations atomic (replaced whole), exactly because upstream's
schema says so; this module writes the same patch metadata. Fields follow upstream 1.32
(including alpha fields such as pod-level resources). Descriptions are short paraphrases of
upstream's. Probes, security contexts, scheduling constraints and PodTemplateSpec (workloads
embed it) live here; Volume and its sources live with PersistentVolume in `core`, which
shares them, as do the references (LocalObjectReference) and the PVC spec.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.dsl import (
    array, boolean, define, int_or_string, integer, map_of, quantity, ref, string, string_map,
    time)
from kubemu.cluster.api.schemas.meta import LABEL_SELECTOR, OBJECT_META, define_kind

__all__ = ["CORE", "POD", "POD_SPEC", "POD_TEMPLATE_SPEC", "POD_STATUS", "CONTAINER"]

CORE = "io.k8s.api.core.v1."
POD = CORE + "Pod"
POD_SPEC = CORE + "PodSpec"
POD_STATUS = CORE + "PodStatus"
POD_TEMPLATE_SPEC = CORE + "PodTemplateSpec"
CONTAINER = CORE + "Container"


def core_ref(name: str, description: str = "") -> dict:
    """A field of core/v1 type `name`."""
    return ref(CORE + name, description)


def core_list(name: str, description: str, **patch) -> dict:
    """A list of core/v1 type `name` (patch metadata in `patch`)."""
    return array(ref(CORE + name), description, **patch)


def strings(description: str, **patch) -> dict:
    return array(string(), description, **patch)


def resources(description: str) -> dict:
    """A ResourceList: resource name -> quantity."""
    return map_of(quantity(), description)


_r, _list, _strings, _resources = core_ref, core_list, strings, resources


_PROTOCOL = ["SCTP", "TCP", "UDP"]

# ---- Pod, template, spec ------------------------------------------------------------------

define_kind(POD, "A group of containers scheduled together onto one node, sharing network "
                 "and storage; the smallest unit Kubernetes runs.", {
    "spec": _r("PodSpec", "The desired behaviour of the pod."),
    "status": _r("PodStatus", "The most recently observed state of the pod; read-only."),
}, group="", version="v1")

define(POD_TEMPLATE_SPEC, "The pod a workload controller creates: metadata and spec.", {
    "metadata": ref(OBJECT_META, "Metadata given to every pod made from this template."),
    "spec": _r("PodSpec", "The spec of every pod made from this template."),
})

define(POD_SPEC, "The desired state of a pod: its containers, volumes and scheduling rules.", {
    "volumes": _list("Volume", "Volumes the pod's containers may mount.",
                     merge_key="name", strategy="merge,retainKeys"),
    "initContainers": _list("Container", "Containers run one after another, each to "
                            "completion, before the app containers start; those with "
                            "restartPolicy Always are sidecars that keep running.",
                            merge_key="name", strategy="merge"),
    "containers": _list("Container", "The pod's app containers; at least one. Cannot be "
                        "added or removed after creation.", merge_key="name",
                        strategy="merge"),
    "ephemeralContainers": _list("EphemeralContainer", "Temporary debugging containers "
                                 "added to a running pod (kubectl debug) through a "
                                 "subresource.", merge_key="name", strategy="merge"),
    "restartPolicy": string("When the kubelet restarts exited containers: Always (the "
                            "default), OnFailure or Never.",
                            enum=["Always", "Never", "OnFailure"]),
    "terminationGracePeriodSeconds": integer(
        "Seconds between the stop signal and the kill on deletion; default 30, 0 kills at "
        "once.", format="int64"),
    "activeDeadlineSeconds": integer("Seconds the pod may be active before the kubelet "
                                     "fails it.", format="int64"),
    "dnsPolicy": string("How the pod's DNS is configured: ClusterFirst (default), "
                        "ClusterFirstWithHostNet, Default (the node's) or None (dnsConfig "
                        "only).", enum=["ClusterFirst", "ClusterFirstWithHostNet",
                                        "Default", "None"]),
    "nodeSelector": string_map("Labels a node must have for the pod to be scheduled there."),
    "serviceAccountName": string("The ServiceAccount the pod runs as; default is "
                                 "`default`."),
    "serviceAccount": string("Deprecated alias of serviceAccountName."),
    "automountServiceAccountToken": boolean("Whether the service account token is mounted "
                                            "into the containers."),
    "nodeName": string("The node the pod is bound to; set by the scheduler, or by the user "
                       "to bypass scheduling."),
    "hostNetwork": boolean("Use the node's network namespace; ports are then node ports."),
    "hostPID": boolean("Use the node's process namespace."),
    "hostIPC": boolean("Use the node's IPC namespace."),
    "shareProcessNamespace": boolean("All containers share one process namespace, so they "
                                     "see and signal each other's processes."),
    "securityContext": _r("PodSecurityContext", "Security attributes applied to every "
                                                "container of the pod."),
    "imagePullSecrets": _list("LocalObjectReference", "Secrets in the pod's namespace used "
                              "to pull images from private registries.",
                              merge_key="name", strategy="merge"),
    "hostname": string("The pod's hostname; defaults to the pod name."),
    "subdomain": string("With a headless Service of this name, the pod's DNS name becomes "
                        "<hostname>.<subdomain>.<namespace>.svc.<cluster domain>."),
    "affinity": _r("Affinity", "Node affinity and pod (anti-)affinity scheduling rules."),
    "schedulerName": string("The scheduler that places this pod; default-scheduler if "
                            "empty."),
    "tolerations": _list("Toleration", "Taints this pod tolerates. Replaced as a whole by "
                                       "patches."),
    "hostAliases": _list("HostAlias", "Extra /etc/hosts entries for the pod's containers.",
                         merge_key="ip", strategy="merge"),
    "priorityClassName": string("The PriorityClass giving the pod its priority; "
                                "system-node-critical and system-cluster-critical are the "
                                "highest."),
    "priority": integer("The pod's priority, resolved from priorityClassName by admission; "
                        "higher values schedule first and may preempt lower ones."),
    "dnsConfig": _r("PodDNSConfig", "DNS parameters merged into those the dnsPolicy "
                                    "produces."),
    "readinessGates": _list("PodReadinessGate", "Extra conditions that must be True for the "
                                                "pod to be Ready."),
    "runtimeClassName": string("The RuntimeClass whose handler runs the pod."),
    "enableServiceLinks": boolean("Inject Docker-link style environment variables for "
                                  "Services; default true."),
    "preemptionPolicy": string("Whether this pod may preempt lower-priority pods: "
                               "PreemptLowerPriority (default) or Never.",
                               enum=["Never", "PreemptLowerPriority"]),
    "overhead": _resources("Resources the pod's sandbox uses on top of its containers, set "
                           "from the RuntimeClass by admission."),
    "topologySpreadConstraints": _list(
        "TopologySpreadConstraint", "How the pod and its peers spread across topology "
        "domains such as zones and nodes.", merge_key="topologyKey", strategy="merge",
        list_type="map", list_map_keys=["topologyKey", "whenUnsatisfiable"]),
    "setHostnameAsFQDN": boolean("Set the fully qualified domain name as the hostname "
                                 "inside the containers."),
    "os": _r("PodOS", "The operating system the pod needs; validation checks fields "
                      "against it."),
    "hostUsers": boolean("Use the node's user namespace (default true); false gives the pod "
                         "its own."),
    "schedulingGates": _list("PodSchedulingGate", "While any gate remains the scheduler "
                             "does not consider the pod; gates can only be removed.",
                             merge_key="name", strategy="merge", list_type="map",
                             list_map_keys=["name"]),
    "resourceClaims": _list("PodResourceClaim", "Dynamic resources (ResourceClaims) the pod "
                            "needs; containers refer to them by name.",
                            merge_key="name", strategy="merge,retainKeys",
                            list_type="map", list_map_keys=["name"]),
    "resources": _r("ResourceRequirements", "Pod-level requests and limits shared by all "
                                            "containers (alpha)."),
}, required=("containers",))

# ---- containers -------------------------------------------------------------------------


def _container_props() -> dict[str, dict]:
    return {
        "name": string("The container's name, a DNS label unique within the pod."),
        "image": string("The container image to run."),
        "command": _strings("The entrypoint, replacing the image's ENTRYPOINT; $(VAR) refers "
                            "to the container's environment.", list_type="atomic"),
        "args": _strings("Arguments to the entrypoint, replacing the image's CMD.",
                         list_type="atomic"),
        "workingDir": string("The working directory; the image's default if empty."),
        "ports": _list("ContainerPort", "Ports the container exposes; informational, but "
                       "named ports are what Services target by name.",
                       merge_key="containerPort", strategy="merge", list_type="map",
                       list_map_keys=["containerPort", "protocol"]),
        "envFrom": _list("EnvFromSource", "Sources whose keys all become environment "
                         "variables; env entries win on conflict.", list_type="atomic"),
        "env": _list("EnvVar", "Environment variables to set.", merge_key="name",
                     strategy="merge"),
        "resources": _r("ResourceRequirements", "Compute resources the container requests "
                                                "and is limited to."),
        "resizePolicy": _list("ContainerResizePolicy", "Whether resizing each resource "
                              "needs a container restart.", list_type="atomic"),
        "restartPolicy": string("Only for init containers: Always makes it a sidecar that "
                                "runs for the pod's life."),
        "volumeMounts": _list("VolumeMount", "Pod volumes mounted into the container's "
                              "filesystem.", merge_key="mountPath", strategy="merge"),
        "volumeDevices": _list("VolumeDevice", "Block devices the container uses.",
                               merge_key="devicePath", strategy="merge"),
        "livenessProbe": _r("Probe", "Checks the container is alive; failures restart it."),
        "readinessProbe": _r("Probe", "Checks the container can serve; failures take the "
                                      "pod out of Service endpoints."),
        "startupProbe": _r("Probe", "Checks the container has started; other probes wait "
                                    "until it succeeds, failures restart it."),
        "lifecycle": _r("Lifecycle", "Actions the kubelet runs after start and before "
                                     "stop."),
        "terminationMessagePath": string("File whose content becomes the termination "
                                         "message; default /dev/termination-log."),
        "terminationMessagePolicy": string(
            "File (default) reads only the message file; FallbackToLogsOnError uses the log "
            "tail when the file is empty and the container failed.",
            enum=["FallbackToLogsOnError", "File"]),
        "imagePullPolicy": string("Always, Never or IfNotPresent; defaults to Always for "
                                  ":latest and IfNotPresent otherwise.",
                                  enum=["Always", "IfNotPresent", "Never"]),
        "securityContext": _r("SecurityContext", "Security options of this container; they "
                                                 "override the pod's."),
        "stdin": boolean("Allocate a stdin buffer for the container."),
        "stdinOnce": boolean("Close stdin after the first attach session ends."),
        "tty": boolean("Allocate a TTY; needs stdin."),
    }


define(CONTAINER, "One application container of a pod.", _container_props(),
       required=("name",))

define(CORE + "EphemeralContainer",
       "A temporary container added to a running pod for debugging; no ports, probes or "
       "resources.", {
           **_container_props(),
           "targetContainerName": string("The container whose namespaces (processes) this "
                                         "one joins."),
       }, required=("name",))

define(CORE + "ContainerPort", "A network port of a container.", {
    "name": string("A name unique in the pod (IANA_SVC_NAME) that Services can target."),
    "hostPort": integer("Port opened on the node for this container port; needs care as "
                        "few pods can share it."),
    "containerPort": integer("The port number on the pod's IP."),
    "protocol": string("TCP (default), UDP or SCTP.", enum=_PROTOCOL, default="TCP"),
    "hostIP": string("The node IP the host port binds to."),
}, required=("containerPort",))

define(CORE + "EnvVar", "An environment variable: a literal value or a reference.", {
    "name": string("The variable's name."),
    "value": string("Literal value; $(VAR) expands earlier variables, $$ escapes."),
    "valueFrom": _r("EnvVarSource", "Where the value comes from when not literal."),
}, required=("name",))

define(CORE + "EnvVarSource", "The source of an environment variable's value; set one.", {
    "fieldRef": _r("ObjectFieldSelector", "A pod field: metadata.name, metadata.namespace, "
                   "metadata.labels['k'], spec.nodeName, status.podIP, ..."),
    "resourceFieldRef": _r("ResourceFieldSelector", "A container's resource limit or "
                                                    "request."),
    "configMapKeyRef": _r("ConfigMapKeySelector", "A key of a ConfigMap."),
    "secretKeyRef": _r("SecretKeySelector", "A key of a Secret."),
})

define(CORE + "ObjectFieldSelector", "Selects a field of the pod.", {
    "apiVersion": string("Version of the schema fieldPath is written in; default v1."),
    "fieldPath": string("Path of the field to select."),
}, required=("fieldPath",))

define(CORE + "ResourceFieldSelector", "Selects a container's resource, scaled by a divisor.",
       {"containerName": string("The container; required for volumes."),
        "resource": string("limits.cpu, requests.memory, limits.ephemeral-storage, ..."),
        "divisor": quantity("Unit of the exposed value; default 1.")},
       required=("resource",))

for _kind in ("ConfigMap", "Secret"):
    define(CORE + f"{_kind}KeySelector", f"Selects one key of a {_kind}.", {
        "key": string("The key to select."),
        "name": string(f"Name of the {_kind} in the pod's namespace."),
        "optional": boolean(f"Allow the {_kind} or key to be missing."),
    }, required=("key",))
    define(CORE + f"{_kind}EnvSource", f"Makes every key of a {_kind} an environment "
                                       f"variable.", {
        "name": string(f"Name of the {_kind}."),
        "optional": boolean(f"Allow the {_kind} to be missing."),
    })

define(CORE + "EnvFromSource", "A set of environment variables from a ConfigMap or Secret.", {
    "prefix": string("Prepended to every key."),
    "configMapRef": _r("ConfigMapEnvSource", "The ConfigMap to read."),
    "secretRef": _r("SecretEnvSource", "The Secret to read."),
})

define(CORE + "ResourceRequirements", "Compute resources requested and allowed.", {
    "limits": _resources("The most of each resource the container may use."),
    "requests": _resources("The amount of each resource the scheduler reserves; defaults "
                           "to limits when only limits are set."),
    "claims": _list("ResourceClaim", "Names of the pod's resourceClaims this container "
                    "uses.", list_type="map", list_map_keys=["name"]),
})

define(CORE + "ResourceClaim", "A reference to one of the pod's resourceClaims.", {
    "name": string("The name of an entry in the pod's spec.resourceClaims."),
    "request": string("One request within that claim; the whole claim if empty."),
}, required=("name",))

define(CORE + "ContainerResizePolicy", "How a container is resized for one resource.", {
    "resourceName": string("The resource (cpu, memory)."),
    "restartPolicy": string("NotRequired (default) or RestartContainer.",
                            enum=["NotRequired", "RestartContainer"]),
}, required=("resourceName", "restartPolicy"))

define(CORE + "VolumeMount", "Where a pod volume appears in a container.", {
    "name": string("The name of a pod volume."),
    "readOnly": boolean("Mount read-only; default false."),
    "recursiveReadOnly": string("Whether read-only applies to submounts too: Disabled, "
                                "IfPossible or Enabled."),
    "mountPath": string("Path in the container; must not contain ':'."),
    "subPath": string("Mount this path inside the volume instead of its root."),
    "mountPropagation": string("How mounts propagate between host and container: None "
                               "(default), HostToContainer or Bidirectional.",
                               enum=["Bidirectional", "HostToContainer", "None"]),
    "subPathExpr": string("Like subPath with $(VAR) expanded from the environment."),
}, required=("name", "mountPath"))

define(CORE + "VolumeDevice", "A raw block volume exposed as a device in a container.", {
    "name": string("The name of a PVC-backed pod volume."),
    "devicePath": string("Device path in the container."),
}, required=("name", "devicePath"))

# ---- probes and lifecycle ---------------------------------------------------------------

_HANDLERS = {
    "exec": _r("ExecAction", "Run a command in the container; exit 0 is success."),
    "httpGet": _r("HTTPGetAction", "An HTTP GET; a 2xx or 3xx status is success."),
    "tcpSocket": _r("TCPSocketAction", "Open a TCP connection; connecting is success."),
}

define(CORE + "Probe", "A health check the kubelet runs periodically against a container.", {
    **_HANDLERS,
    "grpc": _r("GRPCAction", "A gRPC health check; SERVING is success."),
    "initialDelaySeconds": integer("Seconds after start before the first probe."),
    "timeoutSeconds": integer("Seconds before a probe times out; default 1."),
    "periodSeconds": integer("Seconds between probes; default 10."),
    "successThreshold": integer("Consecutive successes to count as passing after a "
                                "failure; default 1 (must be 1 for liveness and startup)."),
    "failureThreshold": integer("Consecutive failures to count as failing; default 3."),
    "terminationGracePeriodSeconds": integer("Grace period used when this probe's failure "
                                             "kills the container; overrides the pod's.",
                                             format="int64"),
})

define(CORE + "ExecAction", "A command run inside the container, not in a shell.", {
    "command": _strings("The command line; a shell must be invoked explicitly.",
                        list_type="atomic"),
})

define(CORE + "HTTPGetAction", "An HTTP GET request.", {
    "path": string("The request path."),
    "port": int_or_string("Port number or name on the container."),
    "host": string("Host to connect to; default the pod IP. Set Host in httpHeaders "
                   "instead for virtual hosts."),
    "scheme": string("HTTP (default) or HTTPS (certificate not verified).",
                     enum=["HTTP", "HTTPS"]),
    "httpHeaders": _list("HTTPHeader", "Extra request headers.", list_type="atomic"),
}, required=("port",))

define(CORE + "HTTPHeader", "One HTTP header.", {
    "name": string("Header name; canonicalised on output."),
    "value": string("Header value."),
}, required=("name", "value"))

define(CORE + "TCPSocketAction", "A TCP connection attempt.", {
    "port": int_or_string("Port number or name on the container."),
    "host": string("Host to connect to; default the pod IP."),
}, required=("port",))

define(CORE + "GRPCAction", "A gRPC health check request.", {
    "port": integer("The gRPC port number."),
    "service": string("The service name sent in the HealthCheckRequest; empty means the "
                      "server's default.", default=""),
}, required=("port",))

define(CORE + "Lifecycle", "Actions around a container's start and stop.", {
    "postStart": _r("LifecycleHandler", "Runs right after the container is created; on "
                                        "failure the container is restarted per policy."),
    "preStop": _r("LifecycleHandler", "Runs before the container is stopped by an API "
                                      "request or management event; the grace period "
                                      "keeps counting."),
})

define(CORE + "LifecycleHandler", "One lifecycle action; set exactly one field.", {
    **_HANDLERS,
    "sleep": _r("SleepAction", "Pause for a number of seconds."),
})

define(CORE + "SleepAction", "A pause.", {
    "seconds": integer("How long to sleep.", format="int64"),
}, required=("seconds",))

# ---- security ---------------------------------------------------------------------------

_ID_FIELDS = {
    "runAsUser": integer("UID the entrypoint runs as; the image's if unset.", format="int64"),
    "runAsGroup": integer("GID the entrypoint runs as; the runtime's default if unset.",
                          format="int64"),
    "runAsNonRoot": boolean("Refuse to start a container that would run as UID 0."),
    "seLinuxOptions": _r("SELinuxOptions", "The SELinux context to apply."),
    "windowsOptions": _r("WindowsSecurityContextOptions", "Windows-specific options."),
    "seccompProfile": _r("SeccompProfile", "The seccomp profile to apply."),
    "appArmorProfile": _r("AppArmorProfile", "The AppArmor profile to apply."),
}

define(CORE + "SecurityContext", "Security options of one container.", {
    **_ID_FIELDS,
    "capabilities": _r("Capabilities", "Linux capabilities to add and drop."),
    "privileged": boolean("Run as privileged: like root on the host."),
    "readOnlyRootFilesystem": boolean("Mount the root filesystem read-only."),
    "allowPrivilegeEscalation": boolean("Whether a process may gain more privileges than "
                                        "its parent (no_new_privs)."),
    "procMount": string("Default or Unmasked /proc mount.", enum=["Default", "Unmasked"]),
})

define(CORE + "PodSecurityContext", "Security options for every container of a pod.", {
    **_ID_FIELDS,
    "supplementalGroups": array(integer(format="int64"), "Extra GIDs for each container's "
                                "first process.", list_type="atomic"),
    "supplementalGroupsPolicy": string("Merge (default) adds the image's groups; Strict "
                                       "uses only those given."),
    "fsGroup": integer("GID that owns mounted volumes and is added to every container.",
                       format="int64"),
    "fsGroupChangePolicy": string("When volume ownership is changed: Always or "
                                  "OnRootMismatch.", enum=["Always", "OnRootMismatch"]),
    "sysctls": _list("Sysctl", "Namespaced kernel parameters for the pod.",
                     list_type="atomic"),
    "seLinuxChangePolicy": string("How SELinux labels reach volumes: MountOption or "
                                  "Recursive."),
})

define(CORE + "Capabilities", "Linux capabilities added to and dropped from the default set.",
       {"add": _strings("Capabilities to add.", list_type="atomic"),
        "drop": _strings("Capabilities to drop.", list_type="atomic")})

define(CORE + "SELinuxOptions", "SELinux labels.", {
    "user": string("The SELinux user."), "role": string("The SELinux role."),
    "type": string("The SELinux type."), "level": string("The SELinux level."),
})

define(CORE + "WindowsSecurityContextOptions", "Windows-specific security options.", {
    "gmsaCredentialSpecName": string("Name of the GMSA credential spec."),
    "gmsaCredentialSpec": string("Contents of the GMSA credential spec."),
    "runAsUserName": string("The Windows user the entrypoint runs as."),
    "hostProcess": boolean("Run as a Windows host process container."),
})

for _name, _what in (("SeccompProfile", "seccomp"), ("AppArmorProfile", "AppArmor")):
    define(CORE + _name, f"The {_what} profile of a pod or container.", {
        "type": string("RuntimeDefault, Unconfined or Localhost.",
                       enum=["Localhost", "RuntimeDefault", "Unconfined"]),
        "localhostProfile": string("The profile on the node, for type Localhost."),
    }, required=("type",))

define(CORE + "Sysctl", "One kernel parameter.", {
    "name": string("The parameter."), "value": string("Its value."),
}, required=("name", "value"))

# ---- scheduling -------------------------------------------------------------------------

define(CORE + "Affinity", "The pod's affinity scheduling rules.", {
    "nodeAffinity": _r("NodeAffinity", "Which nodes the pod may or prefers to run on."),
    "podAffinity": _r("PodAffinity", "Run near pods matching these terms."),
    "podAntiAffinity": _r("PodAntiAffinity", "Run away from pods matching these terms."),
})

define(CORE + "NodeAffinity", "Node affinity rules, checked only at scheduling.", {
    "requiredDuringSchedulingIgnoredDuringExecution": _r(
        "NodeSelector", "A node must match for the pod to be scheduled there."),
    "preferredDuringSchedulingIgnoredDuringExecution": _list(
        "PreferredSchedulingTerm", "Weighted preferences; the node with the highest sum of "
        "matching weights is favoured.", list_type="atomic"),
})

define(CORE + "NodeSelector", "Terms ORed together; a node matching any term matches.", {
    "nodeSelectorTerms": _list("NodeSelectorTerm", "The terms.", list_type="atomic"),
}, required=("nodeSelectorTerms",))

define(CORE + "NodeSelectorTerm", "Requirements ANDed together; an empty term matches "
                                  "nothing.", {
    "matchExpressions": _list("NodeSelectorRequirement", "Requirements on node labels.",
                              list_type="atomic"),
    "matchFields": _list("NodeSelectorRequirement", "Requirements on node fields "
                         "(metadata.name).", list_type="atomic"),
})

define(CORE + "NodeSelectorRequirement", "A requirement relating a key to values.", {
    "key": string("The label key or field."),
    "operator": string("In, NotIn, Exists, DoesNotExist, Gt or Lt.",
                       enum=["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"]),
    "values": _strings("Values for In/NotIn; one integer for Gt/Lt; empty for Exists and "
                       "DoesNotExist.", list_type="atomic"),
}, required=("key", "operator"))

define(CORE + "PreferredSchedulingTerm", "A weighted node preference.", {
    "weight": integer("Weight added to a matching node's score, 1-100."),
    "preference": _r("NodeSelectorTerm", "The term a node should match."),
}, required=("weight", "preference"))

for _name, _verb in (("PodAffinity", "co-locate with"), ("PodAntiAffinity", "avoid")):
    define(CORE + _name, f"Rules to {_verb} other pods, by topology domain.", {
        "requiredDuringSchedulingIgnoredDuringExecution": _list(
            "PodAffinityTerm", "Terms every candidate node must satisfy.",
            list_type="atomic"),
        "preferredDuringSchedulingIgnoredDuringExecution": _list(
            "WeightedPodAffinityTerm", "Weighted terms that raise a node's score.",
            list_type="atomic"),
    })

define(CORE + "PodAffinityTerm", "Pods matched by a selector, and the topology key whose "
                                 "domains they are counted in.", {
    "labelSelector": ref(LABEL_SELECTOR, "Selects the pods the term is about."),
    "namespaces": _strings("Namespaces to look in; with namespaceSelector, the union. "
                           "Empty: the pod's own.", list_type="atomic"),
    "topologyKey": string("Node label whose value defines a domain (zone, hostname)."),
    "namespaceSelector": ref(LABEL_SELECTOR, "Selects namespaces to look in; {} means all."),
    "matchLabelKeys": _strings("Label keys whose values on the incoming pod are ANDed "
                               "into labelSelector.", list_type="atomic"),
    "mismatchLabelKeys": _strings("Label keys whose values must differ from the incoming "
                                  "pod's.", list_type="atomic"),
}, required=("topologyKey",))

define(CORE + "WeightedPodAffinityTerm", "A pod affinity term with a weight.", {
    "weight": integer("Weight added to a matching node's score, 1-100."),
    "podAffinityTerm": _r("PodAffinityTerm", "The term."),
}, required=("weight", "podAffinityTerm"))

define(CORE + "Toleration", "Lets the pod schedule onto (or stay on) nodes with a matching "
                            "taint.", {
    "key": string("Taint key matched; empty with Exists matches every key."),
    "operator": string("Equal (default) or Exists (any value).", enum=["Equal", "Exists"]),
    "value": string("Taint value matched by Equal; empty for Exists."),
    "effect": string("Taint effect matched; empty matches all effects.",
                     enum=["NoExecute", "NoSchedule", "PreferNoSchedule"]),
    "tolerationSeconds": integer("For NoExecute: how long the pod stays bound after the "
                                 "taint appears; unset is forever.", format="int64"),
})

define(CORE + "TopologySpreadConstraint", "How matching pods spread across the domains of "
                                          "one topology key.", {
    "maxSkew": integer("The largest allowed difference in matching pods between a domain "
                       "and the least-populated eligible one; at least 1."),
    "topologyKey": string("Node label whose values are the domains."),
    "whenUnsatisfiable": string("DoNotSchedule (hard) or ScheduleAnyway (soft, scored).",
                                enum=["DoNotSchedule", "ScheduleAnyway"]),
    "labelSelector": ref(LABEL_SELECTOR, "Selects the pods counted in each domain."),
    "minDomains": integer("Minimum eligible domains; below it the global minimum counts as "
                          "0. Only with DoNotSchedule."),
    "nodeAffinityPolicy": string("Honor (default) counts only nodes matching the pod's node "
                                 "affinity; Ignore counts all.", enum=["Honor", "Ignore"]),
    "nodeTaintsPolicy": string("Honor counts only nodes whose taints the pod tolerates; "
                               "Ignore (default) counts all.", enum=["Honor", "Ignore"]),
    "matchLabelKeys": _strings("Label keys whose values on the incoming pod are ANDed into "
                               "labelSelector.", list_type="atomic"),
}, required=("maxSkew", "topologyKey", "whenUnsatisfiable"))

define(CORE + "HostAlias", "An /etc/hosts entry.", {
    "ip": string("The IP address."),
    "hostnames": _strings("Hostnames for that address.", list_type="atomic"),
})

define(CORE + "PodDNSConfig", "DNS settings merged into the generated resolv.conf.", {
    "nameservers": _strings("Extra name server IPs.", list_type="atomic"),
    "searches": _strings("Extra search domains.", list_type="atomic"),
    "options": _list("PodDNSConfigOption", "Resolver options; these override same-named "
                                           "generated ones.", list_type="atomic"),
})

define(CORE + "PodDNSConfigOption", "A resolver option.", {
    "name": string("The option's name (ndots, ...)."), "value": string("Its value."),
})

define(CORE + "PodReadinessGate", "A pod condition that must be True for readiness.", {
    "conditionType": string("The condition type in status.conditions."),
}, required=("conditionType",))

define(CORE + "PodOS", "The pod's operating system.", {
    "name": string("linux or windows."),
}, required=("name",))

define(CORE + "PodSchedulingGate", "A gate that holds the pod back from scheduling.", {
    "name": string("Unique name of the gate."),
}, required=("name",))

define(CORE + "PodResourceClaim", "A dynamic resource the pod uses, by name.", {
    "name": string("Name containers use in resources.claims."),
    "resourceClaimName": string("An existing ResourceClaim in the namespace."),
    "resourceClaimTemplateName": string("A template from which a claim is made per pod."),
}, required=("name",))

# ---- status -----------------------------------------------------------------------------

define(POD_STATUS, "The observed state of a pod, written by the kubelet and scheduler.", {
    "phase": string("Where the pod is in its lifecycle: Pending, Running, Succeeded, Failed "
                    "or Unknown.",
                    enum=["Failed", "Pending", "Running", "Succeeded", "Unknown"]),
    "conditions": _list("PodCondition", "Current conditions: PodScheduled, Initialized, "
                        "ContainersReady, Ready, ...", merge_key="type", strategy="merge",
                        list_type="map", list_map_keys=["type"]),
    "message": string("Why the pod is in this condition, for people."),
    "reason": string("A short CamelCase reason, such as Evicted."),
    "nominatedNodeName": string("The node preemption made room on; the pod is not yet bound "
                                "there."),
    "hostIP": string("Primary IP of the node the pod runs on."),
    "hostIPs": _list("HostIP", "The node's IPs, primary first.", merge_key="ip",
                     strategy="merge", list_type="atomic"),
    "podIP": string("Primary IP of the pod; empty until allocated."),
    "podIPs": _list("PodIP", "The pod's IPs, at most one per family, primary first.",
                    merge_key="ip", strategy="merge"),
    "startTime": time("When the kubelet acknowledged the pod, before its images were "
                      "pulled."),
    "initContainerStatuses": _list("ContainerStatus", "One status per init container.",
                                   list_type="atomic"),
    "containerStatuses": _list("ContainerStatus", "One status per app container.",
                               list_type="atomic"),
    "ephemeralContainerStatuses": _list("ContainerStatus", "One status per ephemeral "
                                        "container.", list_type="atomic"),
    "qosClass": string("Quality of service class from the resource requests and limits.",
                       enum=["BestEffort", "Burstable", "Guaranteed"]),
    "resize": string("Progress of a requested in-place resize: Proposed, InProgress, "
                     "Deferred or Infeasible."),
    "resourceClaimStatuses": _list("PodResourceClaimStatus", "The ResourceClaims made for "
                                   "the pod's claim templates.", merge_key="name",
                                   strategy="merge,retainKeys", list_type="map",
                                   list_map_keys=["name"]),
})

define(CORE + "PodCondition", "One aspect of the pod's state.", {
    "type": string("The condition type: PodScheduled, Initialized, ContainersReady, Ready, "
                   "DisruptionTarget, ..."),
    "status": string("True, False or Unknown."),
    "lastProbeTime": time("When the condition was last checked."),
    "lastTransitionTime": time("When status last changed."),
    "reason": string("A CamelCase reason for the last transition."),
    "message": string("A human-readable explanation of the last transition."),
}, required=("type", "status"))

for _name, _of in (("PodIP", "the pod"), ("HostIP", "the pod's node")):
    define(CORE + _name, f"One IP address of {_of}.", {
        "ip": string("The address."),
    }, required=("ip",))

define(CORE + "ContainerStatus", "The observed state of one container.", {
    "name": string("The container's name in the spec."),
    "state": _r("ContainerState", "What the container is doing now."),
    "lastState": _r("ContainerState", "How the previous instance ended, after a restart."),
    "ready": boolean("Whether the readiness probe passes (true when there is none and the "
                     "container runs)."),
    "restartCount": integer("How many times the container has been restarted."),
    "image": string("The image the container runs."),
    "imageID": string("The image's ID (digest) as the runtime reports it."),
    "containerID": string("<runtime>://<id> of the container."),
    "started": boolean("Whether the container has passed its startup probe (or started, "
                       "with none)."),
    "allocatedResources": _resources("Resources the node allocated to the container."),
    "resources": _r("ResourceRequirements", "Requests and limits the runtime applied."),
    "volumeMounts": _list("VolumeMountStatus", "Status of the container's volume mounts.",
                          merge_key="mountPath", strategy="merge", list_type="map",
                          list_map_keys=["mountPath"]),
}, required=("name", "ready", "restartCount", "image", "imageID"))

define(CORE + "ContainerState", "A container's state; exactly one field is set, waiting when "
                                "none is.", {
    "waiting": _r("ContainerStateWaiting", "Not running yet (pulling, backing off, ...)."),
    "running": _r("ContainerStateRunning", "Running."),
    "terminated": _r("ContainerStateTerminated", "Ran and exited."),
})

define(CORE + "ContainerStateWaiting", "A container not yet running.", {
    "reason": string("Why: ContainerCreating, CrashLoopBackOff, ErrImagePull, ..."),
    "message": string("Details of why."),
})

define(CORE + "ContainerStateRunning", "A running container.", {
    "startedAt": time("When the container last (re)started."),
})

define(CORE + "ContainerStateTerminated", "A container that exited.", {
    "exitCode": integer("The exit status of its last process."),
    "signal": integer("The signal that ended it, if any."),
    "reason": string("Why: Completed, Error, OOMKilled, ..."),
    "message": string("The termination message or other details."),
    "startedAt": time("When it started."),
    "finishedAt": time("When it exited."),
    "containerID": string("<runtime>://<id> of the container."),
}, required=("exitCode",))

define(CORE + "VolumeMountStatus", "The observed state of one volume mount.", {
    "name": string("The VolumeMount's name."),
    "mountPath": string("The VolumeMount's path."),
    "readOnly": boolean("Whether the mount is read-only."),
    "recursiveReadOnly": string("Whether read-only applies to submounts: Disabled or "
                                "Enabled."),
}, required=("name", "mountPath"))

define(CORE + "PodResourceClaimStatus", "The ResourceClaim made for one pod claim entry.", {
    "name": string("The entry's name in spec.resourceClaims."),
    "resourceClaimName": string("The ResourceClaim made for it; empty when none is "
                                "needed."),
}, required=("name",))

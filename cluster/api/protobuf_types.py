"""Protobuf field tables: for each Kubernetes message, field number -> JSON field.

Kubernetes' protobuf (`application/vnd.kubernetes.protobuf`) is generated from the Go types:
proto2 messages whose field numbers come from each group's `generated.proto`; the JSON name of a
field is its Go `json:` tag. These tables restate those wire-format facts for the kinds
`kubectl create <generator>|token`, `auth can-i|whoami` and `drain` send, and what they reach.

A field is `"jsonName:type"` (type defaults to string). `[]T` is repeated, `{}T` is a
`map<string, T>`. A trailing `!` keeps zero values: Go writes every value field on the wire, so
the decoder drops zeros ("", 0, false) as `json:",omitempty"` does, except for pointer fields
(`replicas: 0` means something) and fields without omitempty (`containerPort`). The name `*` is
an embedded Go struct (`json:",inline"`) whose fields merge into the parent. Scalars: string,
bytes, int32, int64, bool, double; specials: Time, IntOrString, Quantity, FieldsV1;
any other type names a message here. Fields newer than the upstream sources these were checked
against are absent: the decoder skips unknown numbers, losing only those fields.
"""

from __future__ import annotations

__all__ = ["SPECS", "KINDS"]

_META = {
    "ObjectMeta": {
        1: "name", 2: "generateName", 3: "namespace", 4: "selfLink", 5: "uid",
        6: "resourceVersion", 7: "generation:int64", 8: "creationTimestamp:Time",
        9: "deletionTimestamp:Time", 10: "deletionGracePeriodSeconds:int64!",
        11: "labels:{}string", 12: "annotations:{}string",
        13: "ownerReferences:[]OwnerReference", 14: "finalizers:[]string",
        17: "managedFields:[]ManagedFieldsEntry"},
    "OwnerReference": {1: "kind!", 3: "name!", 4: "uid!", 5: "apiVersion!",
                       6: "controller:bool!", 7: "blockOwnerDeletion:bool!"},
    "LabelSelector": {1: "matchLabels:{}string",
                      2: "matchExpressions:[]LabelSelectorRequirement"},
    "LabelSelectorRequirement": {1: "key!", 2: "operator!", 3: "values:[]string"},
    "ManagedFieldsEntry": {1: "manager", 2: "operation", 3: "apiVersion", 4: "time:Time",
                           6: "fieldsType", 7: "fieldsV1:FieldsV1", 8: "subresource"},
    "Condition": {1: "type!", 2: "status!", 3: "observedGeneration:int64",
                  4: "lastTransitionTime:Time", 5: "reason!", 6: "message!"},
    "DeleteOptions": {1: "gracePeriodSeconds:int64!", 2: "preconditions:Preconditions",
                      3: "orphanDependents:bool!", 4: "propagationPolicy!", 5: "dryRun:[]string"},
    "Preconditions": {1: "uid!", 2: "resourceVersion!"},
}

_CORE_OBJECTS = {
    "ConfigMap": {1: "metadata:ObjectMeta", 2: "data:{}string", 3: "binaryData:{}bytes",
                  4: "immutable:bool!"},
    "Secret": {1: "metadata:ObjectMeta", 2: "data:{}bytes", 3: "type",
               4: "stringData:{}string", 5: "immutable:bool!"},
    "Namespace": {1: "metadata:ObjectMeta", 2: "spec:NamespaceSpec",
                  3: "status:NamespaceStatus"},
    "NamespaceSpec": {1: "finalizers:[]string"},
    "NamespaceStatus": {1: "phase", 2: "conditions:[]NamespaceCondition"},
    "NamespaceCondition": {1: "type!", 2: "status!", 4: "lastTransitionTime:Time",
                           5: "reason", 6: "message"},
    "ServiceAccount": {1: "metadata:ObjectMeta", 2: "secrets:[]ObjectReference",
                       3: "imagePullSecrets:[]LocalObjectReference",
                       4: "automountServiceAccountToken:bool!"},
    "ObjectReference": {1: "kind", 2: "namespace", 3: "name", 4: "uid", 5: "apiVersion",
                        6: "resourceVersion", 7: "fieldPath"},
    "LocalObjectReference": {1: "name"},
    "TypedLocalObjectReference": {1: "apiGroup!", 2: "kind!", 3: "name!"},
    "Service": {1: "metadata:ObjectMeta", 2: "spec:ServiceSpec", 3: "status:ServiceStatus"},
    "ServiceSpec": {
        1: "ports:[]ServicePort", 2: "selector:{}string", 3: "clusterIP", 4: "type",
        5: "externalIPs:[]string", 7: "sessionAffinity", 8: "loadBalancerIP",
        9: "loadBalancerSourceRanges:[]string", 10: "externalName",
        11: "externalTrafficPolicy", 12: "healthCheckNodePort:int32",
        13: "publishNotReadyAddresses:bool", 14: "sessionAffinityConfig:SessionAffinityConfig",
        17: "ipFamilyPolicy!", 18: "clusterIPs:[]string", 19: "ipFamilies:[]string",
        20: "allocateLoadBalancerNodePorts:bool!", 21: "loadBalancerClass!",
        22: "internalTrafficPolicy!"},
    "ServicePort": {1: "name", 2: "protocol", 3: "port:int32!", 4: "targetPort:IntOrString",
                    5: "nodePort:int32", 6: "appProtocol!"},
    "SessionAffinityConfig": {1: "clientIP:ClientIPConfig"},
    "ClientIPConfig": {1: "timeoutSeconds:int32!"},
    "ServiceStatus": {1: "loadBalancer:LoadBalancerStatus", 2: "conditions:[]Condition"},
    "LoadBalancerStatus": {1: "ingress:[]LoadBalancerIngress"},
    "LoadBalancerIngress": {1: "ip", 2: "hostname", 4: "ports:[]PortStatus"},
    "PortStatus": {1: "port:int32!", 2: "protocol!", 3: "error!"},
    "ResourceQuota": {1: "metadata:ObjectMeta", 2: "spec:ResourceQuotaSpec",
                      3: "status:ResourceQuotaStatus"},
    "ResourceQuotaSpec": {1: "hard:{}Quantity", 2: "scopes:[]string",
                          3: "scopeSelector:ScopeSelector"},
    "ScopeSelector": {1: "matchExpressions:[]ScopedResourceSelectorRequirement"},
    "ScopedResourceSelectorRequirement": {1: "scopeName!", 2: "operator!",
                                          3: "values:[]string"},
    "ResourceQuotaStatus": {1: "hard:{}Quantity", 2: "used:{}Quantity"},
}

_POD = {
    "Pod": {1: "metadata:ObjectMeta", 2: "spec:PodSpec", 3: "status:PodStatus"},
    "PodTemplate": {1: "metadata:ObjectMeta", 2: "template:PodTemplateSpec"},
    "PodTemplateSpec": {1: "metadata:ObjectMeta", 2: "spec:PodSpec"},
    "PodSpec": {
        1: "volumes:[]Volume", 2: "containers:[]Container", 3: "restartPolicy",
        4: "terminationGracePeriodSeconds:int64!", 5: "activeDeadlineSeconds:int64!",
        6: "dnsPolicy", 7: "nodeSelector:{}string", 8: "serviceAccountName",
        9: "serviceAccount", 10: "nodeName", 11: "hostNetwork:bool", 12: "hostPID:bool",
        13: "hostIPC:bool", 14: "securityContext:PodSecurityContext",
        15: "imagePullSecrets:[]LocalObjectReference", 16: "hostname", 17: "subdomain",
        18: "affinity:Affinity", 19: "schedulerName", 20: "initContainers:[]Container",
        21: "automountServiceAccountToken:bool!", 22: "tolerations:[]Toleration",
        23: "hostAliases:[]HostAlias", 24: "priorityClassName", 25: "priority:int32!",
        26: "dnsConfig:PodDNSConfig", 27: "shareProcessNamespace:bool!",
        28: "readinessGates:[]PodReadinessGate", 29: "runtimeClassName!",
        30: "enableServiceLinks:bool!", 31: "preemptionPolicy!", 32: "overhead:{}Quantity",
        33: "topologySpreadConstraints:[]TopologySpreadConstraint",
        34: "ephemeralContainers:[]EphemeralContainer", 35: "setHostnameAsFQDN:bool!",
        36: "os:PodOS", 37: "hostUsers:bool!", 38: "schedulingGates:[]PodSchedulingGate"},
    "PodOS": {1: "name!"},
    "PodSchedulingGate": {1: "name!"},
    "PodReadinessGate": {1: "conditionType!"},
    "PodDNSConfig": {1: "nameservers:[]string", 2: "searches:[]string",
                     3: "options:[]PodDNSConfigOption"},
    "PodDNSConfigOption": {1: "name", 2: "value!"},
    "HostAlias": {1: "ip!", 2: "hostnames:[]string"},
    "PodSecurityContext": {
        1: "seLinuxOptions:SELinuxOptions", 2: "runAsUser:int64!", 3: "runAsNonRoot:bool!",
        4: "supplementalGroups:[]int64", 5: "fsGroup:int64!", 6: "runAsGroup:int64!",
        7: "sysctls:[]Sysctl", 8: "windowsOptions:WindowsSecurityContextOptions",
        9: "fsGroupChangePolicy!", 10: "seccompProfile:SeccompProfile"},
    "SecurityContext": {
        1: "capabilities:Capabilities", 2: "privileged:bool!", 3: "seLinuxOptions:SELinuxOptions",
        4: "runAsUser:int64!", 5: "runAsNonRoot:bool!", 6: "readOnlyRootFilesystem:bool!",
        7: "allowPrivilegeEscalation:bool!", 8: "runAsGroup:int64!", 9: "procMount!",
        10: "windowsOptions:WindowsSecurityContextOptions", 11: "seccompProfile:SeccompProfile"},
    "SELinuxOptions": {1: "user", 2: "role", 3: "type", 4: "level"},
    "WindowsSecurityContextOptions": {1: "gmsaCredentialSpecName!", 2: "gmsaCredentialSpec!",
                                      3: "runAsUserName!", 4: "hostProcess:bool!"},
    "SeccompProfile": {1: "type!", 2: "localhostProfile!"},
    "Capabilities": {1: "add:[]string", 2: "drop:[]string"},
    "Sysctl": {1: "name!", 2: "value!"},
    "Affinity": {1: "nodeAffinity:NodeAffinity", 2: "podAffinity:PodAffinity",
                 3: "podAntiAffinity:PodAffinity"},
    "NodeAffinity": {
        1: "requiredDuringSchedulingIgnoredDuringExecution:NodeSelector",
        2: "preferredDuringSchedulingIgnoredDuringExecution:[]PreferredSchedulingTerm"},
    "NodeSelector": {1: "nodeSelectorTerms:[]NodeSelectorTerm"},
    "NodeSelectorTerm": {1: "matchExpressions:[]NodeSelectorRequirement",
                         2: "matchFields:[]NodeSelectorRequirement"},
    "NodeSelectorRequirement": {1: "key!", 2: "operator!", 3: "values:[]string"},
    "PreferredSchedulingTerm": {1: "weight:int32!", 2: "preference:NodeSelectorTerm"},
    "PodAffinity": {  # PodAntiAffinity has the same fields
        1: "requiredDuringSchedulingIgnoredDuringExecution:[]PodAffinityTerm",
        2: "preferredDuringSchedulingIgnoredDuringExecution:[]WeightedPodAffinityTerm"},
    "PodAffinityTerm": {1: "labelSelector:LabelSelector", 2: "namespaces:[]string",
                        3: "topologyKey!", 4: "namespaceSelector:LabelSelector"},
    "WeightedPodAffinityTerm": {1: "weight:int32!", 2: "podAffinityTerm:PodAffinityTerm"},
    "Toleration": {1: "key", 2: "operator", 3: "value", 4: "effect",
                   5: "tolerationSeconds:int64!"},
    "TopologySpreadConstraint": {
        1: "maxSkew:int32!", 2: "topologyKey!", 3: "whenUnsatisfiable!",
        4: "labelSelector:LabelSelector", 5: "minDomains:int32!", 6: "nodeAffinityPolicy!",
        7: "nodeTaintsPolicy!", 8: "matchLabelKeys:[]string"},
    "PodStatus": {1: "phase", 2: "conditions:[]PodCondition", 3: "message", 4: "reason",
                  5: "hostIP", 6: "podIP", 7: "startTime:Time", 9: "qosClass",
                  11: "nominatedNodeName", 12: "podIPs:[]PodIP"},
    "PodCondition": {1: "type!", 2: "status!", 3: "lastProbeTime:Time",
                     4: "lastTransitionTime:Time", 5: "reason", 6: "message"},
    "PodIP": {1: "ip!"},
}

_CONTAINER = {
    "Container": {
        1: "name!", 2: "image", 3: "command:[]string", 4: "args:[]string", 5: "workingDir",
        6: "ports:[]ContainerPort", 7: "env:[]EnvVar", 8: "resources:ResourceRequirements",
        9: "volumeMounts:[]VolumeMount", 10: "livenessProbe:Probe", 11: "readinessProbe:Probe",
        12: "lifecycle:Lifecycle", 13: "terminationMessagePath", 14: "imagePullPolicy",
        15: "securityContext:SecurityContext", 16: "stdin:bool", 17: "stdinOnce:bool",
        18: "tty:bool", 19: "envFrom:[]EnvFromSource", 20: "terminationMessagePolicy",
        21: "volumeDevices:[]VolumeDevice", 22: "startupProbe:Probe",
        23: "resizePolicy:[]ContainerResizePolicy", 24: "restartPolicy!"},
    "EphemeralContainer": {1: "*:Container", 2: "targetContainerName"},
    "ContainerResizePolicy": {1: "resourceName!", 2: "restartPolicy!"},
    "ContainerPort": {1: "name", 2: "hostPort:int32", 3: "containerPort:int32!",
                      4: "protocol", 5: "hostIP"},
    "EnvVar": {1: "name!", 2: "value", 3: "valueFrom:EnvVarSource"},
    "EnvVarSource": {1: "fieldRef:ObjectFieldSelector",
                     2: "resourceFieldRef:ResourceFieldSelector",
                     3: "configMapKeyRef:KeySelector", 4: "secretKeyRef:KeySelector"},
    "ObjectFieldSelector": {1: "apiVersion", 2: "fieldPath!"},
    "ResourceFieldSelector": {1: "containerName", 2: "resource!", 3: "divisor:Quantity"},
    "KeySelector": {  # ConfigMapKeySelector and SecretKeySelector
        1: "*:LocalObjectReference", 2: "key!", 3: "optional:bool!"},
    "EnvFromSource": {1: "prefix", 2: "configMapRef:EnvSource", 3: "secretRef:EnvSource"},
    "EnvSource": {  # ConfigMapEnvSource and SecretEnvSource
        1: "*:LocalObjectReference", 2: "optional:bool!"},
    "ResourceRequirements": {1: "limits:{}Quantity", 2: "requests:{}Quantity",
                             3: "claims:[]ResourceClaim"},
    "ResourceClaim": {1: "name!"},
    "VolumeMount": {1: "name!", 2: "readOnly:bool", 3: "mountPath!", 4: "subPath",
                    5: "mountPropagation!", 6: "subPathExpr"},
    "VolumeDevice": {1: "name!", 2: "devicePath!"},
    "Probe": {1: "*:ProbeHandler", 2: "initialDelaySeconds:int32", 3: "timeoutSeconds:int32",
              4: "periodSeconds:int32", 5: "successThreshold:int32",
              6: "failureThreshold:int32", 7: "terminationGracePeriodSeconds:int64!"},
    "ProbeHandler": {1: "exec:ExecAction", 2: "httpGet:HTTPGetAction",
                     3: "tcpSocket:TCPSocketAction", 4: "grpc:GRPCAction"},
    "GRPCAction": {1: "port:int32!", 2: "service!"},
    "ExecAction": {1: "command:[]string"},
    "HTTPGetAction": {1: "path", 2: "port:IntOrString", 3: "host", 4: "scheme",
                      5: "httpHeaders:[]HTTPHeader"},
    "HTTPHeader": {1: "name!", 2: "value!"},
    "TCPSocketAction": {1: "port:IntOrString", 2: "host"},
    "Lifecycle": {1: "postStart:LifecycleHandler", 2: "preStop:LifecycleHandler"},
    "LifecycleHandler": {1: "exec:ExecAction", 2: "httpGet:HTTPGetAction",
                         3: "tcpSocket:TCPSocketAction"},
}

_VOLUMES = {
    "Volume": {1: "name!", 2: "*:VolumeSource"},
    "VolumeSource": {
        1: "hostPath:HostPathVolumeSource", 2: "emptyDir:EmptyDirVolumeSource",
        6: "secret:SecretVolumeSource", 7: "nfs:NFSVolumeSource",
        10: "persistentVolumeClaim:PersistentVolumeClaimVolumeSource",
        16: "downwardAPI:DownwardAPIVolumeSource", 19: "configMap:ConfigMapVolumeSource",
        26: "projected:ProjectedVolumeSource", 28: "csi:CSIVolumeSource"},
    "HostPathVolumeSource": {1: "path!", 2: "type!"},
    "EmptyDirVolumeSource": {1: "medium", 2: "sizeLimit:Quantity"},
    "SecretVolumeSource": {1: "secretName", 2: "items:[]KeyToPath", 3: "defaultMode:int32!",
                           4: "optional:bool!"},
    "NFSVolumeSource": {1: "server!", 2: "path!", 3: "readOnly:bool"},
    "PersistentVolumeClaimVolumeSource": {1: "claimName!", 2: "readOnly:bool"},
    "DownwardAPIVolumeSource": {1: "items:[]DownwardAPIVolumeFile", 2: "defaultMode:int32!"},
    "DownwardAPIVolumeFile": {1: "path!", 2: "fieldRef:ObjectFieldSelector",
                              3: "resourceFieldRef:ResourceFieldSelector", 4: "mode:int32!"},
    "ConfigMapVolumeSource": {1: "*:LocalObjectReference", 2: "items:[]KeyToPath",
                              3: "defaultMode:int32!", 4: "optional:bool!"},
    "KeyToPath": {1: "key!", 2: "path!", 3: "mode:int32!"},
    "ProjectedVolumeSource": {1: "sources:[]VolumeProjection", 2: "defaultMode:int32!"},
    "VolumeProjection": {1: "secret:ObjectProjection", 2: "downwardAPI:DownwardAPIProjection",
                         3: "configMap:ObjectProjection",
                         4: "serviceAccountToken:ServiceAccountTokenProjection"},
    "ObjectProjection": {  # SecretProjection and ConfigMapProjection
        1: "*:LocalObjectReference", 2: "items:[]KeyToPath", 4: "optional:bool!"},
    "DownwardAPIProjection": {1: "items:[]DownwardAPIVolumeFile"},
    "ServiceAccountTokenProjection": {1: "audience", 2: "expirationSeconds:int64!",
                                      3: "path!"},
    "CSIVolumeSource": {1: "driver!", 2: "readOnly:bool!", 3: "fsType!",
                        4: "volumeAttributes:{}string",
                        5: "nodePublishSecretRef:LocalObjectReference"},
}

_APPS = {
    "Deployment": {1: "metadata:ObjectMeta", 2: "spec:DeploymentSpec",
                   3: "status:DeploymentStatus"},
    "DeploymentSpec": {1: "replicas:int32!", 2: "selector:LabelSelector",
                       3: "template:PodTemplateSpec", 4: "strategy:DeploymentStrategy",
                       5: "minReadySeconds:int32", 6: "revisionHistoryLimit:int32!",
                       7: "paused:bool", 9: "progressDeadlineSeconds:int32!"},
    "DeploymentStrategy": {1: "type", 2: "rollingUpdate:RollingUpdate"},
    "RollingUpdate": {  # RollingUpdateDeployment and RollingUpdateDaemonSet
        1: "maxUnavailable:IntOrString", 2: "maxSurge:IntOrString"},
    "DeploymentStatus": {1: "observedGeneration:int64", 2: "replicas:int32",
                         3: "updatedReplicas:int32", 4: "availableReplicas:int32",
                         5: "unavailableReplicas:int32", 6: "conditions:[]DeploymentCondition",
                         7: "readyReplicas:int32", 8: "collisionCount:int32!"},
    "DeploymentCondition": {1: "type!", 2: "status!", 4: "reason", 5: "message",
                            6: "lastUpdateTime:Time", 7: "lastTransitionTime:Time"},
    "ReplicaSet": {1: "metadata:ObjectMeta", 2: "spec:ReplicaSetSpec",
                   3: "status:ReplicaSetStatus"},
    "ReplicaSetSpec": {1: "replicas:int32!", 2: "selector:LabelSelector",
                       3: "template:PodTemplateSpec", 4: "minReadySeconds:int32"},
    "ReplicaSetStatus": {1: "replicas:int32!", 2: "fullyLabeledReplicas:int32",
                         3: "observedGeneration:int64", 4: "readyReplicas:int32",
                         5: "availableReplicas:int32", 6: "conditions:[]WorkloadCondition"},
    "WorkloadCondition": {  # ReplicaSet, DaemonSet and StatefulSet conditions
        1: "type!", 2: "status!", 3: "lastTransitionTime:Time", 4: "reason", 5: "message"},
    "DaemonSet": {1: "metadata:ObjectMeta", 2: "spec:DaemonSetSpec",
                  3: "status:DaemonSetStatus"},
    "DaemonSetSpec": {1: "selector:LabelSelector", 2: "template:PodTemplateSpec",
                      3: "updateStrategy:DaemonSetUpdateStrategy", 4: "minReadySeconds:int32",
                      6: "revisionHistoryLimit:int32!"},
    "DaemonSetUpdateStrategy": {1: "type", 2: "rollingUpdate:RollingUpdate"},
    "DaemonSetStatus": {
        1: "currentNumberScheduled:int32!", 2: "numberMisscheduled:int32!",
        3: "desiredNumberScheduled:int32!", 4: "numberReady:int32!",
        5: "observedGeneration:int64", 6: "updatedNumberScheduled:int32",
        7: "numberAvailable:int32", 8: "numberUnavailable:int32", 9: "collisionCount:int32!",
        10: "conditions:[]WorkloadCondition"},
}

_BATCH = {
    "Job": {1: "metadata:ObjectMeta", 2: "spec:JobSpec", 3: "status:JobStatus"},
    "JobSpec": {
        1: "parallelism:int32!", 2: "completions:int32!", 3: "activeDeadlineSeconds:int64!",
        4: "selector:LabelSelector", 5: "manualSelector:bool!", 6: "template:PodTemplateSpec",
        7: "backoffLimit:int32!", 8: "ttlSecondsAfterFinished:int32!", 9: "completionMode!",
        10: "suspend:bool!", 11: "podFailurePolicy:PodFailurePolicy",
        12: "backoffLimitPerIndex:int32!", 13: "maxFailedIndexes:int32!",
        14: "podReplacementPolicy!"},
    "JobStatus": {1: "conditions:[]JobCondition", 2: "startTime:Time",
                  3: "completionTime:Time", 4: "active:int32", 5: "succeeded:int32",
                  6: "failed:int32", 7: "completedIndexes",
                  8: "uncountedTerminatedPods:UncountedTerminatedPods", 9: "ready:int32!"},
    "JobCondition": {1: "type!", 2: "status!", 3: "lastProbeTime:Time",
                     4: "lastTransitionTime:Time", 5: "reason", 6: "message"},
    "UncountedTerminatedPods": {1: "succeeded:[]string", 2: "failed:[]string"},
    "PodFailurePolicy": {1: "rules:[]PodFailurePolicyRule"},
    "PodFailurePolicyRule": {1: "action!", 2: "onExitCodes:PodFailurePolicyOnExitCodes",
                             3: "onPodConditions:[]PodFailurePolicyOnPodConditions"},
    "PodFailurePolicyOnExitCodes": {1: "containerName!", 2: "operator!",
                                    3: "values:[]int32"},
    "PodFailurePolicyOnPodConditions": {1: "type!", 2: "status!"},
    "CronJob": {1: "metadata:ObjectMeta", 2: "spec:CronJobSpec", 3: "status:CronJobStatus"},
    "CronJobSpec": {1: "schedule!", 2: "startingDeadlineSeconds:int64!",
                    3: "concurrencyPolicy", 4: "suspend:bool!",
                    5: "jobTemplate:JobTemplateSpec", 6: "successfulJobsHistoryLimit:int32!",
                    7: "failedJobsHistoryLimit:int32!", 8: "timeZone!"},
    "JobTemplateSpec": {1: "metadata:ObjectMeta", 2: "spec:JobSpec"},
    "CronJobStatus": {1: "active:[]ObjectReference", 4: "lastScheduleTime:Time",
                      5: "lastSuccessfulTime:Time"},
}

_OTHER_GROUPS = {
    # rbac.authorization.k8s.io/v1
    "Role": {1: "metadata:ObjectMeta", 2: "rules:[]PolicyRule"},
    "ClusterRole": {1: "metadata:ObjectMeta", 2: "rules:[]PolicyRule",
                    3: "aggregationRule:AggregationRule"},
    "AggregationRule": {1: "clusterRoleSelectors:[]LabelSelector"},
    "PolicyRule": {1: "verbs:[]string", 2: "apiGroups:[]string", 3: "resources:[]string",
                   4: "resourceNames:[]string", 5: "nonResourceURLs:[]string"},
    "RoleBinding": {1: "metadata:ObjectMeta", 2: "subjects:[]Subject", 3: "roleRef:RoleRef"},
    "Subject": {1: "kind!", 2: "apiGroup", 3: "name!", 4: "namespace"},
    "RoleRef": {1: "apiGroup!", 2: "kind!", 3: "name!"},
    # scheduling.k8s.io/v1
    "PriorityClass": {1: "metadata:ObjectMeta", 2: "value:int32!", 3: "globalDefault:bool",
                      4: "description", 5: "preemptionPolicy!"},
    # policy/v1
    "PodDisruptionBudget": {1: "metadata:ObjectMeta", 2: "spec:PodDisruptionBudgetSpec",
                            3: "status:PodDisruptionBudgetStatus"},
    "PodDisruptionBudgetSpec": {1: "minAvailable:IntOrString", 2: "selector:LabelSelector",
                                3: "maxUnavailable:IntOrString",
                                4: "unhealthyPodEvictionPolicy!"},
    "PodDisruptionBudgetStatus": {
        1: "observedGeneration:int64", 2: "disruptedPods:{}Time",
        3: "disruptionsAllowed:int32!", 4: "currentHealthy:int32!",
        5: "desiredHealthy:int32!", 6: "expectedPods:int32!", 7: "conditions:[]Condition"},
    "Eviction": {1: "metadata:ObjectMeta", 2: "deleteOptions:DeleteOptions"},  # kubectl drain
    # networking.k8s.io/v1
    "Ingress": {1: "metadata:ObjectMeta", 2: "spec:IngressSpec", 3: "status:IngressStatus"},
    "IngressSpec": {1: "defaultBackend:IngressBackend", 2: "tls:[]IngressTLS",
                    3: "rules:[]IngressRule", 4: "ingressClassName!"},
    "IngressBackend": {3: "resource:TypedLocalObjectReference",
                       4: "service:IngressServiceBackend"},
    "IngressServiceBackend": {1: "name!", 2: "port:ServiceBackendPort"},
    "ServiceBackendPort": {1: "name", 2: "number:int32"},
    "IngressTLS": {1: "hosts:[]string", 2: "secretName"},
    "IngressRule": {1: "host", 2: "*:IngressRuleValue"},
    "IngressRuleValue": {1: "http:HTTPIngressRuleValue"},
    "HTTPIngressRuleValue": {1: "paths:[]HTTPIngressPath"},
    "HTTPIngressPath": {1: "path", 2: "backend:IngressBackend", 3: "pathType!"},
    "IngressStatus": {1: "loadBalancer:IngressLoadBalancerStatus"},
    "IngressLoadBalancerStatus": {1: "ingress:[]IngressLoadBalancerIngress"},
    "IngressLoadBalancerIngress": {1: "ip", 2: "hostname", 4: "ports:[]PortStatus"},
    # authentication.k8s.io/v1 (kubectl create token, kubectl auth whoami)
    "TokenRequest": {1: "metadata:ObjectMeta", 2: "spec:TokenRequestSpec",
                     3: "status:TokenRequestStatus"},
    "TokenRequestSpec": {1: "audiences:[]string", 3: "boundObjectRef:BoundObjectReference",
                         4: "expirationSeconds:int64!"},
    "BoundObjectReference": {1: "kind", 2: "apiVersion", 3: "name", 4: "uid"},
    "TokenRequestStatus": {1: "token!", 2: "expirationTimestamp:Time"},
    "SelfSubjectReview": {1: "metadata:ObjectMeta", 2: "status:SelfSubjectReviewStatus"},
    "SelfSubjectReviewStatus": {1: "userInfo:UserInfo"},
    "UserInfo": {1: "username", 2: "uid", 3: "groups:[]string"},
    # authorization.k8s.io/v1 (kubectl auth can-i)
    "SelfSubjectAccessReview": {1: "metadata:ObjectMeta", 2: "spec:SelfSubjectAccessReviewSpec",
                                3: "status:SubjectAccessReviewStatus"},
    "SelfSubjectAccessReviewSpec": {1: "resourceAttributes:ResourceAttributes",
                                    2: "nonResourceAttributes:NonResourceAttributes"},
    "ResourceAttributes": {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                           6: "subresource", 7: "name"},
    "NonResourceAttributes": {1: "path", 2: "verb"},
    "SubjectAccessReviewStatus": {1: "allowed:bool!", 2: "reason", 3: "evaluationError",
                                  4: "denied:bool"},
    "SelfSubjectRulesReview": {1: "metadata:ObjectMeta", 2: "spec:SelfSubjectRulesReviewSpec",
                               3: "status:SubjectRulesReviewStatus"},
    "SelfSubjectRulesReviewSpec": {1: "namespace"},
    "SubjectRulesReviewStatus": {3: "incomplete:bool!", 4: "evaluationError"},
}

_SAME_MESSAGE = {"ClusterRoleBinding": "RoleBinding"}  # kinds sharing another kind's fields
_KIND_MESSAGES = {
    "v1": ["ConfigMap", "Secret", "Namespace", "ServiceAccount", "Service", "ResourceQuota",
           "Pod", "PodTemplate"],
    "apps/v1": ["Deployment", "ReplicaSet", "DaemonSet"],
    "batch/v1": ["Job", "CronJob"],
    "rbac.authorization.k8s.io/v1": ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"],
    "scheduling.k8s.io/v1": ["PriorityClass"],
    "policy/v1": ["PodDisruptionBudget", "Eviction"],
    "networking.k8s.io/v1": ["Ingress"],
    "authentication.k8s.io/v1": ["TokenRequest", "SelfSubjectReview"],
    "authorization.k8s.io/v1": ["SelfSubjectAccessReview", "SelfSubjectRulesReview"],
}


def _merge(*groups: dict[str, dict[int, str]]) -> dict[str, dict[int, str]]:
    return {name: fields for group in groups for name, fields in group.items()}


SPECS: dict[str, dict[int, str]] = _merge(_META, _CORE_OBJECTS, _POD, _CONTAINER, _VOLUMES,
                                          _APPS, _BATCH, _OTHER_GROUPS)
KINDS: dict[tuple[str, str], str] = {
    (api_version, kind): _SAME_MESSAGE.get(kind, kind)
    for api_version, kinds in _KIND_MESSAGES.items() for kind in kinds}

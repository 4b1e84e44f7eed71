"""The usual kubectl example manifests validate cleanly once defaulted, and so do the updates
controllers and users routinely make."""

from __future__ import annotations

import copy

import pytest
import yaml

from kubemu.cluster.api.defaults import apply_defaults, job_selector_defaults
from kubemu.cluster.api.registry import builtin_registry, resource_from_crd
from kubemu.cluster.api.validation import (
    validate_create, validate_status_update, validate_update)

REGISTRY = builtin_registry()

MANIFESTS = yaml.safe_load_all("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx-deployment, namespace: default, labels: {app: nginx}}
spec:
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports: [{containerPort: 80}]
        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 500m, memory: 128Mi}}
        readinessProbe: {httpGet: {path: /, port: 80}, initialDelaySeconds: 5}
---
apiVersion: v1
kind: Service
metadata: {name: my-service, namespace: default}
spec:
  selector: {app.kubernetes.io/name: MyApp}
  ports: [{protocol: TCP, port: 80, targetPort: 9376}]
---
apiVersion: v1
kind: Service
metadata: {name: my-nodeport, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30007}
  - {name: https, port: 443, targetPort: 8443}
---
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: default}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{port: 80, name: web}]
---
apiVersion: v1
kind: Service
metadata: {name: my-database, namespace: prod}
spec: {type: ExternalName, externalName: my.database.example.com}
---
apiVersion: batch/v1
kind: Job
metadata: {name: pi, namespace: default}
spec:
  template:
    spec:
      containers:
      - {name: pi, image: "perl:5.34.0", command: [perl, "-Mbignum=bpi", "-wle", "print bpi(2000)"]}
      restartPolicy: Never
  backoffLimit: 4
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello, namespace: default}
spec:
  schedule: "* * * * *"
  timeZone: Etc/UTC
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
            imagePullPolicy: IfNotPresent
            command: [/bin/sh, -c, date; echo Hello from the Kubernetes cluster]
          restartPolicy: OnFailure
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: nginx}}
  serviceName: nginx
  replicas: 3
  minReadySeconds: 10
  template:
    metadata: {labels: {app: nginx}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.24
        ports: [{containerPort: 80, name: web}]
        volumeMounts: [{name: www, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: my-storage-class
      resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluentd-elasticsearch, namespace: kube-system, labels: {k8s-app: fluentd-logging}}
spec:
  selector: {matchLabels: {name: fluentd-elasticsearch}}
  template:
    metadata: {labels: {name: fluentd-elasticsearch}}
    spec:
      tolerations:
      - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}
      containers:
      - name: fluentd-elasticsearch
        image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2
        resources: {limits: {memory: 200Mi}, requests: {cpu: 100m, memory: 200Mi}}
        volumeMounts: [{name: varlog, mountPath: /var/log}]
      terminationGracePeriodSeconds: 30
      volumes:
      - {name: varlog, hostPath: {path: /var/log}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: game-demo, namespace: default}
data:
  player_initial_lives: "3"
  ui_properties_file_name: user-interface.properties
  game.properties: |
    enemy.types=aliens,monsters
---
apiVersion: v1
kind: Secret
metadata: {name: dotfile-secret, namespace: default}
data: {.secret-file: dmFsdWUtMg0KDQo=}
---
apiVersion: v1
kind: Secret
metadata: {name: secret-tls, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: TUlJQw==, tls.key: TUlJRQ==}
---
apiVersion: v1
kind: Namespace
metadata: {name: development, labels: {name: development}}
---
apiVersion: v1
kind: Pod
metadata: {name: nginx, namespace: default}
spec:
  containers:
  - name: nginx
    image: nginx:1.14.2
    ports: [{containerPort: 80}]
    env:
    - {name: MY_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: LEVEL, valueFrom: {configMapKeyRef: {name: game-demo, key: player_initial_lives}}}
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, initialDelaySeconds: 5}
  initContainers:
  - {name: init-myservice, image: "busybox:1.28", command: [sh, -c, "sleep 2"]}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [a, b]}]
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector: {matchLabels: {app: nginx}}
          topologyKey: kubernetes.io/hostname
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector: {matchLabels: {app: nginx}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: task-pv-volume, labels: {type: local}}
spec:
  storageClassName: manual
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /mnt/data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: task-pv-claim, namespace: default}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 3Gi}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: test-network-policy, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
    - namespaceSelector: {matchLabels: {project: myproject}}
    - podSelector: {matchLabels: {role: frontend}}
    ports: [{protocol: TCP, port: 6379}]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/24}}]
    ports: [{protocol: TCP, port: 5978}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: zk-pdb, namespace: default}
spec: {minAvailable: 2, selector: {matchLabels: {app: zookeeper}}}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high-priority}
value: 1000000
globalDefault: false
description: "This priority class should be used for XYZ service pods only."
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {namespace: default, name: pod-reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, watch, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: read-secrets-global}
subjects:
- {kind: Group, name: manager, apiGroup: rbac.authorization.k8s.io}
- {kind: ServiceAccount, name: default, namespace: kube-system}
roleRef: {kind: ClusterRole, name: secret-reader, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: example-abc, namespace: default, labels: {kubernetes.io/service-name: example}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 80}]
endpoints:
- addresses: [10.1.2.3]
  conditions: {ready: true}
  hostname: pod-1
  nodeName: node-1
  zone: us-west2-a
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: node-1, namespace: kube-node-lease}
spec: {holderIdentity: node-1, leaseDurationSeconds: 40, renewTime: "2024-01-01T00:00:00.000000Z"}
---
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {kubernetes.io/hostname: node-1}}
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs: [10.244.1.0/24]
  taints: [{key: node.kubernetes.io/not-ready, effect: NoSchedule}]
status: {capacity: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Event
metadata: {name: nginx.17a2b3c4d5e6f708, namespace: default}
involvedObject: {kind: Pod, name: nginx, namespace: default}
reason: Scheduled
message: Successfully assigned default/nginx to node-1
type: Normal
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              replicas: {type: integer}
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
""")
EXAMPLES = [pytest.param(m, id=f"{m['kind']}-{m['metadata']['name']}") for m in MANIFESTS]


def prepared(manifest: dict) -> tuple:
    obj = copy.deepcopy(manifest)
    r = REGISTRY.by_kind(obj["apiVersion"], obj["kind"])
    apply_defaults(r, obj)
    if obj["kind"] == "Job":
        job_selector_defaults(obj, "0b1c2d3e-0000-4000-8000-000000000001")
    return r, obj


@pytest.mark.parametrize("manifest", EXAMPLES)
def test_example_manifest_is_valid_once_defaulted(manifest: dict) -> None:
    r, obj = prepared(manifest)
    assert validate_create(r, obj) == []


@pytest.mark.parametrize("manifest", EXAMPLES)
def test_unchanged_update_is_valid(manifest: dict) -> None:
    r, obj = prepared(manifest)
    assert validate_update(r, copy.deepcopy(obj), obj) == []


def by_name(name: str) -> dict:
    return next(m.values[0] for m in EXAMPLES if m.id == name)


def edited(name: str, edit) -> list:
    r, old = prepared(by_name(name))
    new = copy.deepcopy(old)
    edit(new)
    return validate_update(r, new, old)


@pytest.mark.parametrize("name, edit", [
    pytest.param("Deployment-nginx-deployment",
                 lambda d: d["spec"].update(replicas=5), id="scale-deployment"),
    pytest.param("Deployment-nginx-deployment",
                 lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                     image="nginx:1.16.1"), id="roll-deployment-image"),
    pytest.param("Pod-nginx", lambda p: p["spec"]["containers"][0].update(image="nginx:1.16"),
                 id="pod-image"),
    pytest.param("Pod-nginx", lambda p: p["spec"]["tolerations"].append(
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}),
        id="pod-add-toleration"),
    pytest.param("Pod-nginx", lambda p: p["spec"].update(activeDeadlineSeconds=60),
                 id="pod-set-deadline"),
    pytest.param("Pod-nginx", lambda p: p["metadata"].update(labels={"tier": "web"}),
                 id="pod-labels"),
    pytest.param("StatefulSet-web", lambda s: s["spec"].update(replicas=5),
                 id="scale-statefulset"),
    pytest.param("Service-my-service", lambda s: s["spec"].update(clusterIP="10.96.0.20",
                                                                   clusterIPs=["10.96.0.20"]),
                 id="service-clusterip-allocated-first-time"),
    pytest.param("ConfigMap-game-demo", lambda c: c["data"].update(extra="1"),
                 id="configmap-data"),
    pytest.param("PersistentVolumeClaim-task-pv-claim",
                 lambda c: c["spec"].update(volumeName="task-pv-volume"),
                 id="pvc-bound-by-binder"),
    pytest.param("Node-node-1", lambda n: n["spec"].update(unschedulable=True),
                 id="cordon-node"),
    pytest.param("Job-pi", lambda j: j["spec"].update(suspend=True), id="suspend-job"),
])
def test_routine_update_is_valid(name: str, edit) -> None:
    assert edited(name, edit) == []


def test_status_updates_of_examples_are_valid() -> None:
    r, old = prepared(by_name("Deployment-nginx-deployment"))
    new = copy.deepcopy(old)
    new["status"] = {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                     "readyReplicas": 3, "availableReplicas": 3}
    assert validate_status_update(r, new, old) == []
    r, old = prepared(by_name("Pod-nginx"))
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
                     "hostIP": "127.1.0.1", "hostIPs": [{"ip": "127.1.0.1"}],
                     "conditions": [{"type": "Ready", "status": "True"}]}
    assert validate_status_update(r, new, old) == []


def test_custom_resource_gets_metadata_rules_only() -> None:
    crd = by_name("CustomResourceDefinition-crontabs.stable.example.com")
    (r,) = resource_from_crd(crd)
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
           "metadata": {"name": "my-new-cron-object", "namespace": "default"},
           "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image",
                    "containers": "anything goes"}}
    assert validate_create(r, obj) == []
    obj["metadata"]["name"] = "Bad_Name"
    assert [e.field for e in validate_create(r, obj)] == ["metadata.name"]

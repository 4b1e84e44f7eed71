"""The sample objects the storage transformer's compression dictionary is made of (data only).

What a cluster writes most, as kubemu's API server stores it (JSON, keys in the order it
writes them, no resourceVersion): a Node, a Service, a Deployment and its ReplicaSet, an
EndpointSlice, a node Lease, the Events of a pod's life, and a running pod, most frequent
last (zstd reaches the end of a dictionary more cheaply). `dictionary()` is their compact JSON,
one per line. This is part of the stored format: any change needs a new transformer prefix.
"""

from __future__ import annotations

import orjson

__all__ = ["dictionary"]


def dictionary() -> bytes:
    """The compact JSON of every sample, one per line."""
    return b"\n".join(orjson.dumps(obj) for obj in orjson.loads(_SAMPLES))


_SAMPLES = r"""
[
 {
  "apiVersion": "v1",
  "kind": "Node",
  "metadata": {
   "name": "node-17",
   "labels": {
    "kubernetes.io/hostname": "node-17",
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    "beta.kubernetes.io/os": "linux",
    "beta.kubernetes.io/arch": "amd64",
    "topology.kubernetes.io/zone": "zone-b",
    "topology.kubernetes.io/region": "region-1",
    "kubemu.io/ray-node": "aed4f274723fce45"
   },
   "annotations": {
    "node.alpha.kubernetes.io/ttl": "0",
    "kubemu.io/actor": "node-pool-1"
   },
   "uid": "9d518550-cfb0-4ffb-81b9-bf0505238765",
   "creationTimestamp": "2026-11-25T06:51:08Z"
  },
  "spec": {
   "podCIDR": "10.240.50.0/24",
   "podCIDRs": [
    "10.240.50.0/24"
   ]
  },
  "status": {
   "capacity": {
    "cpu": "4",
    "ephemeral-storage": "100Gi",
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
    "memory": "8Gi",
    "pods": "110"
   },
   "allocatable": {
    "cpu": "4",
    "ephemeral-storage": "90Gi",
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
    "memory": "8092Mi",
    "pods": "110"
   },
   "conditions": [
    {
     "type": "MemoryPressure",
     "status": "False",
     "lastHeartbeatTime": "2026-11-25T07:06:19Z",
     "lastTransitionTime": "2026-11-25T06:51:06Z",
     "reason": "KubeletHasSufficientMemory",
     "message": "kubelet has sufficient memory available"
    },
    {
     "type": "DiskPressure",
     "status": "False",
     "lastHeartbeatTime": "2026-11-25T07:06:19Z",
     "lastTransitionTime": "2026-11-25T06:51:06Z",
     "reason": "KubeletHasNoDiskPressure",
     "message": "kubelet has no disk pressure"
    },
    {
     "type": "PIDPressure",
     "status": "False",
     "lastHeartbeatTime": "2026-11-25T07:06:19Z",
     "lastTransitionTime": "2026-11-25T06:51:06Z",
     "reason": "KubeletHasSufficientPID",
     "message": "kubelet has sufficient PID available"
    },
    {
     "type": "Ready",
     "status": "True",
     "lastHeartbeatTime": "2026-11-25T07:06:19Z",
     "lastTransitionTime": "2026-11-25T06:51:06Z",
     "reason": "KubeletReady",
     "message": "kubelet is posting ready status"
    }
   ],
   "addresses": [
    {
     "type": "InternalIP",
     "address": "127.1.0.17"
    },
    {
     "type": "Hostname",
     "address": "node-17"
    }
   ],
   "daemonEndpoints": {
    "kubeletEndpoint": {
     "Port": 10250
    }
   },
   "nodeInfo": {
    "machineID": "1cb7b003dbcc36761d3aa4ee1a05f6a3",
    "systemUUID": "1723a67e-7ee7-4c8f-a081-a2f3db65a9cd",
    "bootID": "4790a622-b06d-4f49-b66c-f8116aef17d5",
    "kernelVersion": "6.8.0-kubemu",
    "osImage": "kubemu",
    "containerRuntimeVersion": "kubemu://0.1",
    "kubeletVersion": "v1.32.0-kubemu",
    "kubeProxyVersion": "v1.32.0-kubemu",
    "operatingSystem": "linux",
    "architecture": "amd64"
   }
  }
 },
 {
  "apiVersion": "v1",
  "kind": "Service",
  "metadata": {
   "name": "app-1",
   "namespace": "scale-1",
   "labels": {
    "kubemu.io/load": "scale",
    "app": "app-1"
   },
   "uid": "3c21a494-429c-414a-be26-731f99d9c0b5",
   "creationTimestamp": "2026-11-25T06:51:53Z"
  },
  "spec": {
   "type": "ClusterIP",
   "selector": {
    "kubemu.io/load": "scale",
    "app": "app-1"
   },
   "ports": [
    {
     "name": "http",
     "protocol": "TCP",
     "port": 80,
     "targetPort": "http"
    }
   ],
   "sessionAffinity": "None",
   "internalTrafficPolicy": "Cluster",
   "ipFamilyPolicy": "SingleStack",
   "ipFamilies": [
    "IPv4"
   ],
   "clusterIP": "10.108.120.120",
   "clusterIPs": [
    "10.108.120.120"
   ]
  },
  "status": {
   "loadBalancer": {}
  }
 },
 {
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {
   "name": "app-1",
   "namespace": "scale-1",
   "labels": {
    "kubemu.io/load": "scale",
    "app": "app-1"
   },
   "uid": "2d6ce8fe-4afa-4c42-8924-083bf259ec04",
   "creationTimestamp": "2026-11-25T06:51:53Z",
   "generation": 1,
   "annotations": {
    "deployment.kubernetes.io/revision": "1"
   }
  },
  "spec": {
   "replicas": 100,
   "selector": {
    "matchLabels": {
     "kubemu.io/load": "scale",
     "app": "app-1"
    }
   },
   "template": {
    "metadata": {
     "labels": {
      "kubemu.io/load": "scale",
      "app": "app-1"
     }
    },
    "spec": {
     "containers": [
      {
       "name": "app",
       "image": "nginx",
       "ports": [
        {
         "name": "http",
         "containerPort": 8080,
         "protocol": "TCP"
        }
       ],
       "resources": {
        "requests": {
         "cpu": "10m",
         "memory": "16Mi"
        }
       },
       "imagePullPolicy": "Always",
       "terminationMessagePath": "/dev/termination-log",
       "terminationMessagePolicy": "File"
      }
     ],
     "restartPolicy": "Always",
     "dnsPolicy": "ClusterFirst",
     "securityContext": {},
     "terminationGracePeriodSeconds": 30,
     "schedulerName": "default-scheduler"
    }
   },
   "strategy": {
    "type": "RollingUpdate",
    "rollingUpdate": {
     "maxUnavailable": "25%",
     "maxSurge": "25%"
    }
   },
   "revisionHistoryLimit": 10,
   "progressDeadlineSeconds": 600
  },
  "status": {
   "observedGeneration": 1,
   "replicas": 100,
   "updatedReplicas": 100,
   "readyReplicas": 100,
   "availableReplicas": 100,
   "conditions": [
    {
     "type": "Available",
     "status": "True",
     "lastUpdateTime": "2026-11-25T06:58:44Z",
     "lastTransitionTime": "2026-11-25T06:58:44Z",
     "reason": "MinimumReplicasAvailable",
     "message": "Deployment has minimum availability."
    },
    {
     "type": "Progressing",
     "status": "True",
     "lastUpdateTime": "2026-11-25T06:58:44Z",
     "lastTransitionTime": "2026-11-25T06:51:53Z",
     "reason": "NewReplicaSetAvailable",
     "message": "ReplicaSet \"app-1-665d7d7c84\" has successfully progressed."
    }
   ]
  }
 },
 {
  "apiVersion": "apps/v1",
  "kind": "ReplicaSet",
  "metadata": {
   "name": "app-1-665d7d7c84",
   "namespace": "scale-1",
   "labels": {
    "kubemu.io/load": "scale",
    "app": "app-1",
    "pod-template-hash": "665d7d7c84"
   },
   "ownerReferences": [
    {
     "apiVersion": "apps/v1",
     "kind": "Deployment",
     "name": "app-1",
     "uid": "2d6ce8fe-4afa-4c42-8924-083bf259ec04",
     "controller": true,
     "blockOwnerDeletion": true
    }
   ],
   "annotations": {
    "deployment.kubernetes.io/revision": "1",
    "deployment.kubernetes.io/desired-replicas": "100",
    "deployment.kubernetes.io/max-replicas": "125"
   },
   "uid": "ca7d2691-02dc-4e82-baf3-0750e6c50e35",
   "creationTimestamp": "2026-11-25T06:51:53Z",
   "generation": 1
  },
  "spec": {
   "replicas": 100,
   "selector": {
    "matchLabels": {
     "kubemu.io/load": "scale",
     "app": "app-1",
     "pod-template-hash": "665d7d7c84"
    }
   },
   "template": {
    "metadata": {
     "labels": {
      "kubemu.io/load": "scale",
      "app": "app-1",
      "pod-template-hash": "665d7d7c84"
     }
    },
    "spec": {
     "containers": [
      {
       "name": "app",
       "image": "nginx",
       "ports": [
        {
         "name": "http",
         "containerPort": 8080,
         "protocol": "TCP"
        }
       ],
       "resources": {
        "requests": {
         "cpu": "10m",
         "memory": "16Mi"
        }
       },
       "imagePullPolicy": "Always",
       "terminationMessagePath": "/dev/termination-log",
       "terminationMessagePolicy": "File"
      }
     ],
     "restartPolicy": "Always",
     "dnsPolicy": "ClusterFirst",
     "securityContext": {},
     "terminationGracePeriodSeconds": 30,
     "schedulerName": "default-scheduler"
    }
   }
  },
  "status": {
   "replicas": 100,
   "observedGeneration": 1,
   "fullyLabeledReplicas": 100,
   "readyReplicas": 100,
   "availableReplicas": 100
  }
 },
 {
  "apiVersion": "discovery.k8s.io/v1",
  "kind": "EndpointSlice",
  "metadata": {
   "generateName": "app-1-",
   "namespace": "scale-1",
   "labels": {
    "kubemu.io/load": "scale",
    "app": "app-1",
    "kubernetes.io/service-name": "app-1",
    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
   },
   "ownerReferences": [
    {
     "apiVersion": "v1",
     "kind": "Service",
     "name": "app-1",
     "uid": "3c21a494-429c-414a-be26-731f99d9c0b5",
     "controller": true,
     "blockOwnerDeletion": true
    }
   ],
   "name": "app-1-hw8jm",
   "uid": "0a1b3339-b0ba-4d90-bb21-ec0cb9029cfd",
   "creationTimestamp": "2026-11-25T06:51:53Z",
   "generation": 3
  },
  "addressType": "IPv4",
  "endpoints": [
   {
    "addresses": [
     "10.241.121.2"
    ],
    "conditions": {
     "ready": true,
     "serving": true,
     "terminating": false
    },
    "nodeName": "node-378",
    "zone": "zone-c",
    "targetRef": {
     "kind": "Pod",
     "namespace": "scale-1",
     "name": "app-1-665d7d7c84-7552g",
     "uid": "949a5539-45b9-4c97-8582-f8802507d17c"
    }
   },
   {
    "addresses": [
     "10.241.202.2"
    ],
    "conditions": {
     "ready": true,
     "serving": true,
     "terminating": false
    },
    "nodeName": "node-674",
    "zone": "zone-b",
    "targetRef": {
     "kind": "Pod",
     "namespace": "scale-1",
     "name": "app-1-665d7d7c84-f7hbq",
     "uid": "cc45fb71-4732-4a8e-9e93-7ac32ce32c35"
    }
   },
   {
    "addresses": [
     "10.241.151.2"
    ],
    "conditions": {
     "ready": true,
     "serving": true,
     "terminating": false
    },
    "nodeName": "node-413",
    "zone": "zone-b",
    "targetRef": {
     "kind": "Pod",
     "namespace": "scale-1",
     "name": "app-1-665d7d7c84-kjv97",
     "uid": "6b46dd00-2719-42d9-b283-e85eb6ab0987"
    }
   }
  ],
  "ports": [
   {
    "name": "http",
    "port": 8080,
    "protocol": "TCP"
   }
  ]
 },
 {
  "apiVersion": "coordination.k8s.io/v1",
  "kind": "Lease",
  "metadata": {
   "name": "node-17",
   "namespace": "kube-node-lease",
   "ownerReferences": [
    {
     "apiVersion": "v1",
     "kind": "Node",
     "name": "node-17",
     "uid": "9d518550-cfb0-4ffb-81b9-bf0505238765"
    }
   ],
   "uid": "57184c77-6074-4e16-a900-d56cdffcbf32",
   "creationTimestamp": "2026-11-25T06:51:40Z"
  },
  "spec": {
   "holderIdentity": "node-17",
   "leaseDurationSeconds": 40,
   "renewTime": "2026-11-25T07:09:59.896067Z"
  }
 },
 {
  "apiVersion": "v1",
  "kind": "Event",
  "metadata": {
   "name": "app-1-665d7d7c84.18eb37262d72c6ee",
   "namespace": "scale-1",
   "uid": "613d5724-5beb-4b32-b0b5-41c2c874e974",
   "creationTimestamp": "2026-11-25T06:51:53Z"
  },
  "involvedObject": {
   "apiVersion": "apps/v1",
   "kind": "ReplicaSet",
   "name": "app-1-665d7d7c84",
   "uid": "ca7d2691-02dc-4e82-baf3-0750e6c50e35",
   "namespace": "scale-1",
   "resourceVersion": "10601"
  },
  "type": "Normal",
  "reason": "SuccessfulCreate",
  "message": "Created pod: app-1-665d7d7c84-7552g",
  "source": {
   "component": "replicaset-controller"
  },
  "firstTimestamp": "2026-11-25T06:51:53Z",
  "lastTimestamp": "2026-11-25T06:51:53Z",
  "count": 1,
  "reportingComponent": "replicaset-controller",
  "reportingInstance": ""
 },
 {
  "apiVersion": "v1",
  "kind": "Event",
  "metadata": {
   "name": "app-1-665d7d7c84-2799c.18eb37277208d6cd",
   "namespace": "scale-1",
   "uid": "e253780b-50df-4070-ac75-0f94e653c83a",
   "creationTimestamp": "2026-11-25T06:52:10Z"
  },
  "involvedObject": {
   "apiVersion": "v1",
   "kind": "Pod",
   "name": "app-1-665d7d7c84-2799c",
   "uid": "dc2b0696-26aa-477c-9956-5bd1f5ecc4af",
   "namespace": "scale-1",
   "resourceVersion": "12611"
  },
  "type": "Normal",
  "reason": "Scheduled",
  "message": "Successfully assigned scale-1/app-1-665d7d7c84-2799c to node-603",
  "source": {
   "component": "default-scheduler"
  },
  "firstTimestamp": "2026-11-25T06:51:58Z",
  "lastTimestamp": "2026-11-25T06:51:58Z",
  "count": 1,
  "reportingComponent": "default-scheduler",
  "reportingInstance": ""
 },
 {
  "apiVersion": "v1",
  "kind": "Event",
  "metadata": {
   "name": "app-1-665d7d7c84-2799c.18eb3727914b7907",
   "namespace": "scale-1",
   "uid": "59ef2400-ea82-4a4e-aa30-c1cd2fbf1ab8",
   "creationTimestamp": "2026-11-25T06:51:59Z"
  },
  "involvedObject": {
   "apiVersion": "v1",
   "kind": "Pod",
   "name": "app-1-665d7d7c84-2799c",
   "uid": "dc2b0696-26aa-477c-9956-5bd1f5ecc4af",
   "namespace": "scale-1",
   "resourceVersion": "13624",
   "fieldPath": "spec.containers{app}"
  },
  "type": "Normal",
  "reason": "Pulled",
  "message": "Container image \"nginx\" already present on machine",
  "source": {
   "component": "kubelet",
   "host": "vm"
  },
  "firstTimestamp": "2026-11-25T06:51:59Z",
  "lastTimestamp": "2026-11-25T06:51:59Z",
  "count": 1,
  "reportingComponent": "kubelet",
  "reportingInstance": "vm"
 },
 {
  "apiVersion": "v1",
  "kind": "Event",
  "metadata": {
   "name": "app-1-665d7d7c84-2799c.18eb3727914b9b08",
   "namespace": "scale-1",
   "uid": "1e6aa335-641e-4358-8164-d307d4b22dbb",
   "creationTimestamp": "2026-11-25T06:51:59Z"
  },
  "involvedObject": {
   "apiVersion": "v1",
   "kind": "Pod",
   "name": "app-1-665d7d7c84-2799c",
   "uid": "dc2b0696-26aa-477c-9956-5bd1f5ecc4af",
   "namespace": "scale-1",
   "resourceVersion": "13624",
   "fieldPath": "spec.containers{app}"
  },
  "type": "Normal",
  "reason": "Created",
  "message": "Created container: app",
  "source": {
   "component": "kubelet",
   "host": "vm"
  },
  "firstTimestamp": "2026-11-25T06:51:59Z",
  "lastTimestamp": "2026-11-25T06:51:59Z",
  "count": 1,
  "reportingComponent": "kubelet",
  "reportingInstance": "vm"
 },
 {
  "apiVersion": "v1",
  "kind": "Event",
  "metadata": {
   "name": "app-1-665d7d7c84-2799c.18eb3727914ba809",
   "namespace": "scale-1",
   "uid": "3e7ef361-6c27-4aea-85be-21e9b577b2f0",
   "creationTimestamp": "2026-11-25T06:51:59Z"
  },
  "involvedObject": {
   "apiVersion": "v1",
   "kind": "Pod",
   "name": "app-1-665d7d7c84-2799c",
   "uid": "dc2b0696-26aa-477c-9956-5bd1f5ecc4af",
   "namespace": "scale-1",
   "resourceVersion": "13624",
   "fieldPath": "spec.containers{app}"
  },
  "type": "Normal",
  "reason": "Started",
  "message": "Started container app",
  "source": {
   "component": "kubelet",
   "host": "vm"
  },
  "firstTimestamp": "2026-11-25T06:51:59Z",
  "lastTimestamp": "2026-11-25T06:51:59Z",
  "count": 1,
  "reportingComponent": "kubelet",
  "reportingInstance": "vm"
 },
 {
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
   "namespace": "scale-1",
   "labels": {
    "kubemu.io/load": "scale",
    "app": "app-1",
    "pod-template-hash": "665d7d7c84"
   },
   "generateName": "app-1-665d7d7c84-",
   "ownerReferences": [
    {
     "apiVersion": "apps/v1",
     "kind": "ReplicaSet",
     "name": "app-1-665d7d7c84",
     "uid": "ca7d2691-02dc-4e82-baf3-0750e6c50e35",
     "controller": true,
     "blockOwnerDeletion": true
    }
   ],
   "name": "app-1-665d7d7c84-2799c",
   "uid": "dc2b0696-26aa-477c-9956-5bd1f5ecc4af",
   "creationTimestamp": "2026-11-25T06:51:56Z"
  },
  "spec": {
   "containers": [
    {
     "name": "app",
     "image": "nginx",
     "ports": [
      {
       "name": "http",
       "containerPort": 8080,
       "protocol": "TCP"
      }
     ],
     "resources": {
      "requests": {
       "cpu": "10m",
       "memory": "16Mi"
      }
     },
     "imagePullPolicy": "Always",
     "terminationMessagePath": "/dev/termination-log",
     "terminationMessagePolicy": "File"
    }
   ],
   "restartPolicy": "Always",
   "dnsPolicy": "ClusterFirst",
   "securityContext": {},
   "terminationGracePeriodSeconds": 30,
   "schedulerName": "default-scheduler",
   "enableServiceLinks": true,
   "serviceAccountName": "default",
   "serviceAccount": "default",
   "priority": 0,
   "preemptionPolicy": "PreemptLowerPriority",
   "tolerations": [
    {
     "key": "node.kubernetes.io/not-ready",
     "operator": "Exists",
     "effect": "NoExecute",
     "tolerationSeconds": 300
    },
    {
     "key": "node.kubernetes.io/unreachable",
     "operator": "Exists",
     "effect": "NoExecute",
     "tolerationSeconds": 300
    }
   ],
   "nodeName": "node-603"
  },
  "status": {
   "phase": "Running",
   "qosClass": "Burstable",
   "conditions": [
    {
     "type": "PodReadyToStartContainers",
     "status": "True",
     "lastTransitionTime": "2026-11-25T06:51:59Z"
    },
    {
     "type": "Initialized",
     "status": "True",
     "lastTransitionTime": "2026-11-25T06:51:59Z"
    },
    {
     "type": "Ready",
     "status": "True",
     "reason": "ContainersNotReady",
     "message": "containers with unready status: [app]",
     "lastTransitionTime": "2026-11-25T06:51:59Z"
    },
    {
     "type": "ContainersReady",
     "status": "True",
     "reason": "ContainersNotReady",
     "message": "containers with unready status: [app]",
     "lastTransitionTime": "2026-11-25T06:51:59Z"
    },
    {
     "type": "PodScheduled",
     "status": "True",
     "lastTransitionTime": "2026-11-25T06:51:58Z"
    }
   ],
   "hostIP": "127.1.2.95",
   "hostIPs": [
    {
     "ip": "127.1.2.95"
    }
   ],
   "startTime": "2026-11-25T06:51:59Z",
   "containerStatuses": [
    {
     "name": "app",
     "state": {
      "running": {
       "startedAt": "2026-11-25T06:51:59Z"
      }
     },
     "lastState": {},
     "ready": true,
     "restartCount": 0,
     "image": "docker.io/library/nginx:latest",
     "imageID": "docker.io/library/nginx@sha256:86cee2c10898a48ff47a0626f8202a2408b5893aff5df58ae10d83166e6d7b0e",
     "started": true,
     "containerID": "containerd://c7c51d09d03a2d7c4a6d3b0fdcb49b5c2ef0f6527cfd653d79af887feca4cfe1"
    }
   ],
   "podIP": "10.243.81.2",
   "podIPs": [
    {
     "ip": "10.243.81.2"
    }
   ]
  }
 }
]
"""

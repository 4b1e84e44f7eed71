"""NodeConfig: what one emulated node is (the kubelet's flags and config file, in one value).

Upstream spreads this over kubelet flags (`--node-labels`, `--register-with-taints`,
`--node-ip`), the KubeletConfiguration (`maxPods`, `evictionHard`, `systemReserved`,
`nodeStatusUpdateFrequency`, `nodeLeaseDurationSeconds`, `evictionPressureTransitionPeriod`)
and the machine itself (cpu, memory, disk). Durations are Kubernetes seconds: the kubelet
sleeps them through its `Timing`, so `--time-scale` shortens them all. Quantities are
strings as in a manifest ("4", "8Gi", "100Mi").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["NodeConfig", "KUBELET_VERSION"]

KUBELET_VERSION = "v1.32.0-kubemu"


@dataclass(frozen=True)
class NodeConfig:
    name: str
    zone: str = "zone-a"
    region: str = "region-1"
    cpu: str = "4"
    memory: str = "8Gi"
    max_pods: int = 110
    ephemeral_storage: str = "100Gi"
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping] = ()  # registered with the Node at create (--register-with-taints)
    address: str = "127.1.0.1"  # InternalIP
    ray_node: str = ""  # the Ray node hosting this kubelet: label kubemu.io/ray-node
    host: str = ""  # the machine's hostname (Event source host); the node name when empty
    actor: str = ""  # the Ray actor serving this node: annotation kubemu.io/actor
    create_delay: float = 0.1  # ContainerCreating -> running, per pod
    eviction_memory_threshold: str = "100Mi"  # evictionHard memory.available
    system_reserved_memory: str = "0"
    pod_cidr: str = ""  # fixed pod CIDR (else wait for spec.podCIDR from node IPAM)
    # KubeletConfiguration timings, Kubernetes seconds (upstream defaults)
    lease_duration_seconds: int = 40
    lease_renew_interval: float = 10.0  # a quarter of the lease duration
    node_status_update_frequency: float = 10.0  # how often status is computed and compared
    node_status_report_frequency: float = 300.0  # upstream 5m: unchanged status is re-posted
    eviction_monitoring_interval: float = 10.0
    eviction_pressure_transition_period: float = 300.0

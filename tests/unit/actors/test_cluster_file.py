"""The cluster file `kubemu up -f` reads: settings, node groups, and one-line errors that name
the field (actors/cluster_file.py, docs/cluster-file.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemu.actors.cluster_file import (
    ClusterFileError,
    NodeGroup,
    group_node_configs,
    load_cluster_file,
    parse_cluster_file,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cluster.yaml"


def test_settings_are_read_by_their_python_names():
    spec = parse_cluster_file("""
apiVersion: kubemu.io/v1alpha1
kind: Cluster
name: lab
storeReplicas: 5
apiservers: 2
schedulers: 2
controllerManagers: 2
timeScale: 10
apiPort: 7443
dnsPort: 0
zones: 2
zonePerHost: true
""")
    assert spec.settings() == {"name": "lab", "store_replicas": 5, "apiservers": 2,
                               "schedulers": 2, "controller_managers": 2, "time_scale": 10.0,
                               "api_port": 7443, "dns_port": 0, "zones": 2,
                               "zone_per_host": True}
    assert spec.node_groups is None


def test_an_empty_file_gives_nothing():
    assert parse_cluster_file("").settings() == {}


def test_node_groups_parse_labels_taints_and_capacity():
    spec = parse_cluster_file("""
nodeGroups:
- count: 2
- name: gpu
  count: 1
  zone: zone-c
  labels: {accelerator: a100, team: ml}
  taints:
  - {key: nvidia.com/gpu, value: "true", effect: NoSchedule}
  - dedicated=ml:PreferNoSchedule
  cpu: 16
  memory: 64Gi
  maxPods: 30
""")
    assert spec.node_groups == (
        NodeGroup(count=2),
        NodeGroup(count=1, name="gpu", zone="zone-c",
                  labels={"accelerator": "a100", "team": "ml"},
                  taints=({"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"},
                          {"key": "dedicated", "value": "ml", "effect": "PreferNoSchedule"}),
                  cpu="16", memory="64Gi", max_pods=30))


def test_unnamed_groups_number_nodes_on_and_named_groups_use_their_name():
    groups = [NodeGroup(count=2), NodeGroup(count=2, name="big", cpu="16"),
              NodeGroup(count=1)]
    configs = group_node_configs(groups, zones=3, cpu="4", memory="8Gi", max_pods=110)
    assert [c["name"] for c in configs] == ["node-1", "node-2", "big-1", "big-2", "node-3"]
    assert [c["zone"] for c in configs] == ["zone-a", "zone-b", "zone-c", "zone-a", "zone-b"]
    assert [c["cpu"] for c in configs] == ["4", "4", "16", "16", "4"]
    assert [c["address"] for c in configs] == [f"127.1.0.{i}" for i in range(1, 6)]
    assert configs[2]["labels"] == {"kubemu.io/node-group": "big"}
    assert configs[0]["labels"] == {}


def test_a_group_zone_pins_all_its_nodes():
    configs = group_node_configs([NodeGroup(count=3, zone="us-east-1a")], zones=3)
    assert {c["zone"] for c in configs} == {"us-east-1a"}


def test_addresses_carry_over_past_254_nodes():
    configs = group_node_configs([NodeGroup(count=256)])
    assert [c["address"] for c in configs[252:]] == ["127.1.0.253", "127.1.0.254",
                                                     "127.1.1.1", "127.1.1.2"]


@pytest.mark.parametrize("text, message", [
    pytest.param("name: [", "not YAML", id="not-yaml"),
    pytest.param("- a\n- b\n", "a cluster file is a mapping of fields, not a list",
                 id="not-a-mapping"),
    pytest.param("nodes: 3\n", "nodes: unknown field", id="unknown-field"),
    pytest.param("kind: Pod\n", "kind: must be Cluster", id="wrong-kind"),
    pytest.param("apiVersion: v1\n", "apiVersion: must be kubemu.io/v1alpha1",
                 id="wrong-api-version"),
    pytest.param("storeReplicas: 4\n", "storeReplicas: must be 3 or 5", id="even-replicas"),
    pytest.param("apiPort: '6443'\n", "apiPort: must be an integer, not a string",
                 id="port-as-string"),
    pytest.param("timeScale: 0\n", "timeScale: must be > 0", id="time-scale-zero"),
    pytest.param("zonePerHost: 1\n", "zonePerHost: must be true or false",
                 id="flag-not-boolean"),
    pytest.param("name: My_Cluster\n", "name: must be a DNS label", id="bad-name"),
    pytest.param("nodeGroups: {count: 1}\n", "nodeGroups: must be a list", id="groups-map"),
    pytest.param("nodeGroups: [{zone: a}]\n", "nodeGroups[0].count: required",
                 id="count-required"),
    pytest.param("nodeGroups: [{count: 0}]\n", "nodeGroups[0].count: must be between 1",
                 id="count-zero"),
    pytest.param("nodeGroups: [{count: 1, size: 3}]\n", "nodeGroups[0].size: unknown field",
                 id="unknown-group-field"),
    pytest.param("nodeGroups: [{count: 1}, {count: 1, cpu: lots}]\n",
                 "nodeGroups[1].cpu: 'lots' is not a positive quantity", id="bad-cpu"),
    pytest.param("nodeGroups: [{count: 1, labels: {'bad key!': x}}]\n",
                 "nodeGroups[0].labels.bad key!:", id="bad-label-key"),
    pytest.param("nodeGroups: [{count: 1, taints: [{key: a, effect: Sometimes}]}]\n",
                 "nodeGroups[0].taints[0].effect: must be one of NoSchedule", id="bad-effect"),
    pytest.param("nodeGroups: [{count: 1, taints: [just-a-key]}]\n",
                 "nodeGroups[0].taints[0]: 'just-a-key' is not key[=value]:Effect",
                 id="taint-without-effect"),
    pytest.param("nodeGroups: [{count: 1, name: a}, {count: 1, name: a}]\n",
                 "nodeGroups[1].name: 'a' is also the name of nodeGroups[0]",
                 id="duplicate-group-names"),
    pytest.param("nodeGroups: [{count: 1}, {count: 1, name: node}]\n",
                 "nodeGroups[1].name: 'node' would clash", id="group-named-node"),
    pytest.param("nodeGroups: [{count: 1, maxPods: 0}]\n",
                 "nodeGroups[0].maxPods: must be between 1", id="max-pods-zero"),
])
def test_bad_files_fail_in_one_line_naming_the_field(text, message):
    with pytest.raises(ClusterFileError) as caught:
        parse_cluster_file(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(ClusterFileError, match=r"cannot read cluster file .*nope\.yaml"):
        load_cluster_file(tmp_path / "nope.yaml")


def test_the_documented_example_parses():
    spec = load_cluster_file(EXAMPLE)
    configs = group_node_configs(spec.node_groups or (), zones=spec.zones or 3)
    assert spec.name and len(configs) == sum(g.count for g in spec.node_groups or ())

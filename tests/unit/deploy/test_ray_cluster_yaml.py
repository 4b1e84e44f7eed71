"""`ray-cluster.yaml` at the repository root is a config `ray up` accepts: prepared and checked
exactly as Ray's cluster launcher does (its local-provider preparation, then its own JSON
schema), and it installs and starts what the README says."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def load() -> dict:
    return yaml.safe_load((ROOT / "ray-cluster.yaml").read_text())


def test_ray_accepts_the_cluster_config() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(load())
    validate_config(config)  # raises jsonschema.ValidationError on a bad field
    assert config["provider"]["type"] == "local"
    node_type = config["available_node_types"][config["head_node_type"]]
    assert node_type["max_workers"] == len(config["provider"]["worker_ips"])


def test_hosts_get_kubemu_installed_and_ray_started() -> None:
    config = load()
    assert config["file_mounts"]["~/kubemu"] == "."
    assert any("pip install" in c and "~/kubemu" in c for c in config["setup_commands"])
    assert any("ray start --head" in c for c in config["head_start_ray_commands"])
    assert any("ray start --address=$RAY_HEAD_IP:6379" in c
               for c in config["worker_start_ray_commands"])

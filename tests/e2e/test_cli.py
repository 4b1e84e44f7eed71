"""The `kubemu` command as a user runs it: the README's demo works, bad input is one line."""

import os
import re
import subprocess
import sys

import pytest


def _kubemu(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = os.environ | {"COLUMNS": "200"}  # rich wraps at 80 columns when not on a terminal
    return subprocess.run([sys.executable, "-m", "kubemu.actors.cli", *args],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


@pytest.mark.parametrize("args, message", [
    pytest.param(["demo", "--time-scale", "0"], "Invalid value for '--time-scale'",
                 id="time-scale-below-one"),
    pytest.param(["demo", "--time-scale", "fast"], "Invalid value for '--time-scale'",
                 id="non-numeric"),
    pytest.param(["no-such-command"], "No such command", id="unknown-command"),
])
def test_bad_input_is_a_short_error_without_traceback(args, message):
    done = _kubemu(*args, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_demo_spreads_resolves_serves_moves_pods_off_a_dead_node_and_exits_0(tmp_path):
    done = _kubemu("demo", "--data-dir", str(tmp_path))
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(r"6 pods Ready, spread over 3 zones: zone-a 2, zone-b 2, zone-c 2", out)
    dns = re.search(r"DNS answer: web\.demo\.svc\.cluster\.local A (\S+) == ClusterIP", out)
    assert dns and dns.group(1).startswith("10."), out
    served = re.search(r"60/60 requests sent from node-\d answered by (\d+) pods", out)
    assert served and int(served.group(1)) > 1, out
    moved = re.search(r"pods moved: \d pod\(s\) of (node-\d) replaced on ([\w, -]+) and Ready",
                      out)
    assert moved and moved.group(1) not in moved.group(2), out
    assert re.search(r"after the move: 30/30 requests answered", out), out
    assert "demo passed" in out
    assert list(tmp_path.glob("demo/store/store-*")), "the store keeps its WAL in --data-dir"


def test_demo_refuses_a_data_dir_holding_an_earlier_demo(tmp_path):
    (tmp_path / "demo" / "store" / "store-0").mkdir(parents=True)
    done = _kubemu("demo", "--data-dir", str(tmp_path), timeout=60)
    assert done.returncode == 1
    assert "holds an earlier demo's data" in done.stdout
    assert "Traceback" not in done.stderr + done.stdout

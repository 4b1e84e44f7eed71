"""The `kubemu` command as a user runs it: the README's demo works, bad input is one line."""

import re
import subprocess
import sys

import pytest


def _kubemu(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubemu.actors.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    pytest.param(["demo", "--replicas", "0"], "Invalid value for '--replicas'", id="zero-replicas"),
    pytest.param(["demo", "--writes", "many"], "Invalid value for '--writes'", id="non-numeric"),
    pytest.param(["no-such-command"], "No such command", id="unknown-command"),
])
def test_bad_input_is_a_short_error_without_traceback(args, message):
    done = _kubemu(*args, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_demo_survives_a_leader_kill_and_loses_nothing(tmp_path):
    done = _kubemu("demo", "--writes", "60", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"missing or wrong after failover\s*│\s*0\s*│", done.stdout)
    assert re.search(r"watch events \(in order, no gaps\)\s*│\s*120 \(yes\)", done.stdout)
    assert re.search(r"Deployment web available replicas\s*│\s*3/3", done.stdout)
    assert list(tmp_path.glob("store/store-*")), "replicas keep their WAL in --data-dir"

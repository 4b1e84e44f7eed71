"""program_for: images, commands, annotations, probe answers, logs of emulated containers."""

from __future__ import annotations

import pytest
from kubemu.cluster.node import images
from kubemu.cluster.node.program import (DEFAULT_SCRIPT_MEMORY, DEFAULT_SERVER_MEMORY,
                                         OOM_DELAY, program_for, render_line)

POD = {"metadata": {"name": "web-1", "namespace": "ns", "uid": "u"}, "spec": {"nodeName": "n1"}}


def pod_with(annotations: dict) -> dict:
    return {**POD, "metadata": {**POD["metadata"], "annotations": annotations}}


@pytest.mark.parametrize("container, ends_at, code, listens", [
    pytest.param({"image": "nginx"}, None, 0, True, id="server-image"),
    pytest.param({"image": "registry.k8s.io/pause:3.10"}, None, 0, False, id="pause"),
    pytest.param({"image": "myorg/unknown:2"}, None, 0, True, id="unknown-image-is-server"),
    pytest.param({"image": "busybox"}, 0.0, 0, False, id="shell-image-exits-at-once"),
    pytest.param({"image": "ubuntu:24.04"}, 0.0, 0, False, id="ubuntu"),
    pytest.param({"image": "busybox", "args": ["sleep", "10"]}, 10.0, 0, False,
                 id="shell-image-args-replace-cmd"),
    pytest.param({"image": "nginx", "args": ["-g", "daemon off;"]}, None, 0, True,
                 id="server-image-args"),
    pytest.param({"image": "busybox", "command": ["sh", "-c"], "args": ["exit 3"]}, 0.0, 3,
                 False, id="command-plus-args"),
    pytest.param({"image": "python:3.12", "command": ["python", "app.py"]}, None, 0, True,
                 id="unknown-executable-is-server"),
])
def test_what_a_container_runs(container, ends_at, code, listens):
    program = program_for({"name": "c", **container}, POD)
    assert (program.ends_at, program.exit_code, program.listens) == (ends_at, code, listens)


def test_kubernetes_expands_dollar_parens_from_the_container_env():
    container = {"name": "c", "image": "busybox",
                 "env": [{"name": "MSG", "value": "hi"},
                         {"name": "POD", "valueFrom": {"fieldRef": {
                             "fieldPath": "metadata.name"}}}],
                 "command": ["sh", "-c", "echo $(MSG) $POD $$(MSG) $HOSTNAME"]}
    program = program_for(container, POD)
    # "$$(MSG)" escapes to "$(MSG)": a command substitution of an unknown program, which
    # prints nothing; $POD and $HOSTNAME are shell variables.
    assert program.output(1.0) == [(0.0, "hi web-1 web-1")]


@pytest.mark.parametrize("annotations, ends_at, code, reason", [
    pytest.param({"kubemu.io/exit-after": "30s"}, 30.0, 1, "Error", id="exit-after"),
    pytest.param({"kubemu.io/exit-after": "1m", "kubemu.io/exit-code": "0"}, 60.0, 0,
                 "Completed", id="exit-code"),
    pytest.param({"kubemu.io/exit-after": "10s", "kubemu.io/exit-after.c": "5s"}, 5.0, 1,
                 "Error", id="container-suffix-wins"),
    pytest.param({"kubemu.io/exit-after.other": "5s"}, None, 0, "Completed",
                 id="other-container-untouched"),
    pytest.param({"kubemu.io/memory": "300Mi"}, OOM_DELAY, 137, "OOMKilled", id="oom"),
])
def test_annotations_script_failures(annotations, ends_at, code, reason):
    container = {"name": "c", "image": "nginx", "resources": {"limits": {"memory": "256Mi"}}}
    program = program_for(container, pod_with(annotations))
    assert (program.ends_at, program.exit_code, program.exit_reason) == (ends_at, code, reason)
    assert program.warnings == ()


def test_annotations_apply_to_init_containers_only_with_a_suffix():
    annotations = {"kubemu.io/exit-after": "5s", "kubemu.io/exit-after.setup": "2s"}
    assert program_for({"name": "other", "image": "nginx"}, pod_with(annotations),
                       init=True).ends_at is None
    assert program_for({"name": "setup", "image": "nginx"}, pod_with(annotations),
                       init=True).ends_at == 2.0


@pytest.mark.parametrize("annotations, warning", [
    pytest.param({"kubemu.io/exit-after": "30"},
                 'invalid kubemu.io/exit-after "30": time: missing unit in duration "30"',
                 id="missing-unit"),
    pytest.param({"kubemu.io/ready-after": "-5s"},
                 'invalid kubemu.io/ready-after "-5s": must not be negative', id="negative"),
    pytest.param({"kubemu.io/exit-after": "1s", "kubemu.io/exit-code": "x"},
                 'invalid kubemu.io/exit-code "x": not an integer', id="exit-code"),
    pytest.param({"kubemu.io/memory": "lots"}, 'invalid kubemu.io/memory "lots": quantities '
                 "must match the regular expression", id="memory"),
])
def test_bad_annotation_values_are_ignored_with_a_warning(annotations, warning):
    program = program_for({"name": "c", "image": "nginx"}, pod_with(annotations))
    assert len(program.warnings) == 1 and program.warnings[0].startswith(warning)


def test_memory_defaults_and_annotation():
    assert program_for({"name": "c", "image": "nginx"}, POD).memory_bytes == \
        DEFAULT_SERVER_MEMORY
    assert program_for({"name": "c", "image": "busybox", "command": ["sleep", "9"]},
                       POD).memory_bytes == DEFAULT_SCRIPT_MEMORY
    assert program_for({"name": "c", "image": "nginx"},
                       pod_with({"kubemu.io/memory": "1Gi"})).memory_bytes == 1 << 30


WEB = {"name": "c", "image": "nginx", "ports": [{"containerPort": 8080, "name": "http"}]}
IP = "10.244.1.5"
REFUSED = "dial tcp 10.244.1.5:9090: connect: connection refused"


@pytest.mark.parametrize("container, annotations, handler, elapsed, kind, ok, message", [
    pytest.param(WEB, {}, {"httpGet": {"port": "http", "path": "/"}}, 1, "readiness", True,
                 "", id="http-named-port"),
    pytest.param(WEB, {}, {"httpGet": {"port": 9090, "path": "/healthz"}}, 1, "liveness",
                 False, f'Liveness probe failed: Get "http://{IP}:9090/healthz": {REFUSED}',
                 id="http-undeclared-port-refused"),
    pytest.param(WEB, {}, {"tcpSocket": {"port": 9090}}, 1, "readiness", False,
                 f"Readiness probe failed: {REFUSED}", id="tcp-refused"),
    pytest.param(WEB, {}, {"tcpSocket": {"port": 8080}}, 1, "readiness", True, "",
                 id="tcp-accept"),
    pytest.param(WEB, {"kubemu.io/fail-liveness-after": "20s"},
                 {"httpGet": {"port": 8080, "path": "/"}}, 25, "liveness", False,
                 "Liveness probe failed: HTTP probe failed with statuscode: 500",
                 id="failing-liveness"),
    pytest.param(WEB, {"kubemu.io/fail-liveness-after": "20s"},
                 {"httpGet": {"port": 8080, "path": "/"}}, 25, "readiness", True, "",
                 id="failing-liveness-leaves-readiness"),
    pytest.param(WEB, {"kubemu.io/ready-after": "5s"}, {"httpGet": {"port": 8080}}, 3,
                 "readiness", False,
                 "Readiness probe failed: HTTP probe failed with statuscode: 503",
                 id="not-ready-yet"),
    pytest.param(WEB, {"kubemu.io/ready-after": "5s"}, {"httpGet": {"port": 8080}}, 5,
                 "startup", True, "", id="ready-after-elapsed"),
    pytest.param(WEB, {}, {"grpc": {"port": 9090}}, 1, "liveness", False,
                 f'Liveness probe failed: timeout: failed to connect service "{IP}:9090" '
                 f"within 1s", id="grpc-refused"),
    pytest.param(WEB, {}, {"exec": {"command": ["false"]}}, 1, "liveness", False,
                 "Liveness probe failed: ", id="exec-false"),
    pytest.param({"name": "c", "image": "nginx"}, {}, {"tcpSocket": {"port": 1234}}, 1,
                 "liveness", True, "", id="no-declared-ports-accepts-any"),
    pytest.param({"name": "c", "image": "busybox", "command": ["sleep", "99"]}, {},
                 {"httpGet": {"port": 80}}, 1, "readiness", False,
                 f'Readiness probe failed: Get "http://{IP}:80/": dial tcp {IP}:80: '
                 "connect: connection refused", id="script-does-not-listen"),
])
def test_probe_answers(container, annotations, handler, elapsed, kind, ok, message):
    program = program_for(container, pod_with(annotations))
    assert program.probe(handler, elapsed, kind, host=IP) == (ok, message)


def test_exec_probe_timeout():
    program = program_for(WEB, POD)
    assert program.probe({"exec": {"command": ["sleep", "5"]}}, 1, "liveness", timeout=1) == \
        (False, 'Liveness probe failed: command "sleep 5" timed out')


def test_exec_probe_follows_the_scripts_files_inside_a_loop():
    script = "while true; do touch /tmp/up; sleep 5; rm /tmp/up; sleep 5; done"
    program = program_for({"name": "c", "image": "busybox", "command": ["sh", "-c", script]},
                          POD)
    probe = {"exec": {"command": ["test", "-e", "/tmp/up"]}}
    assert [program.probe(probe, t, "readiness")[0] for t in (1, 6, 21, 26, 1001, 1006)] == \
        [True, False, True, False, True, False]


def test_output_of_a_periodic_loop_is_bounded_to_the_newest_lines():
    program = program_for({"name": "c", "image": "busybox",
                           "command": ["sh", "-c", "while true; do echo tick; sleep 1; done"]},
                          POD)
    lines = program.output(1_000_000.0, limit=50)
    assert len(lines) == 50 and lines[-1] == (1_000_000.0, "tick")


def test_server_output_starts_with_a_banner():
    assert program_for({"name": "c", "image": "nginx:1.27"}, POD).output(5.0) == [
        (0.0, "/docker-entrypoint.sh: Configuration complete; ready for start up")]


def test_date_placeholders_render_with_the_wall_time_of_the_line():
    program = program_for({"name": "c", "image": "busybox",
                           "command": ["sh", "-c", "echo $(date) up; date +%s"]}, POD)
    rendered = [render_line(line, 1_800_000_000.0) for _, line in program.output(1.0)]
    assert rendered == ["Fri Jan 15 08:00:00 UTC 2027 up", "1800000000"]


def test_pre_stop_hook_durations():
    program = program_for(WEB, POD)
    assert program.hook_duration({"exec": {"command": ["sh", "-c", "sleep 5"]}}, 0) == 5.0
    assert program.hook_duration({"httpGet": {"port": 8080}}, 0) == 0.0
    assert program.hook_duration({"sleep": {"seconds": 7}}, 0) == 7.0


@pytest.mark.parametrize("image, ref, family", [
    pytest.param("nginx", "docker.io/library/nginx:latest", "server", id="bare"),
    pytest.param("nginx:1.27", "docker.io/library/nginx:1.27", "server", id="tag"),
    pytest.param("bitnami/redis", "docker.io/bitnami/redis:latest", "server", id="org"),
    pytest.param("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10", "pause",
                 id="registry"),
    pytest.param("localhost:5000/app", "localhost:5000/app:latest", "server", id="port"),
    pytest.param("busybox:1.36", "docker.io/library/busybox:1.36", "shell", id="busybox"),
])
def test_image_references(image, ref, family):
    assert images.normalize(image) == ref
    assert images.family(image) == family
    assert images.image_id(image) == images.image_id(image)
    assert "@sha256:" in images.image_id(image)

"""The container shell emulation: what scripts print, when they end, how they take SIGTERM."""

from __future__ import annotations

import math

import pytest
from kubemu.cluster.node.durations import format_go_duration, parse_go_duration, parse_sleep
from kubemu.cluster.node.shell import run_argv, run_exec, run_script

ENV = {"env": {"GREETING": "hello"}, "hostname": "pod-1"}


@pytest.mark.parametrize("script, lines, end, code", [
    pytest.param("echo hi; sleep 5; echo bye; exit 3", [(0, "hi"), (5, "bye")], 5, 3,
                 id="sequence-with-exit"),
    pytest.param("sleep 2.5 && echo done", [(2.5, "done")], 2.5, 0, id="decimal-sleep"),
    pytest.param("sleep 1m; false", [], 60, 1, id="sleep-suffix-and-false"),
    pytest.param("echo a && false || echo b", [(0, "a"), (0, "b")], 0, 0, id="and-or"),
    pytest.param("false && echo never", [], 0, 1, id="and-short-circuits"),
    pytest.param("true\nexit 7", [], 0, 7, id="newline-separates"),
    pytest.param("for i in 1 2 3; do echo $i; sleep 1; done", [(0, "1"), (1, "2"), (2, "3")],
                 3, 0, id="for-loop"),
    pytest.param("i=0; while [ $i -lt 2 ]; do echo n=$i; i=$((i+1)); sleep 2; done",
                 [(0, "n=0"), (2, "n=1")], 4, 0, id="counting-while"),
    pytest.param("echo \"$GREETING, ${NAME:-world}\" '$GREETING'", [(0, "hello, world $GREETING")],
                 0, 0, id="quoting-and-defaults"),
    pytest.param("x=$(echo inner); echo \"[$x]\" `hostname`", [(0, "[inner] pod-1")], 0, 0,
                 id="command-substitution"),
    pytest.param("printf '%s=%d\\n' a 1 b 2", [(0, "a=1"), (0, "b=2")], 0, 0, id="printf"),
    pytest.param("echo -n ab; echo cd", [(0, "abcd")], 0, 0, id="echo-n-joins"),
    pytest.param("set -e; false; echo never", [], 0, 1, id="errexit"),
    pytest.param("if [ -f /tmp/x ]; then echo yes; else echo no; fi; rm /tmp/x; "
                 "[ -f /tmp/x ] || echo gone", [(0, "yes"), (0, "gone")], 0, 0,
                 id="if-and-test-files"),
    pytest.param("echo data > /tmp/f; cat /tmp/f; rm /nope; cat /nope", [
        (0, "data"), (0, "cat: can't open '/nope': No such file or directory")], 0, 1,
                 id="redirect-and-cat"),
    pytest.param("echo err >&2; echo quiet > /dev/null", [(0, "err")], 0, 0,
                 id="stderr-is-logged-devnull-is-not"),
    pytest.param("seq 3 | grep -v 2", [(0, "1"), (0, "3")], 0, 0, id="pipeline"),
    pytest.param("timeout 5 sleep 10; echo $?", [(5, "124")], 5, 0, id="timeout"),
    pytest.param("(exit 4); echo $?", [(0, "4")], 0, 0, id="subshell-exit"),
    pytest.param("wget -qO- http://svc; nslookup kubernetes.default; echo ok", [(0, "ok")], 0,
                 0, id="network-tools-succeed-silently"),
    pytest.param("sleep x", [(0, "sleep: invalid number 'x'")], 0, 1, id="bad-sleep"),
])
def test_finite_scripts_print_lines_at_their_offsets_and_exit(script, lines, end, code):
    trace = run_script(script, **ENV)
    assert [(t, line) for t, line in trace.lines] == lines
    assert (trace.end, trace.exit_code) == (end, code)
    assert trace.blocked_by == ""


@pytest.mark.parametrize("script, blocked, sigterm, listens", [
    pytest.param("sleep 3600; echo late", "", None, False, id="finite-sleep-ends"),
    pytest.param("sleep infinity", "sleep", None, False, id="sleep-as-pid1-ignores-sigterm"),
    pytest.param("echo start; sleep infinity", "sleep", None, False, id="shell-ignores-sigterm"),
    pytest.param("tail -f /dev/null", "tail", None, False, id="tail-f-blocks"),
    pytest.param("python app.py", "server", 0, True, id="single-unknown-command-is-exec"),
    pytest.param("echo start; exec /server --port 8080", "server", 0, True, id="exec-server"),
    pytest.param("echo start; python app.py", "server", None, True,
                 id="server-under-a-shell-pid1"),
    pytest.param("trap 'exit 0' TERM; sleep infinity & wait", "wait", 0, False,
                 id="trap-with-wait-exits"),
    pytest.param("trap 'exit 3' SIGTERM; while true; do sleep 1; done", "loop", 3, False,
                 id="trap-in-a-loop"),
    pytest.param("nginx & tail -f /var/log/x", "tail", None, True, id="background-server"),
    pytest.param("case x in esac", "server", 0, True, id="unparseable-is-a-program"),
])
def test_blocking_scripts_and_their_sigterm_answer(script, blocked, sigterm, listens):
    trace = run_script(script, **ENV)
    assert trace.blocked_by == blocked
    assert (trace.end is None) == bool(blocked)
    assert trace.sigterm_exit == sigterm
    assert trace.listens == listens


def test_repeating_loop_becomes_periodic_output():
    trace = run_script("while true; do echo tick; sleep 10; done", **ENV)
    assert trace.end is None and trace.blocked_by == "loop"
    assert trace.periodic is not None
    assert (trace.periodic.period, trace.periodic.lines) == (10.0, ((0.0, "tick"),))
    assert trace.lines == ((0.0, "tick"), (10.0, "tick"))


def test_loop_without_sleep_prints_at_most_once_a_second():
    trace = run_script("while true; do echo spin; done", **ENV)
    assert trace.periodic is not None and trace.periodic.period == 1.0
    assert run_script("while :; do :; done", **ENV).blocked_by == "busy"


def test_loop_that_never_repeats_is_replayed_for_a_bounded_number_of_steps():
    trace = run_script("i=0; while true; do i=$((i+1)); echo $i; sleep 1; done", **ENV)
    assert trace.blocked_by == "busy" and trace.periodic is None
    assert 100 < len(trace.lines) < 10_000
    assert trace.lines[:2] == ((0.0, "1"), (1.0, "2"))


def test_file_operations_are_recorded_with_their_offsets():
    trace = run_script("touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600", **ENV)
    assert trace.files == ((0.0, "/tmp/healthy", True), (30.0, "/tmp/healthy", False))
    assert trace.end == 630.0


@pytest.mark.parametrize("argv, end, blocked, sigterm", [
    pytest.param(["sleep", "3600"], 3600.0, "", None, id="plain-sleep"),
    pytest.param(["sleep", "infinity"], None, "sleep", None, id="sleep-pid1"),
    pytest.param(["/bin/sh", "-c", "exit 2"], 0.0, "", None, id="absolute-shell-path"),
    pytest.param(["bash", "-ec", "false; echo x"], 0.0, "", None, id="bash-errexit-flag"),
    pytest.param(["nginx", "-g", "daemon off;"], None, "server", 0, id="server-binary"),
    pytest.param(["sh"], 0.0, "", None, id="interactive-shell-without-stdin-exits"),
    pytest.param(["cat"], 0.0, "", None, id="cat-on-closed-stdin-exits"),
    pytest.param(["/bin/true"], 0.0, "", None, id="true"),
    pytest.param(["sh", "run.sh"], None, "server", 0, id="script-file-is-a-program"),
])
def test_plain_argv_runs_without_a_shell(argv, end, blocked, sigterm):
    trace = run_argv(argv, **ENV)
    assert (trace.end, trace.blocked_by, trace.sigterm_exit) == (end, blocked, sigterm)


def test_cat_and_sh_block_when_the_container_keeps_stdin_open():
    assert run_argv(["cat"], stdin_open=True, **ENV).blocked_by == "read"
    assert run_argv(["sh"], stdin_open=True, **ENV).blocked_by == "read"


@pytest.mark.parametrize("argv, files, code, output, duration", [
    pytest.param(["cat", "/tmp/healthy"], {}, 0, "", 0.0, id="unscripted-file-exists"),
    pytest.param(["cat", "/tmp/healthy"], {"/tmp/healthy": None}, 1,
                 "cat: can't open '/tmp/healthy': No such file or directory\n", 0.0,
                 id="removed-file-fails"),
    pytest.param(["redis-cli", "ping"], {}, 0, "", 0.0, id="unknown-command-succeeds"),
    pytest.param(["sh", "-c", "exit 1"], {}, 1, "", 0.0, id="exit-1-fails"),
    pytest.param(["false"], {}, 1, "", 0.0, id="false-fails"),
    pytest.param(["sh", "-c", "sleep 5"], {}, 0, "", 5.0, id="sleep-takes-time"),
    pytest.param(["sleep", "infinity"], {}, 1, "", math.inf, id="never-ends"),
    pytest.param(["test", "-e", "/ready"], {"/ready": ()}, 0, "", 0.0, id="test-created"),
])
def test_exec_probe_commands(argv, files, code, output, duration):
    result = run_exec(argv, files=files, **ENV)
    assert (result.exit_code, result.output, result.duration) == (code, output, duration)


@pytest.mark.parametrize("text, seconds", [
    pytest.param("30s", 30.0, id="seconds"), pytest.param("1m30s", 90.0, id="compound"),
    pytest.param("500ms", 0.5, id="millis"), pytest.param("1.5h", 5400.0, id="fraction"),
    pytest.param("0", 0.0, id="zero"), pytest.param("-2s", -2.0, id="negative"),
])
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text, message", [
    pytest.param("30", 'time: missing unit in duration "30"', id="missing-unit"),
    pytest.param("1d", 'time: unknown unit "d" in duration "1d"', id="unknown-unit"),
    pytest.param("soon", 'time: invalid duration "soon"', id="garbage"),
    pytest.param("", 'time: invalid duration ""', id="empty"),
])
def test_bad_go_durations_carry_gos_message(text, message):
    with pytest.raises(ValueError, match=message):
        parse_go_duration(text)


@pytest.mark.parametrize("seconds, text", [
    pytest.param(10, "10s", id="10s"), pytest.param(80, "1m20s", id="1m20s"),
    pytest.param(300, "5m0s", id="5m0s"), pytest.param(7200, "2h0m0s", id="2h"),
])
def test_format_go_duration(seconds, text):
    assert format_go_duration(seconds) == text


@pytest.mark.parametrize("operands, seconds", [
    pytest.param(["5"], 5.0, id="int"), pytest.param(["0.5"], 0.5, id="decimal"),
    pytest.param(["1m", "30s"], 90.0, id="sum"), pytest.param(["2h"], 7200.0, id="hours"),
    pytest.param(["1d"], 86400.0, id="days"), pytest.param(["infinity"], math.inf, id="inf"),
])
def test_sleep_operands(operands, seconds):
    assert parse_sleep(operands) == seconds

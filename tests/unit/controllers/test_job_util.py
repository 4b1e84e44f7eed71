"""Pure Job and CronJob helpers: index intervals, backoff, podFailurePolicy, schedules."""

from __future__ import annotations

import pytest
from kubemu.cluster.controllers.cronjob_util import (
    job_name, most_recent_schedule, parse_schedule)
from kubemu.cluster.controllers.job_podfailure import match_pod_failure_policy
from kubemu.cluster.controllers.job_util import backoff_delay, format_indexes, parse_indexes

T0 = 1_800_000_000.0  # a whole minute


@pytest.mark.parametrize(("indexes", "text"), [
    pytest.param([], "", id="none"),
    pytest.param([0, 1, 2, 4], "0-2,4", id="range-and-single"),
    pytest.param([3, 4], "3,4", id="two-stay-a-list"),
    pytest.param([7, 0, 1, 2, 3, 9, 8], "0-3,7-9", id="unsorted"),
])
def test_completed_indexes_interval_format_round_trips(indexes: list[int], text: str) -> None:
    assert format_indexes(indexes) == text
    assert parse_indexes(text) == set(indexes)


def test_parse_indexes_drops_indexes_beyond_completions() -> None:
    assert parse_indexes("0-2,8", completions=2) == {0, 1}


@pytest.mark.parametrize(("failures", "delay"), [
    pytest.param(0, 0.0, id="none"), pytest.param(1, 10.0, id="first"),
    pytest.param(3, 40.0, id="doubling"), pytest.param(10, 360.0, id="capped-6m"),
])
def test_pod_failure_backoff_doubles_from_10s_to_6m(failures: int, delay: float) -> None:
    assert backoff_delay(failures) == delay


def _failed_pod(code: int, conditions: list | None = None) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "conditions": conditions or [],
                       "containerStatuses": [{"name": "main", "state": {
                           "terminated": {"exitCode": code}}}]}}


@pytest.mark.parametrize(("rules", "pod", "action", "counts"), [
    pytest.param([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}],
                 _failed_pod(42), "FailJob", True, id="exit-code-in"),
    pytest.param([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}],
                 _failed_pod(1), None, True, id="no-match-counts"),
    pytest.param([{"action": "Ignore", "onExitCodes": {"operator": "NotIn", "values": [1]}}],
                 _failed_pod(2), "Ignore", False, id="not-in"),
    pytest.param([{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget",
                                                            "status": "True"}]}],
                 _failed_pod(137, [{"type": "DisruptionTarget", "status": "True"}]),
                 "Ignore", False, id="pod-condition"),
    pytest.param([{"action": "Count", "onExitCodes": {"operator": "In", "values": [3]}},
                  {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3]}}],
                 _failed_pod(3), "Count", True, id="first-rule-wins"),
])
def test_pod_failure_policy_first_matching_rule_decides(rules, pod, action, counts) -> None:
    match = match_pod_failure_policy({"rules": rules}, pod)
    assert (match.action, match.counts) == (action, counts)


def test_fail_job_message_names_container_code_and_rule() -> None:
    rules = [{"action": "Count", "onExitCodes": {"operator": "In", "values": [1]}},
             {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]
    assert match_pod_failure_policy({"rules": rules}, _failed_pod(42)).message == (
        "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1")


@pytest.mark.parametrize(("schedule", "now", "recent", "missed"), [
    pytest.param("* * * * *", T0 + 30, None, 0, id="not-yet"),
    pytest.param("* * * * *", T0 + 90, T0 + 60, 1, id="one-due"),
    pytest.param("* * * * *", T0 + 3600 + 5, T0 + 3600, 60, id="an-hour-missed"),
    pytest.param("* * * * *", T0 + 86400, T0 + 86400, 1440, id="too-many"),
    pytest.param("@hourly", T0 + 7200, T0 + 7200, 2, id="descriptor"),
    pytest.param("@every 90s", T0 + 200, T0 + 180, 2, id="every"),
])
def test_most_recent_schedule_time(schedule: str, now: float, recent, missed: int) -> None:
    assert most_recent_schedule(parse_schedule(schedule), earliest=T0, now=now) == (
        recent, missed)


@pytest.mark.parametrize("bad", [
    pytest.param("* * * *", id="four-fields"), pytest.param("@often", id="descriptor"),
    pytest.param("61 * * * *", id="minute-range")])
def test_unparseable_schedules_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(bad)


def test_unknown_time_zone_raises() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_schedule("* * * * *", "Mars/Olympus")


def test_cron_tz_prefix_reads_fields_in_that_zone() -> None:
    berlin = parse_schedule("CRON_TZ=Europe/Berlin 0 9 * * *")
    assert berlin.next(T0) == T0 + 86400  # T0 is 09:00 Berlin: the next is tomorrow


def test_job_name_is_scheduled_minutes_since_epoch() -> None:
    assert job_name({"metadata": {"name": "hello"}}, T0 + 60) == "hello-30000001"

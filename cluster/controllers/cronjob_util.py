"""CronJob schedule arithmetic (pure): parsing, the most recent unmet time, Jobs from templates.

Schedules are parsed with croniter (the standard five fields, @yearly/@monthly/@weekly/@daily/
@hourly descriptors, day-of-month OR day-of-week as robfig/cron does) plus robfig's
`@every <duration>` (a constant delay, whole seconds). A `CRON_TZ=`/`TZ=` prefix or the
`spec.timeZone` field picks the IANA zone the fields are read in (zoneinfo); without either,
UTC (kubemu's controller-manager runs in UTC). Times are epoch seconds (floats) throughout.

`most_recent_schedule` follows upstream's mostRecentScheduleTime: from the earliest time that
counts (lastScheduleTime, else creationTimestamp, moved up to now - startingDeadlineSeconds)
the most recent schedule time not after `now`, and how many were missed (an estimate from
the interval between the first two, as upstream; more than 100 is "too many"). It never walks
more than a couple of intervals however long the controller was away.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from croniter import croniter

from kubemu.cluster.api.objects import deep_copy, rfc3339
from kubemu.cluster.controllers.ownership import new_controller_ref

__all__ = ["Schedule", "parse_schedule", "most_recent_schedule", "next_schedule_after",
           "job_name", "job_from_template", "scheduled_timestamp", "SCHEDULED_TIMESTAMP",
           "MANY_MISSED"]

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MANY_MISSED = 100
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")


@dataclass(frozen=True)
class Schedule:
    expression: str  # five fields or a descriptor (no zone prefix); "" with `every`
    zone: tzinfo
    every: float | None = None  # @every: seconds between runs

    def next(self, after: float) -> float:
        """The first schedule time strictly after `after` (epoch seconds)."""
        if self.every is not None:
            return float(int(after) + max(1, int(self.every)))
        start = datetime.fromtimestamp(after, self.zone)
        return croniter(self.expression, start).get_next(datetime).timestamp()


def parse_schedule(schedule: str, time_zone: str | None = None) -> Schedule:
    """Raises ValueError for an unparseable schedule or an unknown zone."""
    text = schedule.strip()
    zone_name = time_zone
    if text.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, text = text.partition(" ")
        zone_name = prefix.partition("=")[2]
        text = text.strip()
    zone: tzinfo = timezone.utc
    if zone_name:
        try:
            zone = zoneinfo.ZoneInfo(zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {zone_name}") from err
    if text.startswith("@every "):
        return Schedule("", zone, _duration(text[len("@every "):].strip()))
    if text in ("@midnight",):
        text = "@daily"
    if text == "@annually":
        text = "@yearly"
    if not croniter.is_valid(text):
        raise ValueError(f"unparseable schedule: {schedule!r}")
    return Schedule(text, zone)


def most_recent_schedule(schedule: Schedule, *, earliest: float,
                         now: float) -> tuple[float | None, int]:
    """(most recent schedule time in (earliest, now], or None; missed schedules count)."""
    t1 = schedule.next(earliest)
    if now < t1:
        return None, 0
    t2 = schedule.next(t1)
    if now < t2:
        return t1, 1
    interval = round(t2 - t1)
    if interval < 1:
        raise ValueError("time difference between two schedules is less than 1 second")
    missed = int(now - t1) // interval + 1
    t = schedule.next(t1 + (missed - 2) * interval)
    recent: float | None = None
    while t <= now:
        recent = t
        t = schedule.next(t)
    return recent, missed


def next_schedule_after(schedule: Schedule, *, earliest: float, now: float) -> float:
    """The first schedule time after both the most recent one and `earliest`."""
    recent, _ = most_recent_schedule(schedule, earliest=earliest, now=now)
    return schedule.next(recent if recent is not None else earliest)


def job_name(cronjob: dict, scheduled: float) -> str:
    """`<cronjob>-<scheduled time in minutes since the epoch>` (deterministic per run)."""
    return f"{(cronjob.get('metadata') or {}).get('name', '')}-{int(scheduled // 60)}"


def scheduled_timestamp(scheduled: float, zone: tzinfo) -> str:
    """RFC 3339 in the CronJob's zone ("Z" for UTC), as upstream's annotation."""
    moment = datetime.fromtimestamp(int(scheduled), zone)
    if moment.utcoffset() == timedelta(0):
        return rfc3339(int(scheduled))
    return moment.isoformat()


def job_from_template(cronjob: dict, scheduled: float, zone: tzinfo) -> dict:
    """The Job a CronJob starts for `scheduled` (upstream's getJobFromTemplate2)."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    md = cronjob.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = scheduled_timestamp(scheduled, zone)
    meta: dict = {"name": job_name(cronjob, scheduled), "namespace": md.get("namespace"),
                  "annotations": annotations,
                  "ownerReferences": [new_controller_ref(cronjob, api_version="batch/v1",
                                                         kind="CronJob")]}
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": deep_copy(template.get("spec") or {})}


def _duration(text: str) -> float:
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"failed to parse duration @every {text}")
    return total

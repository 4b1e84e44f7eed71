"""CronJob schedule syntax: five fields or a descriptor, with robfig/cron's error messages.

Upstream validates `spec.schedule` with robfig/cron's ParseStandard, and users see its errors
verbatim (`expected exactly 5 fields, found 4: [* * * *]`). This module reproduces that parser's
accepted language: minute, hour, day of month, month (1-12 or JAN-DEC), day of week (0-6 or
SUN-SAT); `*` and `?`, ranges `a-b`, steps `/n`, lists `a,b`; and the descriptors @yearly,
@annually, @monthly, @weekly, @daily, @midnight, @hourly and `@every <duration>`. An optional
leading `TZ=`/`CRON_TZ=` zone is accepted here; the caller decides whether it is allowed.
"""

from __future__ import annotations

import re
import zoneinfo

__all__ = ["schedule_error", "time_zone_error"]

_FIELDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}),
           (1, 12, {m: i + 1 for i, m in enumerate(
               ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                "dec"))}),
           (0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri",
                                                 "sat"))}))
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def schedule_error(schedule: str) -> str | None:
    """None when the schedule parses, else robfig/cron's error text."""
    spec = schedule
    if spec.startswith(("TZ=", "CRON_TZ=")):
        zone, _, spec = spec.partition(" ")
        err = time_zone_error(zone.partition("=")[2])
        if err:
            return f"provided bad location {zone.partition('=')[2]}: {err}"
        spec = spec.strip()
    if spec.startswith("@"):
        if spec.startswith("@every "):
            if not _DURATION.match(spec[len("@every "):].strip()):
                return f"failed to parse duration {spec}: time: invalid duration " \
                       f"\"{spec[len('@every '):].strip()}\""
            return None
        if spec in _DESCRIPTORS:
            return None
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for text, (lo, hi, names) in zip(fields, _FIELDS):
        err = _field_error(text, lo, hi, names)
        if err:
            return err
    return None


def time_zone_error(zone: str) -> str | None:
    """None for a known IANA zone, else Go's `unknown time zone X`."""
    if not zone or zone.lower() == "local" or zone.startswith("/") or ".." in zone:
        return f"unknown time zone {zone}".rstrip()
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {zone}"
    return None


def _field_error(text: str, lo: int, hi: int, names: dict[str, int]) -> str | None:
    for expr in text.split(","):
        err = _range_error(expr, lo, hi, names)
        if err:
            return err
    return None


def _range_error(expr: str, lo: int, hi: int, names: dict[str, int]) -> str | None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start, err = _value(low_and_high[0], names)
        if err:
            return err
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end, err = _value(low_and_high[1], names)
            if err:
                return err
        else:
            return f"too many hyphens: {expr}"
    if len(range_and_step) == 2:
        step_text = range_and_step[1]
        if not step_text.isdigit():
            return f'failed to parse int from {step_text}: strconv.Atoi: parsing "{step_text}":' \
                   " invalid syntax"
        step = int(step_text)
        if single and low_and_high[0] not in ("*", "?"):
            end = hi
        if step <= 0:
            return f"step of range should be a positive number: {expr}"
    elif len(range_and_step) > 2:
        return f"too many slashes: {expr}"
    if start < lo:
        return f"beginning of range ({start}) below minimum ({lo}): {expr}"
    if end > hi:
        return f"end of range ({end}) above maximum ({hi}): {expr}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
    return None


def _value(text: str, names: dict[str, int]) -> tuple[int, str | None]:
    if text.lower() in names:
        return names[text.lower()], None
    if not text.isdigit():
        if text.startswith("-") and text[1:].isdigit():
            return 0, f"negative number ({text}) not allowed: {text}"
        return 0, f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": ' \
                  "invalid syntax"
    return int(text), None

"""Human durations: the AGE, LAST SEEN and DURATION cells of `kubectl get`.

kube-apiserver renders every age with apimachinery's `duration.HumanDuration`, which keeps two
or three significant figures: seconds below two minutes ("0s".."119s"), minutes and seconds
below ten minutes ("3m12s"), minutes below three hours ("15m"), hours and minutes below eight
hours ("5h3m"), hours below two days ("47h"), days and hours below eight days ("3d4h"), days
below two years ("400d"), years and days below eight years ("2y10d"), then years ("9y").
Clock skew of under two seconds reads as "0s"; anything later than that is "<invalid>".
Nothing here reads a clock: callers pass `now` in unix seconds.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["human_duration", "age", "parse_time", "format_time"]


def human_duration(seconds: float) -> str:
    """`duration.HumanDuration` of a span given in seconds."""
    s = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: float) -> str:
    """Time since an RFC 3339 timestamp, or "<unknown>" when it is missing or unparsable."""
    at = parse_time(timestamp)
    if at is None:
        return "<unknown>"
    return human_duration(now - at)


def parse_time(timestamp: str | None) -> float | None:
    """Unix seconds of an RFC 3339 time ("2026-11-24T01:02:03Z", with optional fraction)."""
    if not timestamp or not isinstance(timestamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def format_time(seconds: float) -> str:
    """RFC 3339 in UTC to the second, as Kubernetes writes `metav1.Time`."""
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

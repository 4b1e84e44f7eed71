"""batch/v1 validation: Job and CronJob.

A Job's selector is generated at create, after validation (`job_selector_defaults` in
defaults_workloads.py needs the uid), so a new Job may omit it unless `manualSelector` is true
(its name must then fit the generated `job-name` label); a selector that is present must match
the template's labels. The template's restartPolicy is Never or OnFailure. Selector, template,
completionMode and podFailurePolicy never change; completions change only for elastic Indexed
Jobs (completions == parallelism). A CronJob needs a schedule that robfig/cron accepts (see
cron.py), a known timeZone, a concurrencyPolicy of Allow/Forbid/Replace, a name of at most 52
characters (its Jobs append an 11-character suffix), and a jobTemplate without a selector.
"""

from __future__ import annotations

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation.apps import selector_matches
from kubemu.cluster.api.validation.cron import schedule_error, time_zone_error
from kubemu.cluster.api.validation.field import (
    child, immutable, invalid, not_supported, required)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors, nonnegative, validate_label_selector)
from kubemu.cluster.api.validation.names import is_valid_label_value
from kubemu.cluster.api.validation.podspec import validate_pod_template

__all__ = ["validate_job", "validate_job_update", "validate_cron_job",
           "validate_cron_job_update", "validate_job_status"]

_MAX_INDEXED_PARALLELISM = 100000
_MISMATCH = "`selector` does not match template `labels`"
_CONCURRENCY = ("Allow", "Forbid", "Replace")


def validate_job(obj: dict) -> list[FieldError]:
    name = (obj.get("metadata") or {}).get("name") or ""
    return _job_spec_with_selector(obj.get("spec") or {}, "spec", name=name)


def validate_job_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs = _job_spec_with_selector(spec, "spec")
    indexed_elastic = (spec.get("completionMode") == "Indexed"
                       and spec.get("completions") == spec.get("parallelism"))
    if not indexed_elastic:
        errs += immutable(spec.get("completions"), old_spec.get("completions"),
                          "spec.completions")
    for f in ("selector", "template", "completionMode", "podFailurePolicy",
              "backoffLimitPerIndex", "managedBy", "successPolicy"):
        errs += immutable(spec.get(f), old_spec.get(f), child("spec", f))
    return errs


def validate_job_status(obj: dict) -> list[FieldError]:
    status = obj.get("status") or {}
    errs: list[FieldError] = []
    for f in ("active", "succeeded", "failed", "ready", "terminating"):
        if status.get(f) is not None:
            errs += nonnegative(status[f], child("status", f))
    return errs


def validate_cron_job(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    name = (obj.get("metadata") or {}).get("name") or ""
    if len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    return errs + _cron_job_spec(obj.get("spec") or {}, None)


def validate_cron_job_update(new: dict, old: dict) -> list[FieldError]:
    return _cron_job_spec(new.get("spec") or {}, old.get("spec") or {})


def _job_spec_with_selector(spec: dict, path: str, *, name: str = "") -> list[FieldError]:
    errs = _job_spec(spec, path)
    selector = spec.get("selector")
    if selector is None:
        if spec.get("manualSelector") is True:
            errs.append(required(child(path, "selector")))
        else:  # generated at create, after validation: check the job-name label it will add
            errs += messages_to_errors(child(path, "template", "labels"), name,
                                       is_valid_label_value(name))
        return errs
    errs += validate_label_selector(selector, child(path, "selector"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if not selector_matches(selector, labels):
        errs.append(invalid(child(path, "template", "metadata", "labels"), labels, _MISMATCH))
    return errs


def _job_spec(spec: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
              "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"):
        if spec.get(f) is not None:
            errs += nonnegative(spec[f], child(path, f))
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in ("NonIndexed", "Indexed"):
            errs.append(not_supported(child(path, "completionMode"), mode,
                                      ("NonIndexed", "Indexed")))
        elif mode == "Indexed":
            if spec.get("completions") is None:
                errs.append(required(child(path, "completions"),
                                     "when completion mode is Indexed"))
            parallelism = spec.get("parallelism")
            if parallelism is not None and parallelism > _MAX_INDEXED_PARALLELISM:
                errs.append(invalid(child(path, "parallelism"), parallelism,
                                    f"must be less than or equal to {_MAX_INDEXED_PARALLELISM}"
                                    " when completion mode is Indexed"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None and replacement not in ("TerminatingOrFailed", "Failed"):
        errs.append(not_supported(child(path, "podReplacementPolicy"), replacement,
                                  ("Failed", "TerminatingOrFailed")))
    template = spec.get("template")
    tp = child(path, "template")
    errs += validate_pod_template(template or {}, tp)
    policy = ((template or {}).get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        errs.append(not_supported(child(tp, "spec", "restartPolicy"), policy or "",
                                  ("OnFailure", "Never")))
    return errs


def _cron_job_spec(spec: dict, old_spec: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    schedule = spec.get("schedule") or ""
    if not schedule:
        errs.append(required("spec.schedule"))
    else:
        message = schedule_error(schedule)
        if message:
            errs.append(invalid("spec.schedule", schedule, message))
        allow_tz = old_spec is not None and "TZ" in (old_spec.get("schedule") or "")
        if "TZ" in schedule:
            if not allow_tz:
                errs.append(invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in "
                                    "schedule, use timeZone field instead"))
            elif spec.get("timeZone") is not None:
                errs.append(invalid("spec.schedule", schedule, "cannot use both timeZone "
                                    "field and TZ or CRON_TZ in schedule"))
    if spec.get("startingDeadlineSeconds") is not None:
        errs += nonnegative(spec["startingDeadlineSeconds"], "spec.startingDeadlineSeconds")
    zone = spec.get("timeZone")
    if zone is not None and (old_spec is None or old_spec.get("timeZone") != zone):
        message = time_zone_error(zone)
        if message:
            errs.append(invalid("spec.timeZone", zone, message))
    policy = spec.get("concurrencyPolicy") or ""
    if not policy:
        errs.append(required("spec.concurrencyPolicy"))
    elif policy not in _CONCURRENCY:
        errs.append(not_supported("spec.concurrencyPolicy", policy, _CONCURRENCY))
    job_template = spec.get("jobTemplate") or {}
    job_spec = job_template.get("spec") or {}
    jp = "spec.jobTemplate.spec"
    errs += _job_spec(job_spec, jp)
    if job_spec.get("selector") is not None:
        errs.append(invalid(child(jp, "selector"), job_spec["selector"],
                            "`selector` will be auto-generated"))
    if job_spec.get("manualSelector") is True:
        errs.append(not_supported(child(jp, "manualSelector"), True, ("nil", "false")))
    for f in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if spec.get(f) is not None:
            errs += nonnegative(spec[f], child("spec", f))
    return errs

"""OpenAPI schemas of batch/v1: Job and CronJob.

Upstream 1.32's shapes under upstream's definition names (`io.k8s.api.batch.v1.JobSpec`),
including the newer Job knobs (pod failure and success policies, per-index backoff, pod
replacement policy, managedBy) so manifests written for 1.32 pass strict field validation.
A CronJob embeds a `JobTemplateSpec`, whose spec is the same `JobSpec`. Job conditions are an
atomic list that strategic merge still merges by `type`, as upstream marks it.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.dsl import (
    array, boolean, define, integer, ref, string, time)
from kubemu.cluster.api.schemas.meta import LABEL_SELECTOR, OBJECT_META, define_kind

__all__ = ["BATCH"]

BATCH = "io.k8s.api.batch.v1."
_CORE = "io.k8s.api.core.v1."

# -- Job policies ---------------------------------------------------------------------------

define(BATCH + "PodFailurePolicyOnExitCodesRequirement",
       "Matches a failed pod by the exit codes of its containers.", {
           "containerName": string("Only this container's exit code is checked; empty means "
                                   "every container."),
           "operator": string("In (some code is in values) or NotIn (some non-zero code is "
                              "not).", enum=["In", "NotIn"]),
           "values": array(integer(), "The exit codes; at most 255, sorted, unique.",
                           list_type="set"),
       }, required=("operator", "values"))

define(BATCH + "PodFailurePolicyOnPodConditionsPattern",
       "Matches a failed pod by one of its conditions.", {
           "type": string("The pod condition type to match, such as DisruptionTarget."),
           "status": string("The condition status to match. Defaults to True."),
       }, required=("type",))

define(BATCH + "PodFailurePolicyRule",
       "One rule of a pod failure policy: an action for failed pods matching its "
       "requirement (exactly one of onExitCodes and onPodConditions).", {
           "action": string("FailJob, FailIndex, Ignore (not counted against backoffLimit) "
                            "or Count (the default handling).",
                            enum=["Count", "FailIndex", "FailJob", "Ignore"]),
           "onExitCodes": ref(BATCH + "PodFailurePolicyOnExitCodesRequirement",
                              "Match by container exit codes."),
           "onPodConditions": array(ref(BATCH + "PodFailurePolicyOnPodConditionsPattern"),
                                    "Match by pod conditions (any of them).",
                                    list_type="atomic"),
       }, required=("action",))

define(BATCH + "PodFailurePolicy",
       "How pod failures count towards the Job's failure, checked rule by rule.", {
           "rules": array(ref(BATCH + "PodFailurePolicyRule"),
                          "Rules in order; the first that matches a failed pod applies.",
                          list_type="atomic"),
       }, required=("rules",))

define(BATCH + "SuccessPolicyRule",
       "One way an Indexed Job can succeed early: listed indexes and/or a count of "
       "succeeded ones.", {
           "succeededIndexes": string("Indexes that must succeed, as intervals like "
                                      "\"1,3-5,7\"."),
           "succeededCount": integer("How many of succeededIndexes (or of all indexes) "
                                     "must succeed."),
       })

define(BATCH + "SuccessPolicy",
       "When an Indexed Job is declared succeeded before every index completes.", {
           "rules": array(ref(BATCH + "SuccessPolicyRule"),
                          "The Job succeeds when any rule is met.", list_type="atomic"),
       }, required=("rules",))

# -- Job --------------------------------------------------------------------------------------

define(BATCH + "JobSpec", "The desired behaviour of a Job.", {
    "parallelism": integer("Most pods running at once. Defaults to 1."),
    "completions": integer("Successful pods needed for the Job to complete; unset means "
                           "any success (work queue) completes it."),
    "activeDeadlineSeconds": integer("Seconds the Job may stay active before it is "
                                     "terminated and marked failed.", format="int64"),
    "podFailurePolicy": ref(BATCH + "PodFailurePolicy",
                            "How pod failures count; requires restartPolicy Never."),
    "successPolicy": ref(BATCH + "SuccessPolicy",
                         "Early success for Indexed Jobs."),
    "backoffLimit": integer("Retries before the Job is marked failed. Defaults to 6."),
    "backoffLimitPerIndex": integer("Retries per index of an Indexed Job, instead of a "
                                    "Job-wide backoffLimit."),
    "maxFailedIndexes": integer("Failed indexes tolerated before the whole Job fails; "
                                "with backoffLimitPerIndex."),
    "selector": ref(LABEL_SELECTOR, "Selects the Job's pods; generated by the server "
                                    "unless manualSelector is true."),
    "manualSelector": boolean("Use the given selector instead of a generated one "
                              "(rarely right)."),
    "template": ref(_CORE + "PodTemplateSpec",
                    "The pods this Job creates; restartPolicy must be Never or OnFailure."),
    "ttlSecondsAfterFinished": integer("Seconds after the Job finishes before it (and its "
                                       "pods) are deleted automatically."),
    "completionMode": string("NonIndexed (the default) or Indexed (each pod gets a "
                             "completion index 0..completions-1).",
                             enum=["Indexed", "NonIndexed"]),
    "suspend": boolean("While true, no pods are created and running ones are terminated."),
    "podReplacementPolicy": string(
        "When a replacement pod is created: TerminatingOrFailed (as soon as the old pod "
        "terminates) or Failed (once it has fully terminated).",
        enum=["Failed", "TerminatingOrFailed"]),
    "managedBy": string("The controller that reconciles this Job; empty or "
                        "kubernetes.io/job-controller means the built-in one."),
}, required=("template",))

define(BATCH + "JobCondition", "One observed aspect of a Job's state.", {
    "type": string("Complete, Failed, Suspended, FailureTarget or SuccessCriteriaMet."),
    "status": string("True, False or Unknown."),
    "lastProbeTime": time("When the condition was last checked."),
    "lastTransitionTime": time("When status last changed."),
    "reason": string("A CamelCase reason for the last transition."),
    "message": string("A human-readable explanation of the last transition."),
}, required=("type", "status"))

define(BATCH + "UncountedTerminatedPods",
       "UIDs of finished pods the controller has not yet added to the status counters.", {
           "succeeded": array(string(), "UIDs of succeeded pods.", list_type="set"),
           "failed": array(string(), "UIDs of failed pods.", list_type="set"),
       })

define(BATCH + "JobStatus", "The observed state of a Job.", {
    "conditions": array(ref(BATCH + "JobCondition"),
                        "Latest observations; a finished Job has Complete or Failed True.",
                        merge_key="type", strategy="merge", list_type="atomic"),
    "startTime": time("When the controller started working on the Job."),
    "completionTime": time("When the Job completed successfully."),
    "active": integer("Pods pending or running."),
    "succeeded": integer("Pods that succeeded."),
    "failed": integer("Pods that failed."),
    "terminating": integer("Pods terminating (with a deletionTimestamp)."),
    "completedIndexes": string("Completed indexes of an Indexed Job, as intervals like "
                               "\"1,3-5,7\"."),
    "failedIndexes": string("Failed indexes of an Indexed Job with backoffLimitPerIndex."),
    "uncountedTerminatedPods": ref(BATCH + "UncountedTerminatedPods",
                                   "Finished pods not yet counted."),
    "ready": integer("Pods with a Ready condition."),
})

define_kind(BATCH + "Job", "A run-to-completion task: pods are created until enough of "
                           "them succeed.", {
    "spec": ref(BATCH + "JobSpec", "The desired behaviour."),
    "status": ref(BATCH + "JobStatus", "The most recently observed state; read-only."),
}, group="batch", version="v1")

# -- CronJob ----------------------------------------------------------------------------------

define(BATCH + "JobTemplateSpec", "The Job a CronJob creates at each scheduled time.", {
    "metadata": ref(OBJECT_META, "Labels and annotations of the created Jobs."),
    "spec": ref(BATCH + "JobSpec", "The spec of the created Jobs."),
})

define(BATCH + "CronJobSpec", "The desired behaviour of a CronJob.", {
    "schedule": string("Cron format schedule, such as \"*/5 * * * *\" or \"@hourly\"."),
    "timeZone": string("IANA time zone the schedule is read in; defaults to the "
                       "controller's local zone."),
    "startingDeadlineSeconds": integer("Seconds after a missed scheduled time the Job may "
                                       "still start; later runs count as missed.",
                                       format="int64"),
    "concurrencyPolicy": string("What to do when the previous Job is still running: Allow "
                                "(the default), Forbid (skip) or Replace.",
                                enum=["Allow", "Forbid", "Replace"]),
    "suspend": boolean("While true, no new Jobs are started. Defaults to false."),
    "jobTemplate": ref(BATCH + "JobTemplateSpec", "The Job to create at each run."),
    "successfulJobsHistoryLimit": integer("Finished successful Jobs to keep. Defaults "
                                          "to 3."),
    "failedJobsHistoryLimit": integer("Failed Jobs to keep. Defaults to 1."),
}, required=("schedule", "jobTemplate"))

define(BATCH + "CronJobStatus", "The observed state of a CronJob.", {
    "active": array(ref(_CORE + "ObjectReference"), "Jobs currently running.",
                    list_type="atomic"),
    "lastScheduleTime": time("When a Job was last scheduled."),
    "lastSuccessfulTime": time("When a Job last completed successfully."),
})

define_kind(BATCH + "CronJob", "Runs a Job on a repeating schedule.", {
    "spec": ref(BATCH + "CronJobSpec", "The desired behaviour."),
    "status": ref(BATCH + "CronJobStatus", "The most recently observed state; read-only."),
}, group="batch", version="v1")

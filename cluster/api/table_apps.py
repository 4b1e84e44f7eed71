"""Printers for workloads (apps/v1 and batch/v1) as kube-apiserver 1.32 prints them.

Deployments and StatefulSets show READY as "ready/desired"; ReplicaSets and DaemonSets show
plain counts. A Job's STATUS is the first of Complete, Failed, Terminating (being deleted),
Suspended, FailureTarget that holds, else Running; COMPLETIONS is "succeeded/completions"
("n/1 of p" for a work queue with parallelism above one); DURATION runs from startTime to
completionTime (or to now while running). CronJob SUSPEND prints "True"/"False"/"<unset>".
Wide columns list container names and images of the pod template and the selector in
`metav1.FormatLabelSelector` form. Replica counts missing from spec read as the API default, 1.
"""

from __future__ import annotations

from kubemu.cluster.api.duration import age, human_duration, parse_time
from kubemu.cluster.api.table_common import (
    AGE, NAME, Printer, age_cell, col, container_cells, format_labels, format_selector, meta,
    name_cell, selector_string, spec, status, template_spec, has_condition)

__all__ = ["APPS_PRINTERS"]


def _deployment(obj: dict, now: float) -> list:
    sp, st = spec(obj), status(obj)
    names, images = container_cells(template_spec(obj))
    return [name_cell(obj), f"{st.get('readyReplicas') or 0}/{_replicas(sp)}",
            st.get("updatedReplicas") or 0, st.get("availableReplicas") or 0, age_cell(obj, now),
            names, images, selector_string(sp.get("selector"))]


def _replica_set(obj: dict, now: float) -> list:
    sp, st = spec(obj), status(obj)
    names, images = container_cells(template_spec(obj))
    return [name_cell(obj), _replicas(sp), st.get("replicas") or 0, st.get("readyReplicas") or 0,
            age_cell(obj, now), names, images, format_selector(sp.get("selector"))]


def _stateful_set(obj: dict, now: float) -> list:
    sp, st = spec(obj), status(obj)
    names, images = container_cells(template_spec(obj))
    return [name_cell(obj), f"{st.get('readyReplicas') or 0}/{_replicas(sp)}",
            age_cell(obj, now), names, images]


def _daemon_set(obj: dict, now: float) -> list:
    sp, st = spec(obj), status(obj)
    pod_spec = template_spec(obj)
    names, images = container_cells(pod_spec)
    return [name_cell(obj), st.get("desiredNumberScheduled") or 0,
            st.get("currentNumberScheduled") or 0, st.get("numberReady") or 0,
            st.get("updatedNumberScheduled") or 0, st.get("numberAvailable") or 0,
            format_labels(pod_spec.get("nodeSelector")), age_cell(obj, now), names, images,
            format_selector(sp.get("selector"))]


def _controller_revision(obj: dict, now: float) -> list:
    controller = "<none>"
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            group = ref.get("apiVersion", "").rpartition("/")[0]
            kind = f"{ref.get('kind', '')}.{group}" if group else ref.get("kind", "")
            controller = f"{kind.lower()}/{ref.get('name', '')}" if kind else ref.get("name", "")
            break
    return [name_cell(obj), controller, obj.get("revision") or 0, age_cell(obj, now)]


def _job(obj: dict, now: float) -> list:
    sp, st = spec(obj), status(obj)
    succeeded = st.get("succeeded") or 0
    if sp.get("completions") is not None:
        completions = f"{succeeded}/{sp['completions']}"
    elif (sp.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {sp['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started, finished = parse_time(st.get("startTime")), parse_time(st.get("completionTime"))
    if started is None:
        duration = ""
    elif finished is None:
        duration = human_duration(now - started)
    else:
        duration = human_duration(finished - started)
    conditions = st.get("conditions")
    if has_condition(conditions, "Complete"):
        state = "Complete"
    elif has_condition(conditions, "Failed"):
        state = "Failed"
    elif meta(obj).get("deletionTimestamp") is not None:
        state = "Terminating"
    elif has_condition(conditions, "Suspended"):
        state = "Suspended"
    elif has_condition(conditions, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    names, images = container_cells(template_spec(obj))
    return [name_cell(obj), state, completions, duration, age_cell(obj, now), names, images,
            format_selector(sp.get("selector"))]


def _cron_job(obj: dict, now: float) -> list:
    sp, st = spec(obj), status(obj)
    job_spec = (sp.get("jobTemplate") or {}).get("spec") or {}
    names, images = container_cells((job_spec.get("template") or {}).get("spec"))
    last = st.get("lastScheduleTime")
    suspend = sp.get("suspend")
    return [name_cell(obj), sp.get("schedule", ""), sp.get("timeZone") or "<none>",
            "<unset>" if suspend is None else ("True" if suspend else "False"),
            len(st.get("active") or ()), age(last, now) if last else "<none>",
            age_cell(obj, now), names, images, format_selector(job_spec.get("selector"))]


_WIDE = {"priority": 1}
_CONTAINERS = col("Containers", "string", "Names of each container in the template.", **_WIDE)
_IMAGES = col("Images", "string", "Images referenced by each container in the template.",
              **_WIDE)
_SELECTOR = col("Selector", "string", "A label query over pods that should match the replica "
                "count.", **_WIDE)

APPS_PRINTERS: dict[tuple[str, str], Printer] = {
    ("apps", "Deployment"): Printer((
        NAME, col("Ready", "string", "Number of the pod with ready state"),
        col("Up-to-date", "string", "Total number of non-terminated pods targeted by this "
            "deployment that have the desired template spec."),
        col("Available", "string", "Total number of available pods (ready for at least "
            "minReadySeconds) targeted by this deployment."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR), _deployment),
    ("apps", "ReplicaSet"): Printer((
        NAME, col("Desired", "integer", "Replicas is the number of desired replicas."),
        col("Current", "integer", "Replicas is the most recently observed number of replicas."),
        col("Ready", "integer", "The number of ready replicas for this replica set."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR), _replica_set),
    ("apps", "StatefulSet"): Printer((
        NAME, col("Ready", "string", "Number of the pod with ready state"), AGE, _CONTAINERS,
        _IMAGES), _stateful_set),
    ("apps", "DaemonSet"): Printer((
        NAME, col("Desired", "integer", "The total number of nodes that should be running the "
                  "daemon pod."),
        col("Current", "integer", "The number of nodes that are running at least 1 daemon pod "
            "and are supposed to run the daemon pod."),
        col("Ready", "integer", "The number of nodes that should be running the daemon pod and "
            "have one or more of the daemon pod running and ready."),
        col("Up-to-date", "integer", "The total number of nodes that are running updated daemon "
            "pod"),
        col("Available", "integer", "The number of nodes that should be running the daemon pod "
            "and have one or more of the daemon pod running and available."),
        col("Node Selector", "string", "NodeSelector is a selector which must be true for the "
            "pod to fit on a node."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR), _daemon_set),
    ("apps", "ControllerRevision"): Printer((
        NAME, col("Controller", "string", "Controller of the object"),
        col("Revision", "string", "Revision indicates the revision of the state represented by "
            "Data."), AGE), _controller_revision),
    ("batch", "Job"): Printer((
        NAME, col("Status", "string", "Status of the job."),
        col("Completions", "string", "The number of pods which reached phase Succeeded."),
        col("Duration", "string", "Time required to complete the job."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR), _job),
    ("batch", "CronJob"): Printer((
        NAME, col("Schedule", "string", "The schedule in Cron format."),
        col("Timezone", "string", "The time zone name for the given schedule."),
        col("Suspend", "boolean", "This flag tells the controller to suspend subsequent "
            "executions."),
        col("Active", "integer", "A list of pointers to currently running jobs."),
        col("Last Schedule", "string", "Information when was the last time the job was "
            "successfully scheduled."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR), _cron_job),
}


def _replicas(sp: dict) -> int:
    replicas = sp.get("replicas")
    return 1 if replicas is None else replicas

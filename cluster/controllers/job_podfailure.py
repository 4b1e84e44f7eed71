"""podFailurePolicy: how a Job treats one failed pod (upstream's matchPodFailurePolicy).

Rules are tried in order; the first that matches a pod with phase Failed decides:
- `FailJob`: the whole Job fails (reason PodFailurePolicy, upstream's message naming the
  container and exit code, or the pod condition, and the rule's index);
- `Ignore`: the failure does not count toward backoffLimit (a replacement is created);
- `Count`: the default handling, counted toward backoffLimit;
- `FailIndex`: the pod's index fails for good (Jobs with backoffLimitPerIndex).
`onExitCodes` looks at the terminated state of every init and regular container (or only the
named `containerName`); exit code 0 never matches; `In` matches a listed code, `NotIn` any
other non-zero code. `onPodConditions` matches when the pod has a condition of that type and
status (status defaults to True). No matching rule means Count.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAIL_JOB", "IGNORE", "COUNT", "FAIL_INDEX", "PolicyMatch",
           "match_pod_failure_policy"]

FAIL_JOB, IGNORE, COUNT, FAIL_INDEX = "FailJob", "Ignore", "Count", "FailIndex"


@dataclass(frozen=True)
class PolicyMatch:
    action: str | None  # None: no rule matched (counted as usual)
    message: str = ""

    @property
    def counts(self) -> bool:
        """Whether the failure counts toward backoffLimit."""
        return self.action != IGNORE


def match_pod_failure_policy(policy: dict | None, pod: dict) -> PolicyMatch:
    """The action the Job's podFailurePolicy takes for a failed `pod`."""
    md = pod.get("metadata") or {}
    who = f"{md.get('namespace', '')}/{md.get('name', '')}"
    for i, rule in enumerate((policy or {}).get("rules") or ()):
        action = rule.get("action") or ""
        if action not in (FAIL_JOB, IGNORE, COUNT, FAIL_INDEX):
            continue  # unknown actions are skipped, as the API asks clients to
        on_codes = rule.get("onExitCodes")
        if on_codes is not None:
            found = _exit_code_match(on_codes, pod)
            if found is not None:
                name, code = found
                return PolicyMatch(action, f"Container {name} for pod {who} failed with exit "
                                           f"code {code} matching {action} rule at index {i}")
        for pattern in rule.get("onPodConditions") or ():
            if _has_condition(pod, pattern.get("type"), pattern.get("status") or "True"):
                return PolicyMatch(action, f"Pod {who} has condition {pattern.get('type')} "
                                           f"matching {action} rule at index {i}")
    return PolicyMatch(None)


def _exit_code_match(requirement: dict, pod: dict) -> tuple[str, int] | None:
    status = pod.get("status") or {}
    wanted = set(requirement.get("values") or ())
    operator = requirement.get("operator") or "In"
    only = requirement.get("containerName")
    for cs in [*(status.get("initContainerStatuses") or ()),
               *(status.get("containerStatuses") or ())]:
        if only and cs.get("name") != only:
            continue
        terminated = (cs.get("state") or {}).get("terminated")
        if not terminated:
            continue
        code = int(terminated.get("exitCode") or 0)
        if code == 0:
            continue
        if (operator == "In" and code in wanted) or (operator == "NotIn"
                                                     and code not in wanted):
            return cs.get("name") or "", code
    return None


def _has_condition(pod: dict, type_: str | None, status: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == status
               for c in (pod.get("status") or {}).get("conditions") or ())

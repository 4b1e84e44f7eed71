"""Printers for the smaller groups: discovery, coordination, networking, policy, scheduling, rbac.

As kube-apiserver 1.32 prints them: EndpointSlice PORTS and ENDPOINTS list at most three items
then "+ N more...", "<unset>" when empty ("*" for a port without number or name); an Ingress
shows its class ("<none>"), up to three hosts ("*" when none), the load-balancer address and
"80" or "80, 443" with TLS; a PodDisruptionBudget prints "N/A" for an unset bound; role
bindings print ROLE as "Kind/name" and, wide, users, groups and service accounts
("namespace/name") joined by ", ". Role, ClusterRole and CustomResourceDefinition have no
printer upstream: the default table convertor (Name, Created At) serves them, in table.py.
"""

from __future__ import annotations

from kubemu.cluster.api.table_common import (
    AGE, NAME, Printer, age_cell, col, format_selector, int_or_string, name_cell, spec, status)

__all__ = ["GROUP_PRINTERS"]


def _endpoint_slice(obj: dict, now: float) -> list:
    ports = []
    for port in obj.get("ports") or ():
        if port.get("port") is not None:
            ports.append(str(port["port"]))
        elif port.get("name") is not None:
            ports.append(port["name"])
        else:
            ports.append("*")
    addresses = [a for ep in obj.get("endpoints") or () for a in ep.get("addresses") or ()]
    return [name_cell(obj), obj.get("addressType", ""), _first_three(ports),
            _first_three(addresses), age_cell(obj, now)]


def _lease(obj: dict, now: float) -> list:
    return [name_cell(obj), spec(obj).get("holderIdentity") or "", age_cell(obj, now)]


def _network_policy(obj: dict, now: float) -> list:
    return [name_cell(obj), format_selector(spec(obj).get("podSelector")), age_cell(obj, now)]


def _ingress(obj: dict, now: float) -> list:
    sp = spec(obj)
    rules = sp.get("rules") or []
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    host_cell = ",".join(hosts) if hosts else "*"
    if more:
        host_cell = f"{host_cell} + {len(rules) - 3} more..."
    ingress = (status(obj).get("loadBalancer") or {}).get("ingress") or ()
    address = ",".join(sorted({i.get("ip") or i.get("hostname") for i in ingress
                               if i.get("ip") or i.get("hostname")}))
    return [name_cell(obj), sp.get("ingressClassName") or "<none>", host_cell, address,
            "80, 443" if sp.get("tls") else "80", age_cell(obj, now)]


def _pod_disruption_budget(obj: dict, now: float) -> list:
    sp = spec(obj)
    low, high = sp.get("minAvailable"), sp.get("maxUnavailable")
    return [name_cell(obj), "N/A" if low is None else int_or_string(low),
            "N/A" if high is None else int_or_string(high),
            status(obj).get("disruptionsAllowed") or 0, age_cell(obj, now)]


def _priority_class(obj: dict, now: float) -> list:
    return [name_cell(obj), obj.get("value") or 0, bool(obj.get("globalDefault")),
            age_cell(obj, now), obj.get("preemptionPolicy") or ""]


def _role_binding(obj: dict, now: float) -> list:
    ref = obj.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in obj.get("subjects") or ():
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{subject.get('name', '')}")
        elif kind == "User":
            users.append(subject.get("name", ""))
        elif kind == "Group":
            groups.append(subject.get("name", ""))
    return [name_cell(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", age_cell(obj, now),
            ", ".join(users), ", ".join(groups), ", ".join(accounts)]


_WIDE = {"priority": 1}


def _binding_columns(what: str) -> tuple[dict, ...]:
    return (NAME, col("Role", "string", "RoleRef can reference a Role in the current namespace "
                      "or a ClusterRole in the global namespace."), AGE,
            col("Users", "string", f"Users in the {what}", **_WIDE),
            col("Groups", "string", f"Groups in the {what}", **_WIDE),
            col("ServiceAccounts", "string", f"ServiceAccounts in the {what}", **_WIDE))


GROUP_PRINTERS: dict[tuple[str, str], Printer] = {
    ("discovery.k8s.io", "EndpointSlice"): Printer((
        NAME, col("AddressType", "string", "addressType specifies the type of address carried "
                  "by this EndpointSlice."),
        col("Ports", "string", "ports specifies the list of network ports exposed by each "
            "endpoint in this slice."),
        col("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
        AGE), _endpoint_slice),
    ("coordination.k8s.io", "Lease"): Printer((
        NAME, col("Holder", "string", "holderIdentity contains the identity of the holder of a "
                  "current lease."), AGE), _lease),
    ("networking.k8s.io", "NetworkPolicy"): Printer((
        NAME, col("Pod-Selector", "string", "Selects the pods to which this NetworkPolicy "
                  "object applies."), AGE), _network_policy),
    ("networking.k8s.io", "Ingress"): Printer((
        NAME, col("Class", "string", "The name of the IngressClass resource that should be used "
                  "for additional configuration"),
        col("Hosts", "string", "Hosts that incoming requests are matched against before the "
            "ingress rule"),
        col("Address", "string", "Address is a list containing ingress points for the "
            "load-balancer"),
        col("Ports", "string", "Ports of TLS configurations that open"), AGE), _ingress),
    ("policy", "PodDisruptionBudget"): Printer((
        NAME, col("Min Available", "string", "The minimum number of pods that must be "
                  "available."),
        col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
        col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted "
            "at this time."), AGE), _pod_disruption_budget),
    ("scheduling.k8s.io", "PriorityClass"): Printer((
        NAME, col("Value", "integer", "value represents the integer value of this priority "
                  "class."),
        col("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass "
            "should be considered as the default priority for pods that do not have any "
            "priority class."), AGE,
        col("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods "
            "with lower priority.")), _priority_class),
    ("rbac.authorization.k8s.io", "RoleBinding"): Printer(
        _binding_columns("roleBinding"), _role_binding),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): Printer(
        _binding_columns("clusterRoleBinding"), _role_binding),
}


def _first_three(items: list[str]) -> str:
    """upstream's listWithMoreString over at most three shown items."""
    if len(items) > 3:
        return f"{','.join(items[:3])} + {len(items) - 3} more..."
    return ",".join(items) or "<unset>"

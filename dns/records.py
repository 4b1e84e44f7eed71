"""Records: the cluster DNS zone (`cluster.local`) as a table kept current from Services,
EndpointSlices, Namespaces and Pods, per the Kubernetes DNS specification.

Pure and synchronous: informer handlers call `update_*`/`delete_*`; the resolver calls
`lookup(name, rtype) -> Lookup`. The table maps each name to `{rtype: (RR, ...)}`; every
Service remembers the records it contributed (`service_records.service_rrsets`), so a change
to a Service or one of its slices replaces that Service's records only (a name two Services
share, such as a reverse name, keeps the other's records). `version` bumps on every change
that may alter an answer, so callers can cache answers per version.

Answers (checked against CoreDNS's `kubernetes` plugin, which we follow):
- A name in the table answers its records of the asked type; a name holding a CNAME (an
  ExternalName Service) answers the CNAME whatever the type; no record of the type: NODATA.
- `dns-version.<zone>.` TXT "1.1.0" (the specification's schema version).
- Pods, computed at lookup: `<dashed-ip>.<ns>.pod.<zone>.` A (AAAA for IPv6) when
  `pod_mode` is "insecure" (any well-formed address) or "verified" (a live pod of that
  namespace has the address: fed by `update_pod`); never when "disabled".
- Empty non-terminals, as CoreDNS: the apex, `svc.<zone>.` and `pod.<zone>.` are NODATA;
  `<ns>.svc.<zone>.` and `<ns>.pod.<zone>.` are NODATA when the namespace exists, else
  NXDOMAIN (`<ns>.pod` is NXDOMAIN when pods are disabled); insecure pod names need the
  namespace too. Other names in the zone, including `_tcp.<svc>...` between an SRV name and
  its Service, are NXDOMAIN (CoreDNS parses the name; it has no empty-non-terminal notion).
- A namespace exists when `update_namespace` named it or a Service or Pod lives in it; until
  the first `update_namespace`, every namespace counts as existing (a table fed without
  namespaces, as in resolver tests, does not turn every empty namespace into NXDOMAIN).
- Reverse names are in zone only when the table has them (a ClusterIP or headless endpoint
  address); other reverse names are out of zone, to be forwarded (CoreDNS's `fallthrough
  in-addr.arpa ip6.arpa`). Unlike CoreDNS, addresses of endpoints of ClusterIP Services get
  no PTR and no per-endpoint names (the specification defines those for headless Services
  only).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from kubemu.dns.names import RR, address_rtype, fqdn, ip_of_dashed, parse_ip
from kubemu.dns.service_records import SERVICE_NAME_LABEL, RRSets, service_rrsets

__all__ = ["DNS_SCHEMA_VERSION", "POD_MODES", "RR", "Lookup", "Records"]

POD_MODES = ("disabled", "insecure", "verified")
DNS_SCHEMA_VERSION = "1.1.0"


@dataclass(frozen=True, slots=True)
class Lookup:
    """in_zone: this server is authoritative for the name; exists: False is NXDOMAIN;
    answers: records of the asked type (an ExternalName's CNAME whatever the type);
    exists with no answers is NODATA."""

    in_zone: bool
    exists: bool
    answers: tuple[RR, ...] = ()


_OUT_OF_ZONE = Lookup(False, False)
_NXDOMAIN = Lookup(True, False)
_NODATA = Lookup(True, True)
_VERSION_OWNER = "\x00dns-version"  # not a "namespace/name" key, so never a Service's


class Records:
    """The zone's record table; see the module docstring for the answers it gives."""

    def __init__(self, *, zone: str = "cluster.local", pod_mode: str = "insecure") -> None:
        if pod_mode not in POD_MODES:
            raise ValueError(f"pod_mode must be one of {POD_MODES}, not {pod_mode!r}")
        self.zone = fqdn(zone).rstrip(".")
        self.pod_mode = pod_mode
        self.version = 0
        self._apex = self.zone + "."
        self._suffix = "." + self._apex
        self._table: dict[str, dict[str, tuple[RR, ...]]] = {}
        self._owned: dict[str, RRSets] = {}              # owner key -> its records
        self._services: dict[str, dict] = {}             # "ns/name" -> Service
        self._slices: dict[str, dict[str, dict]] = {}    # service key -> slice name -> slice
        self._slice_owner: dict[str, str] = {}           # "ns/slice" -> service key
        self._namespaces: set[str] | None = None         # None: not fed, all exist
        self._ns_objects: Counter[str] = Counter()       # Services and Pods per namespace
        self._pods: dict[str, tuple[str, ...]] = {}      # "ns/name" -> canonical pod IPs
        self._pod_ips: Counter[tuple[str, str]] = Counter()  # (ns, ip) -> pods holding it
        version_name = f"dns-version.{self._apex}"
        self._replace(_VERSION_OWNER, {version_name: {
            "TXT": (RR(version_name, "TXT", DNS_SCHEMA_VERSION),)}})
        self.version = 0

    # -- feeding -------------------------------------------------------------------------------

    def update_service(self, svc: dict) -> None:
        key = _key(svc)
        if key not in self._services:
            self._ns_objects[_namespace(svc)] += 1
            self.version += 1
        self._services[key] = svc
        self._recompute(key)

    def delete_service(self, svc: dict) -> None:
        key = _key(svc)
        if self._services.pop(key, None) is None:
            return
        self._ns_objects[_namespace(svc)] -= 1
        self.version += 1
        self._replace(key, {})

    def update_slice(self, slc: dict) -> None:
        slice_key = _key(slc)
        name = (slc.get("metadata") or {}).get("name") or ""
        label = ((slc.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
        owner = f"{_namespace(slc)}/{label}" if label else None
        before = self._slice_owner.get(slice_key)
        if before is not None and before != owner:
            self.delete_slice(slc)  # relabelled: it left its old Service
        if owner is None:
            return
        self._slice_owner[slice_key] = owner
        self._slices.setdefault(owner, {})[name] = slc
        self._recompute(owner)

    def delete_slice(self, slc: dict) -> None:
        slice_key = _key(slc)
        owner = self._slice_owner.pop(slice_key, None)
        if owner is None:
            return
        slices = self._slices.get(owner, {})
        slices.pop((slc.get("metadata") or {}).get("name") or "", None)
        if not slices:
            self._slices.pop(owner, None)
        self._recompute(owner)

    def update_namespace(self, ns: dict) -> None:
        if self._namespaces is None:
            self._namespaces = set()
            self.version += 1
        name = (ns.get("metadata") or {}).get("name") or ""
        if name not in self._namespaces:
            self._namespaces.add(name)
            self.version += 1

    def delete_namespace(self, ns: dict) -> None:
        if self._namespaces is not None:
            name = (ns.get("metadata") or {}).get("name") or ""
            if name in self._namespaces:
                self._namespaces.discard(name)
                self.version += 1

    def update_pod(self, pod: dict) -> None:
        """A pod's addresses (status.podIPs / podIP); a terminating pod has none (CoreDNS
        drops pods with a deletionTimestamp)."""
        key = _key(pod)
        ips: tuple[str, ...] = ()
        if not (pod.get("metadata") or {}).get("deletionTimestamp"):
            ips = _pod_ips(pod)
        old = self._pods.get(key)
        if old == ips:
            return
        self._forget_pod(key)
        self._pods[key] = ips
        ns = _namespace(pod)
        self._ns_objects[ns] += 1
        for ip in ips:
            self._pod_ips[(ns, ip)] += 1
        self.version += 1

    def delete_pod(self, pod: dict) -> None:
        key = _key(pod)
        if key in self._pods:
            self._forget_pod(key)
            self.version += 1

    # -- answering -----------------------------------------------------------------------------

    def lookup(self, name: str, rtype: str) -> Lookup:
        """Answer `name` (any case, dot optional) for `rtype` ("A", "SRV", ...)."""
        name = fqdn(name)
        rtype = rtype.upper()
        entry = self._table.get(name)
        if entry is not None:
            cname = entry.get("CNAME")
            return Lookup(True, True, cname if cname else entry.get(rtype, ()))
        if name == self._apex:
            return _NODATA
        if not name.endswith(self._suffix):
            return _OUT_OF_ZONE
        labels = name[:-len(self._suffix)].split(".")
        kind = labels[-1]
        if kind not in ("svc", "pod") or len(labels) > 3:
            return _NXDOMAIN
        if len(labels) == 1:
            return _NODATA
        ns = labels[-2]
        if kind == "pod" and self.pod_mode == "disabled":
            return _NXDOMAIN
        if not ns or not self.namespace_exists(ns):
            return _NXDOMAIN
        if len(labels) == 2:
            return _NODATA
        if kind == "svc":
            return _NXDOMAIN
        return self._pod_lookup(name, labels[0], ns, rtype)

    def namespace_exists(self, namespace: str) -> bool:
        if self._namespaces is None:
            return True
        return namespace in self._namespaces or self._ns_objects[namespace] > 0

    @property
    def names(self) -> int:
        """How many names the table holds (pod names are computed, not counted)."""
        return len(self._table)

    # -- helpers -------------------------------------------------------------------------------

    def _pod_lookup(self, name: str, label: str, ns: str, rtype: str) -> Lookup:
        ip = ip_of_dashed(label)
        if ip is None:
            return _NXDOMAIN
        if self.pod_mode == "verified" and not self._pod_ips[(ns, str(ip))]:
            return _NXDOMAIN
        rr = RR(name, address_rtype(ip), str(ip))
        return Lookup(True, True, (rr,) if rr.rtype == rtype else ())

    def _recompute(self, key: str) -> None:
        svc = self._services.get(key)
        if svc is None:
            self._replace(key, {})
            return
        self._replace(key, service_rrsets(svc, self._slices.get(key, {}).values(),
                                          zone=self.zone))

    def _replace(self, owner: str, new: RRSets) -> None:
        """Swap the records `owner` contributes for `new`; bump the version on a change."""
        old = self._owned.get(owner, {})
        if old == new:
            return
        table = self._table
        for name, types in old.items():
            entry = table[name]
            for rtype, rrs in types.items():
                if entry.get(rtype) == rrs:
                    del entry[rtype]  # the common case: this owner's records alone
                    continue
                gone = set(rrs)
                entry[rtype] = tuple(rr for rr in entry[rtype] if rr not in gone)
                if not entry[rtype]:
                    del entry[rtype]
            if not entry:
                del table[name]
        for name, types in new.items():
            entry = table.setdefault(name, {})
            for rtype, rrs in types.items():
                entry[rtype] = entry[rtype] + rrs if rtype in entry else rrs
        if new:
            self._owned[owner] = new
        else:
            self._owned.pop(owner, None)
        self.version += 1

    def _forget_pod(self, key: str) -> None:
        ips = self._pods.pop(key, None)
        if ips is None:
            return
        ns = key.partition("/")[0]
        self._ns_objects[ns] -= 1
        for ip in ips:
            self._pod_ips[(ns, ip)] -= 1
            if self._pod_ips[(ns, ip)] <= 0:
                del self._pod_ips[(ns, ip)]


def _namespace(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def _key(obj: dict) -> str:
    return f"{_namespace(obj)}/{(obj.get('metadata') or {}).get('name') or ''}"


def _pod_ips(pod: dict) -> tuple[str, ...]:
    status = pod.get("status") or {}
    texts = [p.get("ip") or "" for p in status.get("podIPs") or ()] or [status.get("podIP") or ""]
    return tuple(dict.fromkeys(str(ip) for ip in map(parse_ip, texts) if ip is not None))

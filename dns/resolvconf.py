"""A pod's resolv.conf, formed as the kubelet forms it, and a glibc-like stub's search order.

`pod_resolv_conf` follows the kubelet's DNS configurer (pkg/kubelet/network/dns):
- `ClusterFirst` (default): the cluster DNS Service is the only nameserver; search
  `<ns>.svc.<zone> svc.<zone> <zone>` then the host's search domains; `options ndots:5`.
  A `hostNetwork` pod, or a kubelet with no cluster DNS address, falls back to `Default`.
  `ClusterFirstWithHostNet` is `ClusterFirst` even for `hostNetwork` pods.
- `Default`: the node's resolv.conf (`host`). `host=None` stands for a kubelet started with
  `--resolv-conf=""`: nameserver 127.0.0.1, search `.`.
- `None`: empty; everything comes from `dnsConfig`.
Then `dnsConfig` is appended: nameservers and searches appended without duplicates, options
merged by name (the pod's value wins). Limits as the kubelet applies them: at most 3
nameservers, 32 search domains, none longer than 253 characters, a search line of at most
2048 characters (trailing domains dropped). Unlike the kubelet, option order is kept stable.

`ResolvConf.candidates(name)` is the order in which glibc's `res_search` tries FQDNs: a
name ending in `.` is tried alone; a name with at least `ndots` dots is tried as is first,
then with each search domain; otherwise the search domains come first and the bare name last.
Pure: no files are read here (`parse_resolv_conf` takes text).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_NAMESERVERS",
    "MAX_SEARCH_LIST_CHARS",
    "MAX_SEARCH_PATHS",
    "ResolvConf",
    "parse_resolv_conf",
    "pod_resolv_conf",
    "pod_resolv_conf_for",
]

MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_LIST_CHARS = 2048
_MAX_SEARCH_LENGTH = 253
_DEFAULT_OPTIONS = ("ndots:5",)
_MAX_NDOTS = 15  # glibc's RES_MAXNDOTS


@dataclass(frozen=True)
class ResolvConf:
    """One resolv.conf: `options` as written (`ndots:5`, `edns0`, `timeout:2`)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    @property
    def ndots(self) -> int:
        """The `ndots` option (last one wins, capped at 15 as glibc does); 1 when absent."""
        ndots = 1
        for option in self.options:
            name, _, value = option.partition(":")
            if name == "ndots" and value.isdigit():
                ndots = min(int(value), _MAX_NDOTS)
        return ndots

    def text(self) -> str:
        """The file's text, lines in the order container runtimes write them."""
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines.extend(f"nameserver {server}" for server in self.nameservers)
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(line + "\n" for line in lines)

    def candidates(self, name: str) -> list[str]:
        """The FQDNs (with the trailing dot) a glibc stub queries for `name`, in order."""
        if not name or name == ".":
            return ["."]
        if name.endswith("."):
            return [name]
        bare = name + "."
        searched = [f"{name}.{domain.rstrip('.')}." for domain in self.searches
                    if domain.strip(".")]
        if name.count(".") >= self.ndots:
            ordered = [bare, *searched]
        else:
            ordered = [*searched, bare]
        return list(dict.fromkeys(ordered))


def pod_resolv_conf(namespace: str, *, zone: str = "cluster.local",
                    nameserver: str | None = "10.96.0.10", dns_policy: str = "ClusterFirst",
                    dns_config: dict | None = None, host_network: bool = False,
                    host: ResolvConf | None = None) -> ResolvConf:
    """The resolv.conf the kubelet gives a pod in `namespace` (see the module docstring).

    `nameserver` is the kubelet's `--cluster-dns` (None: not configured); `zone` its
    `--cluster-domain`; `dns_config` the pod's `spec.dnsConfig` dict; `host` the node's
    resolv.conf (None: the kubelet's `--resolv-conf=""`).
    """
    base = host if host is not None else ResolvConf(("127.0.0.1",), (".",), ())
    host_searches = host.searches if host is not None else ()
    policy = dns_policy or "ClusterFirst"
    if policy == "ClusterFirst" and host_network:
        policy = "Default"
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and not nameserver:
        policy = "Default"
    if policy == "None":
        servers, searches, options = [], [], []
    elif policy == "Default":
        servers, searches, options = list(base.nameservers), list(base.searches), \
            list(base.options)
    else:
        servers = [nameserver]
        cluster = [f"{namespace}.svc.{zone}", f"svc.{zone}", zone] if zone else []
        searches = _unique([*cluster, *host_searches])
        options = list(_DEFAULT_OPTIONS)
    if dns_config:
        servers = _unique([*servers, *(dns_config.get("nameservers") or [])])
        searches = _unique([*searches, *(dns_config.get("searches") or [])])
        options = _merge_options(options, dns_config.get("options") or [])
    return ResolvConf(tuple(servers[:MAX_NAMESERVERS]), tuple(_fit_searches(searches)),
                      tuple(options))


def pod_resolv_conf_for(pod: dict, **kwargs) -> ResolvConf:
    """`pod_resolv_conf` for a Pod dict: its namespace, dnsPolicy, dnsConfig, hostNetwork."""
    spec = pod.get("spec") or {}
    return pod_resolv_conf(
        (pod.get("metadata") or {}).get("namespace") or "default",
        dns_policy=spec.get("dnsPolicy") or "ClusterFirst", dns_config=spec.get("dnsConfig"),
        host_network=bool(spec.get("hostNetwork")), **kwargs)


def parse_resolv_conf(text: str) -> ResolvConf:
    """A resolv.conf's text read as the kubelet reads the node's: `nameserver` lines
    accumulate; the last `search` and the last `options` line win; `#` lines are comments."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        fields = line.strip().split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            servers.append(fields[1])
        elif fields[0] == "search":
            searches = [s[:-1] if s.endswith(".") and s != "." else s for s in fields[1:]]
        elif fields[0] == "options":
            options = fields[1:]
    return ResolvConf(tuple(servers), tuple(searches), tuple(options))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _merge_options(existing: list[str], pod_options: list[dict]) -> list[str]:
    merged: dict[str, str | None] = {}
    for option in existing:
        name, sep, value = option.partition(":")
        merged[name] = value if sep else None
    for option in pod_options:
        value = option.get("value")
        merged[option.get("name", "")] = value if value not in (None, "") else None
    return [name if value is None else f"{name}:{value}" for name, value in merged.items()
            if name]


def _fit_searches(searches: list[str]) -> list[str]:
    fitted = [s for s in searches[:MAX_SEARCH_PATHS] if len(s) <= _MAX_SEARCH_LENGTH]
    while fitted and len(" ".join(fitted)) > MAX_SEARCH_LIST_CHARS:
        fitted.pop()
    return fitted

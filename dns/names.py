"""DNS names of the Kubernetes DNS specification: the resource record type and the name forms.

`RR` is one resource record of the cluster zone, with its owner name as an FQDN in lower case
with the trailing dot (names are case-insensitive, so the table stores one spelling). The
helpers spell the names the specification and CoreDNS's `kubernetes` plugin use:
`<svc>.<ns>.svc.<zone>.`, SRV names `_<port>._<proto>.<svc>...`, reverse names
(`d.c.b.a.in-addr.arpa.`, nibbles under `ip6.arpa.`) and the dashed address form that names
pods (`10-244-1-5`) and headless endpoints without a hostname (CoreDNS replaces every `.` or
`:` of the address with `-`, so `fd00::5` becomes `fd00--5`). Addresses are written in their
canonical form (`ipaddress`), so one address always gets one name.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "RR",
    "Address",
    "IPAddress",
    "address",
    "address_rtype",
    "dashed",
    "fqdn",
    "ip_of_dashed",
    "is_reverse",
    "parse_ip",
    "reverse_name",
    "service_name",
    "srv_name",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REVERSE_SUFFIXES = (".in-addr.arpa.", ".ip6.arpa.")


@dataclass(frozen=True, slots=True)
class RR:
    """One record: A/AAAA data is the address, PTR/CNAME a target FQDN, TXT the text, SRV
    (priority, weight, port, target FQDN)."""

    name: str
    rtype: str
    data: str | tuple


class Address(NamedTuple):
    """What the records of one address need, computed once per address text."""

    ip: str        # canonical text: "10.244.1.5", "fd00::5"
    rtype: str     # "A" | "AAAA"
    reverse: str   # its PTR owner name
    dashed: str    # its CoreDNS label


@functools.lru_cache(maxsize=1 << 16)
def address(text: str) -> Address | None:
    """The `Address` of `text` (cached: slices repeat their addresses on every change), or
    None when `text` is not an IPv4/IPv6 address."""
    ip = parse_ip(text)
    if ip is None:
        return None
    return Address(str(ip), address_rtype(ip), reverse_name(ip), dashed(ip))


def fqdn(name: str) -> str:
    """`name` in lower case with exactly one trailing dot ("." for the root)."""
    name = name.strip().lower().rstrip(".")
    return name + "."


def parse_ip(text: str) -> IPAddress | None:
    """The address `text` names, or None when it is not an IPv4/IPv6 address."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def address_rtype(ip: IPAddress) -> str:
    return "A" if ip.version == 4 else "AAAA"


def reverse_name(ip: IPAddress) -> str:
    """The PTR owner name of an address: `5.0.96.10.in-addr.arpa.` or nibbles in ip6.arpa."""
    return ip.reverse_pointer + "."


def is_reverse(name: str) -> bool:
    """True for a (normalized) name under in-addr.arpa. or ip6.arpa."""
    return name.endswith(_REVERSE_SUFFIXES)


def dashed(ip: IPAddress) -> str:
    """CoreDNS's label for an address: `10-244-1-5`, `fd00--5`."""
    return str(ip).replace(".", "-").replace(":", "-")


def ip_of_dashed(label: str) -> IPAddress | None:
    """The address a pod label names (CoreDNS's rule: exactly three dashes and no `--` is
    IPv4, anything else is read as IPv6), or None when it names none."""
    if label.count("-") == 3 and "--" not in label:
        ip = parse_ip(label.replace("-", "."))
        return ip if ip is not None and ip.version == 4 else None
    ip = parse_ip(label.replace("-", ":"))
    return ip if ip is not None and ip.version == 6 else None


def service_name(name: str, namespace: str, zone: str) -> str:
    """`<svc>.<ns>.svc.<zone>.`"""
    return f"{name}.{namespace}.svc.{zone}.".lower()


def srv_name(port_name: str, protocol: str, service_fqdn: str) -> str:
    """`_<port>._<proto>.<svc>.<ns>.svc.<zone>.` (protocol in lower case)."""
    return f"_{port_name}._{protocol}.{service_fqdn}".lower()

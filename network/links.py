"""Link faults of the overlay: latency, loss and partitions between nodes or zones.

`LinkFaults` holds the rules chaos tooling sets (`partition`, `latency`, `loss`, `heal`) and
answers, per connection, `decide(src_node, src_zone, dst_node, dst_zone, rng) -> LinkDecision`:
dropped (a partition cuts the link both ways; loss drops with the given probability, drawn from
the caller's seeded RNG) and the one-way delay to add (latencies of every matching rule add up).
A rule names a pair of nodes or a pair of zones; `"*"` matches any. Traffic within one node
never crosses a link and is never faulted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["LinkDecision", "LinkFaults"]


@dataclass(frozen=True)
class LinkDecision:
    dropped: bool = False
    delay: float = 0.0  # seconds, one way
    reason: str = ""


@dataclass(frozen=True)
class _Rule:
    scope: str  # "node" | "zone"
    a: str
    b: str

    def matches(self, src: tuple[str, str], dst: tuple[str, str]) -> bool:
        i = 0 if self.scope == "node" else 1
        x, y = src[i], dst[i]
        return ((self.a in ("*", x) and self.b in ("*", y))
                or (self.a in ("*", y) and self.b in ("*", x)))


class LinkFaults:
    def __init__(self) -> None:
        self._partitions: list[_Rule] = []
        self._latency: list[tuple[_Rule, float]] = []
        self._loss: list[tuple[_Rule, float]] = []

    @property
    def active(self) -> bool:
        """Whether any fault is set (callers skip per-link decisions when none is)."""
        return bool(self._partitions or self._latency or self._loss)

    def partition(self, a: str, b: str, *, scope: str = "zone") -> None:
        """Cut every link between `a` and `b` (zones, or nodes with scope="node")."""
        self._partitions.append(_rule(scope, a, b))

    def latency(self, a: str, b: str, seconds: float, *, scope: str = "zone") -> None:
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self._latency.append((_rule(scope, a, b), seconds))

    def loss(self, a: str, b: str, fraction: float, *, scope: str = "zone") -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("loss is a fraction between 0 and 1")
        self._loss.append((_rule(scope, a, b), fraction))

    def heal(self) -> None:
        self._partitions.clear()
        self._latency.clear()
        self._loss.clear()

    def decide(self, src_node: str, src_zone: str, dst_node: str, dst_zone: str,
               rng: random.Random) -> LinkDecision:
        if src_node == dst_node:
            return LinkDecision()
        src, dst = (src_node, src_zone), (dst_node, dst_zone)
        for rule in self._partitions:
            if rule.matches(src, dst):
                return LinkDecision(dropped=True, reason=f"partition {rule.a}|{rule.b}")
        delay = sum(seconds for rule, seconds in self._latency if rule.matches(src, dst))
        for rule, fraction in self._loss:
            if rule.matches(src, dst) and rng.random() < fraction:
                return LinkDecision(dropped=True, delay=delay, reason="loss")
        return LinkDecision(delay=delay)


def _rule(scope: str, a: str, b: str) -> _Rule:
    if scope not in ("node", "zone"):
        raise ValueError(f"scope is node or zone, not {scope!r}")
    return _Rule(scope, a, b)

"""PodEndpoint: a pod as the overlay network sees it -- its IP and the ports its programs
listen on. The kubelet knows it (which containers run, which programs serve); the network
layer (`kubemu.network.fabric`) delivers connections to it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PodEndpoint"]


@dataclass(frozen=True)
class PodEndpoint:
    ip: str
    namespace: str
    name: str
    ports: frozenset[int] = frozenset()  # listening ports; empty: every port (a server
    listening: bool = True               # without declared ports); False: not a server

    def accepts(self, port: int) -> bool:
        return self.listening and (not self.ports or port in self.ports)

"""Container images as the emulated runtime sees them: references, image IDs, and defaults.

No image is ever pulled. An image reference is normalised as containerd reports it in
`containerStatuses[].image` ("nginx" -> "docker.io/library/nginx:latest"); its `imageID` is a
digest derived from the reference itself (sha256 of the normalised name), so the same image
has the same ID on every node and every run. What a container runs when its spec has no
`command` depends on the image's default entrypoint, which kubemu knows by family:
- shell and interpreter images (busybox, alpine, ubuntu, python, ...) run a shell or REPL
  that exits 0 at once on a closed stdin -- as in real Kubernetes, where such a pod under
  restartPolicy Always ends in CrashLoopBackOff;
- `pause` blocks forever without listening;
- every other image (nginx, redis, postgres, anything unknown) is a long-running server.
"""

from __future__ import annotations

import hashlib

__all__ = ["normalize", "image_id", "short_name", "family", "banner", "SHELL_IMAGES"]

SHELL_IMAGES = frozenset({
    "busybox", "alpine", "ubuntu", "debian", "bash", "centos", "fedora", "rockylinux",
    "almalinux", "amazonlinux", "archlinux", "oraclelinux", "photon", "clearlinux", "leap",
    "tumbleweed", "ubi", "ubi-minimal", "ubi8", "ubi9", "toolbox", "netshoot", "dnsutils",
    "jessie-dnsutils", "python", "node", "ruby", "perl", "php", "golang", "rust", "openjdk",
    "eclipse-temurin", "amazoncorretto",
})
"""Images whose default command is a shell or REPL: it exits 0 at once without a TTY."""

_PAUSE = frozenset({"pause"})

_BANNERS = {
    "nginx": "/docker-entrypoint.sh: Configuration complete; ready for start up",
    "httpd": "AH00094: Command line: 'httpd -D FOREGROUND'",
    "redis": "* Ready to accept connections tcp",
    "postgres": "LOG:  database system is ready to accept connections",
    "mysql": "[Server] /usr/sbin/mysqld: ready for connections.",
    "mariadb": "[Note] mariadbd: ready for connections.",
    "mongo": "Waiting for connections",
    "rabbitmq": "Server startup complete",
    "memcached": "",
    "traefik": "Starting provider aggregator",
    "envoy": "starting main dispatch loop",
    "coredns": "CoreDNS-1.11.3",
}


def normalize(image: str) -> str:
    """The fully qualified reference: docker.io/library/nginx:latest, quay.io/x/y:1 ..."""
    name, at, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
        if "/" not in path:
            path = "library/" + path
    last = path.rsplit("/", 1)[-1]
    if at:
        return f"{domain}/{path}@{digest}"
    if ":" not in last:
        path += ":latest"
    return f"{domain}/{path}"


def image_id(image: str) -> str:
    """A stable digest reference for the image ("docker.io/library/nginx@sha256:...")."""
    ref = normalize(image)
    if "@" in ref:
        return ref
    repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    return f"{repo}@sha256:{hashlib.sha256(ref.encode()).hexdigest()}"


def short_name(image: str) -> str:
    """The repository's last path component without tag or digest: "nginx", "pause"."""
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[0].lower()


def family(image: str) -> str:
    """"shell", "pause" or "server": what the image runs when the spec gives no command."""
    short = short_name(image)
    name = image.partition("@")[0].partition(":")[0].lower()
    if short in SHELL_IMAGES or name in SHELL_IMAGES:
        return "shell"
    if short in _PAUSE:
        return "pause"
    return "server"


def banner(image: str, ports: list[int]) -> str:
    """The first log line of a server image (upstream's own line for well-known images)."""
    short = short_name(image)
    if short in _BANNERS:
        return _BANNERS[short]
    where = ", ".join(f":{p}" for p in ports) if ports else "every port"
    return f"kubemu: {image} serving on {where}"

"""Where a local cluster keeps its files: the kubeconfig `kubemu up` writes, `cluster.json`.

Every cluster owns one directory, `<home>/<name>/` (home is `$KUBEMU_HOME`, else `~/.kubemu`):
the store's data (`store/`), `kubeconfig`, and `cluster.json`, the record of the process
serving the cluster (pid, server URL, token, start time; written by bootstrap.py). A record
whose pid is dead (or a zombie) is stale: no cluster runs. These helpers import no Ray, so
`kubemu down` and the object commands start fast. The kubeconfig names cluster, user and
context all `kubemu-<name>`, sets current-context, and carries the bearer token and the
cluster's CA inline (kubectl sends a token only to an https server it verifies). Files holding
the token are written owner-only (0600) and atomically (a temp file renamed over the old
one), so a reader never sees half a file and nobody else ever sees the token.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import yaml

__all__ = ["home_dir", "cluster_dir", "kubeconfig_path", "context_name", "kubeconfig",
           "write_kubeconfig", "kubeconfig_ca", "write_private", "cluster_record_path",
           "read_cluster_record", "running_cluster", "remove_cluster_files", "pid_alive"]


def home_dir(home: str | os.PathLike | None = None) -> Path:
    """`home` if given, else `$KUBEMU_HOME`, else `~/.kubemu`."""
    chosen = home if home is not None else (os.environ.get("KUBEMU_HOME") or "~/.kubemu")
    return Path(chosen).expanduser()


def cluster_dir(name: str, *, home: str | os.PathLike | None = None) -> Path:
    return home_dir(home) / name


def kubeconfig_path(name: str, *, home: str | os.PathLike | None = None) -> Path:
    return cluster_dir(name, home=home) / "kubeconfig"


def context_name(name: str) -> str:
    """The name of the kubeconfig's cluster, user and context for cluster `name`."""
    return f"kubemu-{name}"


def kubeconfig(name: str, *, server: str, token: str, ca_pem: bytes | None = None) -> dict:
    """A `v1 Config` with one cluster (its CA inline when given), one token user and one
    current context."""
    ctx = context_name(name)
    cluster: dict = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": ctx, "cluster": cluster}],
        "users": [{"name": ctx, "user": {"token": token}}],
        "contexts": [{"name": ctx, "context": {"cluster": ctx, "user": ctx}}],
        "current-context": ctx,
    }


def write_kubeconfig(path: str | os.PathLike, name: str, *, server: str, token: str,
                     ca_pem: bytes | None = None) -> Path:
    """Write the kubeconfig of cluster `name` to `path` (mode 0600) and return the path."""
    text = yaml.safe_dump(kubeconfig(name, server=server, token=token, ca_pem=ca_pem),
                          sort_keys=False)
    return write_private(path, text)


def kubeconfig_ca(path: str | os.PathLike) -> bytes | None:
    """The CA (PEM) of the current context's cluster: `certificate-authority-data`, or the
    file `certificate-authority` names (relative to the kubeconfig); None without either."""
    path = Path(path)
    config = yaml.safe_load(path.read_text()) or {}
    current = config.get("current-context")
    contexts = config.get("contexts") or []
    context = next((c.get("context") or {} for c in contexts
                    if c.get("name") == current or len(contexts) == 1), {})
    cluster = next((c.get("cluster") or {} for c in config.get("clusters") or ()
                    if c.get("name") == context.get("cluster")), {})
    if cluster.get("certificate-authority-data"):
        return base64.b64decode(cluster["certificate-authority-data"])
    if cluster.get("certificate-authority"):
        return (path.parent / cluster["certificate-authority"]).read_bytes()
    return None


def write_private(path: str | os.PathLike, text: str) -> Path:
    """Replace `path` atomically with `text`, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # a leftover temp file may have had other bits
        out.write(text.encode())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path


def cluster_record_path(name: str, *, home: str | os.PathLike | None = None) -> Path:
    return cluster_dir(name, home=home) / "cluster.json"


def read_cluster_record(name: str, *, home: str | os.PathLike | None = None) -> dict | None:
    """The contents of `cluster.json`, or None when there is none (or it is unreadable)."""
    try:
        record = json.loads(cluster_record_path(name, home=home).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def running_cluster(name: str, *, home: str | os.PathLike | None = None) -> dict | None:
    """The record of cluster `name` if the process that wrote it is still alive."""
    record = read_cluster_record(name, home=home)
    if record is None or not pid_alive(int(record.get("pid") or 0)):
        return None
    return record


def remove_cluster_files(name: str, *, home: str | os.PathLike | None = None) -> None:
    """Remove the kubeconfig and cluster.json a dead process left behind (the data stays)."""
    for path in (cluster_record_path(name, home=home), kubeconfig_path(name, home=home)):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, exited but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS): trust kill()
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]

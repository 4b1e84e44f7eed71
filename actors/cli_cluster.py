"""Running a CLI command against a live cluster from another process: `kubemu net` and
`kubemu chaos` find the cluster (its cluster.json next to the kubeconfig, or the kubeconfig's
`kubemu-<name>` context), open an API client, join the cluster's Ray, run the command's body
with the API object it works through (`Overlay`, `Chaos`), and turn failures into one line and
an exit code (the full traceback only with --debug).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

import click

__all__ = ["run_on_cluster"]


def run_on_cluster(name: str, kubeconfig_file: str | None, make: Callable[[str, Any], Any],
                   body: Callable[[Any], Awaitable[Any]], *, error: type[Exception],
                   exit_codes: dict[type[Exception], int] | None = None) -> NoReturn:
    """Exit with `body(make(cluster, client))`'s code: an int, or 0 after printing a returned
    string. `error` is the command's own failure (also raised when Ray cannot be joined);
    `exit_codes` map other exceptions to codes of their own, printed as "error: ..."."""
    import aiohttp
    import ray
    from kubemu.actors.cli import _debug, _open_client
    from kubemu.actors.cli_objects import CliError, error_line
    from kubemu.actors.net import join_ray
    from kubemu.cluster.api.errors import ApiError

    def go() -> int:
        cluster, pid = _cluster_of(name, kubeconfig_file)
        client = _open_client(name, kubeconfig_file)  # fails fast without a cluster
        try:
            joined = join_ray(cluster, pid=pid)  # in the main thread: Ray sets signals
        except Exception as exc:
            asyncio.run(client.close())
            raise error(f'cannot join the Ray of cluster "{cluster}": '
                        f"{str(exc).strip().splitlines()[0]}") from exc

        async def main() -> int:
            async with client:
                out = await body(make(cluster, client))
            if isinstance(out, str):
                click.echo(out)
                return 0
            return int(out or 0)
        try:
            return asyncio.run(main())
        finally:
            if joined:
                ray.shutdown()

    special = tuple(exit_codes or {})
    try:
        code = go()
    except special as exc:
        if _debug():
            raise
        click.echo(f"error: {exc}", err=True)
        code = next(c for kind, c in (exit_codes or {}).items() if isinstance(exc, kind))
    except (error, ValueError, ConnectionError, CliError) as exc:
        if _debug():
            raise
        click.echo(f"error: {str(exc).strip().splitlines()[0]}", err=True)
        code = 1
    except (TimeoutError, ApiError, aiohttp.ClientError) as exc:
        if _debug():
            raise
        click.echo(error_line(exc), err=True)
        code = 1
    sys.exit(code)


def _cluster_of(name: str, kubeconfig_file: str | None) -> tuple[str, int | None]:
    """(cluster name, pid serving it) from cluster.json next to the kubeconfig, else the
    kubeconfig's context (`kubemu-<name>`); pid None when unknown."""
    import yaml
    from kubemu.actors.cli_objects import CliError
    from kubemu.actors.kubeconfig import kubeconfig_path, pid_alive

    path = Path(kubeconfig_file) if kubeconfig_file else kubeconfig_path(name)
    try:
        record = json.loads((path.parent / "cluster.json").read_text())
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict) and record.get("name"):
        pid = int(record.get("pid") or 0)
        if not pid_alive(pid):
            raise CliError(f'cluster "{record["name"]}" is not running (its process {pid} '
                           f"is gone)")
        return record["name"], pid
    if not kubeconfig_file:
        return name, None
    try:
        context = (yaml.safe_load(path.read_text()) or {}).get("current-context") or ""
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"invalid kubeconfig {path}: {exc}") from exc
    if not context.startswith("kubemu-"):
        raise CliError(f"{path} is not a kubemu cluster's kubeconfig (context {context!r})")
    return context.removeprefix("kubemu-"), None

"""The `kubemu` command line: click commands, rich output, one-line errors.

Every command maps failures to a one-line message and a non-zero exit code; `--debug` shows
the traceback instead. Commands that need a cluster start or find one through
`kubemu.actors.runtime`; nothing here holds cluster logic.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile

import click
from rich.console import Console

console = Console()


class _Group(click.Group):
    """Turns any uncaught exception into one line (tracebacks only with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the edge where errors become one line
            if ctx.obj and ctx.obj.get("debug"):
                raise
            console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
            sys.exit(1)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """kubemu: a Kubernetes cluster emulator on Ray."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING)


@main.command()
@click.option("--replicas", type=click.IntRange(1, 7), default=3, show_default=True,
              help="Store replicas (Raft members).")
@click.option("--writes", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Writes to make before and after the leader is killed.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where replicas keep their WAL and snapshots (default: a temp dir).")
def demo(replicas: int, writes: int, data_dir: str | None) -> None:
    """Start a replicated store on local Ray, write, watch, kill the leader, verify."""
    from kubemu.actors.demo import run_store_demo

    with tempfile.TemporaryDirectory(prefix="kubemu-demo-") as tmp:
        ok = asyncio.run(run_store_demo(console, replicas=replicas, writes=writes,
                                        data_dir=data_dir or tmp))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

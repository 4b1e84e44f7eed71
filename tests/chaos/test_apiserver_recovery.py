"""Kill -9 an API server: Ray restarts it on the same port, kubectl keeps working, and an
informer watching Pods sees every pod created before, during and after the kill."""

from __future__ import annotations

import asyncio

import ray

from tests.chaos.kill import actor, crash, until

# Pods nobody schedules (no scheduler has this name): objects to watch, no load on the nodes.
_UNSCHEDULED = "kubemu-chaos-nobody"


def test_killed_apiservers_restart_and_a_watching_informer_misses_no_pod(api_cluster, ns):
    servers = [actor(api_cluster, f"apiserver-{i}") for i in (1, 2)]
    seen, created = asyncio.run(_scenario(api_cluster, ns, servers))
    assert created <= seen, f"the informer missed {sorted(created - seen)}"
    listed = api_cluster.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split()
    assert {name.removeprefix("pod/") for name in listed} == created


async def _scenario(api_cluster, ns: str, servers: list) -> tuple[set[str], set[str]]:
    from kubemu.cluster.client.informer import Informer

    watcher, writer = api_cluster.client(), api_cluster.client()
    seen: set[str] = set()
    created: set[str] = set()
    informer = Informer(watcher, "v1", "Pod", namespace=ns)
    informer.add_handler(on_add=lambda pod: seen.add(pod["metadata"]["name"]))
    task = asyncio.ensure_future(informer.run())
    try:
        assert await informer.wait_synced(timeout=60)
        created |= await _create(writer, ns, "before", 5)
        # Each replica in turn, so the one serving the informer's watch surely dies; the
        # other one serves meanwhile (SO_REUSEPORT spreads new connections over the live).
        for index, server in enumerate(servers, 1):
            old = (await server.start.remote())["pid"]
            crash(old)
            created |= await _create(writer, ns, f"during-{index}", 5)
            await until(lambda s=server, o=old: _serving_anew(s, o), timeout=120,
                        what=f"apiserver-{index} restarted")
        created |= await _create(writer, ns, "after", 5)
        await until(lambda: _true(created <= seen), timeout=60,
                    what="the informer seeing every pod")
        return set(seen), created
    finally:
        informer.stop()
        await asyncio.gather(task, return_exceptions=True)
        await watcher.close()
        await writer.close()


async def _create(client, ns: str, prefix: str, count: int) -> set[str]:
    """Create `count` pods, retrying each through connection resets until it exists."""
    from kubemu.cluster.api.errors import AlreadyExists

    names = set()
    for i in range(count):
        name = f"{prefix}-{i}"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"schedulerName": _UNSCHEDULED,
                        "containers": [{"name": "c", "image": "nginx"}]}}

        async def made(pod=pod) -> bool:
            try:
                await client.create(pod, namespace=ns)
            except AlreadyExists:
                pass  # an attempt whose answer was lost did create it
            except Exception:  # noqa: BLE001 - a reset connection: try again
                return False
            return True

        await until(made, timeout=60, what=f"pod {name} created")
        names.add(name)
    return names


async def _serving_anew(server, old_pid: int) -> bool:
    try:
        answer = await asyncio.wait_for(server.start.remote(), 15)
    except (ray.exceptions.RayError, TimeoutError):
        return False
    return answer["pid"] != old_pid


async def _true(value: bool) -> bool:
    return value

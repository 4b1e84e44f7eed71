"""Chaos scenarios: a timed sequence of faults, each step followed by checked invariants.

A scenario file (YAML) names steps; each step starts `at` N seconds from the scenario's
start, or (the default) once the previous step is done, runs one action, then checks the
invariants it lists until they all hold or its `deadline` (seconds, default 60) passes. The
time from the action's end to the first all-pass is the step's time to recover.

    name: store leader failover
    steps:
    - load: {writes: 200}            # writer + reader + watch recorder from here on
    - wait: 3
    - kill: {component: store, leader: true}
      check: [writes, watch]
      deadline: 30
    - isolate: zone-a
      check: [deployments]
    - heal: {}
      check: [deployments, dns, bindings]

Actions: `kill` (a component or actor name, or {component|node|host, leader, restart}),
`partition` ({zones: [a, b]} | {nodes: [a, b]}), `isolate` (a zone, or {zone|node}),
`latency` / `loss` ({zone|zones|node|nodes, value: 50ms | 5%}), `heal`, `wait` (seconds or
"2s"), `load` ({writes: per second, namespace}), `apply` (a list of objects). Invariants:
`writes`, `watch` (need `load`), `deployments` (optionally "deployments:<namespace>"),
`dns`, `bindings`, `actors` (every actor answers); see chaos_writes and
chaos_invariants. The bindings recorder runs for the whole
scenario; link faults are healed when the scenario ends, however it ends.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubemu.actors.chaos import Chaos
from kubemu.actors.chaos_invariants import (
    ActorsRunning,
    DeploymentsReady,
    DnsAnswers,
    NoPodBoundTwice,
    Verdict,
)
from kubemu.actors.chaos_writes import AckedWrites, WatchComplete
from kubemu.cluster.api.errors import AlreadyExists

__all__ = ["ACTIONS", "INVARIANTS", "Scenario", "ScenarioError", "Step", "StepResult", "run"]

ACTIONS = ("kill", "partition", "isolate", "latency", "loss", "heal", "wait", "load", "apply")
INVARIANTS = ("writes", "watch", "deployments", "dns", "bindings", "actors")
DEFAULT_DEADLINE = 60.0
_RETRY_SECONDS = 0.5
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0}


class ScenarioError(ValueError):
    """A scenario file that cannot run, with the step and field at fault."""


@dataclass(frozen=True)
class Step:
    action: str
    args: Any
    at: float | None = None  # seconds from the start; None: after the previous step
    check: tuple[str, ...] = ()
    deadline: float = DEFAULT_DEADLINE

    def describe(self) -> str:
        if isinstance(self.args, dict):
            text = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                            for k, v in self.args.items())
        elif isinstance(self.args, list):
            text = f"{len(self.args)} objects"
        else:
            text = "" if self.args is None else str(self.args)
        return f"{self.action} {text}".strip()


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        return cls.parse(Path(path).read_text(), default_name=Path(path).stem)

    @classmethod
    def parse(cls, text: str, *, default_name: str = "scenario") -> Scenario:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"not YAML: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
            raise ScenarioError("a scenario is a mapping with a list of `steps`")
        return cls(str(doc.get("name") or default_name),
                   tuple(_step(i + 1, raw) for i, raw in enumerate(doc["steps"])))


@dataclass
class StepResult:
    step: int
    action: str
    invariant: str  # "" when the step checks nothing
    ok: bool
    detail: str
    recovered: float | None = None  # seconds from the action's end to all checks passing
    error: str = ""  # the action itself failed


@dataclass
class _Run:
    chaos: Chaos
    client: Any
    cluster: str
    writes: AckedWrites | None = None
    watch: WatchComplete | None = None
    bindings: NoPodBoundTwice | None = None
    faulted: bool = False
    started: list[Any] = field(default_factory=list)


async def run(scenario: Scenario, chaos: Chaos, *,
              report: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    """Run `scenario` against `chaos`'s cluster; every step's results, in order."""
    state = _Run(chaos, chaos.client, chaos.cluster)
    state.bindings = NoPodBoundTwice(chaos.client)
    await state.bindings.start()
    state.started.append(state.bindings)
    loop = asyncio.get_running_loop()
    began = loop.time()
    results: list[StepResult] = []
    try:
        for index, step in enumerate(scenario.steps, 1):
            if step.at is not None and (ahead := began + step.at - loop.time()) > 0:
                await asyncio.sleep(ahead)  # the scenario's schedule
            try:
                await _act(state, step)
            except Exception as exc:  # noqa: BLE001 - a failed action is a result
                results.append(StepResult(index, step.describe(), "", False, "",
                                          error=f"{type(exc).__name__}: {exc}"))
                if report:
                    report(results[-1])
                continue
            for result in await _check(state, index, step):
                results.append(result)
                if report:
                    report(result)
    finally:
        if state.faulted:
            await chaos.heal()
        for part in reversed(state.started):
            await part.stop()
    return results


async def _act(state: _Run, step: Step) -> None:
    chaos, args = state.chaos, step.args
    if step.action == "kill":
        args = args if isinstance(args, dict) else {"component": str(args)}
        restart = bool(args.get("restart", True))
        if "node" in args:
            await chaos.kill_node(str(args["node"]), restart=bool(args.get("restart", False)))
        elif "host" in args:
            await chaos.kill_host(str(args["host"]))
        else:
            await chaos.kill(str(args["component"]), leader=bool(args.get("leader")),
                             restart=restart)
    elif step.action in ("partition", "isolate", "latency", "loss"):
        state.faulted = True
        if step.action == "isolate":
            where = args if isinstance(args, dict) else {"zone": str(args)}
            await chaos.isolate(where.get("zone"), node=where.get("node"))
        elif step.action == "partition":
            await chaos.partition(**_pairs(args))
        else:
            value = _value(args.get("value"), step.action)
            where = {k: v for k, v in _pairs(args).items()}
            where.update({k: str(args[k]) for k in ("zone", "node") if k in args})
            await getattr(chaos, step.action)(value, **where)
    elif step.action == "heal":
        await chaos.heal()
    elif step.action == "wait":
        await asyncio.sleep(_value(args, "wait"))  # the scenario's schedule
    elif step.action == "load":
        await _load(state, args or {})
    elif step.action == "apply":
        for obj in args:
            try:
                await state.client.create(obj, namespace=(obj.get("metadata") or {}).get(
                    "namespace"))
            except AlreadyExists:
                pass


async def _load(state: _Run, args: dict) -> None:
    if state.writes is not None:
        return
    state.writes = AckedWrites(state.client, rate=float(args.get("writes", 200)),
                               namespace=str(args.get("namespace", "chaos-writes")))
    await state.writes.start()
    state.started.append(state.writes)
    state.watch = WatchComplete(state.writes)
    await state.watch.start()
    state.started.append(state.watch)


async def _check(state: _Run, index: int, step: Step) -> list[StepResult]:
    if not step.check:
        return [StepResult(index, step.describe(), "", True, "done")]
    loop = asyncio.get_running_loop()
    done_at = loop.time()
    deadline = done_at + step.deadline
    while True:
        verdicts = [await _verdict(state, name) for name in step.check]
        if all(v.ok for v in verdicts) or loop.time() >= deadline:
            break
        await asyncio.sleep(_RETRY_SECONDS)  # invariants are polled until they hold
    recovered = loop.time() - done_at if all(v.ok for v in verdicts) else None
    return [StepResult(index, step.describe(), v.invariant, v.ok, v.detail,
                       recovered if v.ok else None) for v in verdicts]


async def _verdict(state: _Run, name: str) -> Verdict:
    kind, _, arg = name.partition(":")
    try:
        if kind in ("writes", "watch"):
            part = state.writes if kind == "writes" else state.watch
            if part is None:
                return Verdict(kind, False, "no `load` step started the writer")
            return await part.check()
        if kind == "deployments":
            return await DeploymentsReady(state.client, namespace=arg or None).check()
        if kind == "dns":
            return await DnsAnswers(state.cluster).check()
        if kind == "actors":
            return await ActorsRunning(state.cluster).check()
        assert state.bindings is not None
        return await state.bindings.check()
    except Exception as exc:  # noqa: BLE001 - the check could not run (API down)
        return Verdict(kind, False, f"check failed: {type(exc).__name__}: {exc}")


def _step(index: int, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise ScenarioError(f"step {index}: a mapping, not {raw!r}")
    actions = [k for k in raw if k in ACTIONS]
    unknown = [k for k in raw if k not in (*ACTIONS, "at", "after", "check", "deadline")]
    if len(actions) != 1 or unknown:
        raise ScenarioError(f"step {index}: exactly one action of {', '.join(ACTIONS)}"
                            + (f"; unknown keys {', '.join(map(str, unknown))}" if unknown
                               else ""))
    check = raw.get("check") or ()
    check = (check,) if isinstance(check, str) else tuple(map(str, check))
    for name in check:
        if name.partition(":")[0] not in INVARIANTS:
            raise ScenarioError(f"step {index}: unknown invariant {name!r} "
                                f"(one of {', '.join(INVARIANTS)})")
    if "at" in raw and raw.get("after"):
        raise ScenarioError(f"step {index}: `at` or `after`, not both")
    action = actions[0]
    args = raw[action]
    if action == "apply" and not isinstance(args, list):
        raise ScenarioError(f"step {index}: apply takes a list of objects")
    try:
        at = None if raw.get("at") is None else float(raw["at"])
        deadline = float(raw.get("deadline", DEFAULT_DEADLINE))
        if action == "wait":
            _value(args, "wait")
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"step {index}: {exc}") from None
    return Step(action, args, at, check, deadline)


def _pairs(args: dict) -> dict:
    out = {}
    for key in ("zones", "nodes"):
        if key in args:
            value = args[key]
            pair = value.split(",") if isinstance(value, str) else list(value)
            out[key] = tuple(str(p).strip() for p in pair)
    return out


def _value(value: Any, what: str) -> float:
    """50ms / 0.2s / 2 (seconds), 5% / 0.05 (fractions)."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.endswith("%"):
        return float(text[:-1]) / 100
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m)?", text)
    if not match:
        raise ValueError(f"{what}: {value!r} is not a number, duration or percentage")
    return float(match[1]) * _UNITS[match[2] or "s"]

"""Linearizability checker for single-key register histories (Wing–Gong / Lowe, memoised).

A history is a list of `HistoryOp`: each op was invoked at a global sequence number `call` and
completed at `ret` (None = indeterminate: the client gave up, so the op may have taken effect at
any point after `call`, or never). Ops touch one key each, so the history is checked one key at
a time (P-compositionality: a history is linearizable iff every per-key sub-history is).

Per key the model is the register `(value, version)`: value None means the key is absent
(version 0). Ops: `put` writes; `delete` removes (its output `deleted` must match); `txn`
compares (value, version, or mod_revision — carried with the value it was read with) and puts
on success (its output `succeeded` must match); `get` must return exactly the state.

The search is Lowe's "just-in-time linearization" over a doubly linked list of call/return
entries, with a cache of (linearized set, model state) so no configuration is explored twice
(Knossos/porcupine style). An indeterminate op's return sits at +infinity; an indeterminate
`get` constrains nothing and is dropped. On failure the key's history is minimised: cut to the
shortest failing prefix, then determinate ops are weakened one at a time (a read is dropped, a
write becomes indeterminate) while it still fails; weakening only adds linearizations, so the
remaining determinate ops are a genuine contradiction. `check_revisions` adds cross-key checks
on the global revision counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

State = tuple[bytes | None, int]
INITIAL: State = (None, 0)
_INF = float("inf")


@dataclass(slots=True)
class HistoryOp:
    """One client operation on one key, as the client saw it."""

    client: int
    kind: str  # "put" | "delete" | "txn" | "get"
    key: str
    call: int  # global sequence number at invocation
    ret: int | None  # at completion; None = indeterminate
    value: bytes | None = None  # put/txn: the value written
    compare: tuple | None = None  # txn: ("value", v) | ("version", n) | ("mod", rev, v)
    output: object = None  # delete: deleted count; txn: succeeded; get: (v, version, mod_rev)|None
    revision: int = 0  # the revision the store reported (write's revision / read's header)
    at_revision: int = 0  # get_at / compact: the revision asked for (ops outside the model)
    request_id: str = ""
    call_step: int = 0
    ret_step: int | None = None

    @property
    def determinate(self) -> bool:
        return self.ret is not None

    @property
    def is_write(self) -> bool:
        return self.kind != "get"


@dataclass(slots=True)
class CheckResult:
    ok: bool
    key: str = ""
    report: str = ""
    explored: int = 0
    inconclusive: list[str] = field(default_factory=list)  # keys whose search hit the budget


def check_history(history: Iterable[HistoryOp], *, budget: int = 2_000_000) -> CheckResult:
    """Check every key's sub-history; the first non-linearizable key is reported, minimised."""
    by_key: dict[str, list[HistoryOp]] = {}
    for op in history:
        by_key.setdefault(op.key, []).append(op)
    explored = 0
    inconclusive: list[str] = []
    for key in sorted(by_key):
        ok, n = check_key(by_key[key], budget=budget)
        explored += n
        if ok is None:
            inconclusive.append(key)
        elif not ok:
            essential, context = minimise(by_key[key])
            return CheckResult(False, key, format_failure(key, essential, context), explored,
                               inconclusive)
    return CheckResult(True, explored=explored, inconclusive=inconclusive)


def check_key(ops: Sequence[HistoryOp], *, init: State = INITIAL,
              budget: int = 2_000_000) -> tuple[bool | None, int]:
    """(linearizable?, configurations explored); None when the budget ran out."""
    ops = [op for op in ops if op.determinate or op.is_write]
    if not any(op.determinate for op in ops):
        return True, 0
    head = _build_list(ops)
    remaining = sum(1 for op in ops if op.determinate)
    state = init
    linearized = 0
    stack: list[tuple[_Node, State, int]] = []
    cache: set[tuple[int, State]] = set()
    entry = head.next
    while remaining:
        assert entry is not None
        if entry.is_call:
            new_state = apply(state, entry.op)
            if new_state is not None:
                new_lin = linearized | (1 << entry.index)
                memo = (new_lin, new_state)
                if memo not in cache:
                    cache.add(memo)
                    if len(cache) > budget:
                        return None, len(cache)
                    stack.append((entry, state, linearized))
                    state, linearized = new_state, new_lin
                    remaining -= entry.op.determinate
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if not entry.op.determinate:
                break  # only indeterminate ops left in reach: they may all never happen
            if not stack:
                return False, len(cache)
            entry, state, linearized = stack.pop()
            remaining += entry.op.determinate
            _unlift(entry)
            entry = entry.next
    return True, len(cache)


def apply(state: State, op: HistoryOp) -> State | None:
    """The model's transition for `op`, or None when its recorded output contradicts `state`."""
    value, version = state
    kind = op.kind
    if kind == "put":
        return (op.value, version + 1)
    if kind == "get":
        out = op.output
        if out is None:
            return state if value is None else None
        return state if (out[0], out[1]) == state else None
    if kind == "delete":
        if op.determinate and op.output != (0 if value is None else 1):
            return None
        return INITIAL
    if kind == "txn":
        hit = compare_holds(state, op.compare)
        if op.determinate and bool(op.output) != hit:
            return None
        return (op.value, version + 1) if hit else state
    raise ValueError(f"unknown op kind {kind!r}")


def compare_holds(state: State, compare: tuple | None) -> bool:
    value, version = state
    if compare is None:
        return True
    target = compare[0]
    if target == "value":
        return value is not None and value == compare[1]
    if target == "version":
        return version == compare[1]
    if target == "mod":  # mod_revision m, read together with value v: equal iff the same write
        return value is None if compare[1] == 0 else value == compare[2]
    raise ValueError(f"unknown compare target {target!r}")


# -- minimisation and report ----------------------------------------------------------------------


def minimise(ops: Sequence[HistoryOp], *, budget: int = 400_000
             ) -> tuple[list[HistoryOp], list[HistoryOp]]:
    """(essential determinate ops, other writes that may linearize before the last of them).

    Three sound reductions, each keeping the history non-linearizable: cut it at the earliest
    completion where it already fails (a prefix: ops still running there become indeterminate),
    drop reads, then weaken completed writes to indeterminate. The last two stop when `budget`
    (search configurations in total) runs out. Both lists hold the ops as recorded; a context
    op that completed had its result weakened away (the contradiction stands without it)."""
    current = [op for op in ops if op.determinate or op.is_write]
    original = {id(op): op for op in current}

    def weakened(op: HistoryOp) -> HistoryOp:
        weak = replace(op, ret=None, ret_step=None, output=None)
        original[id(weak)] = original[id(op)]
        return weak

    def prefix(cut: int) -> list[HistoryOp]:
        out = []
        for op in current:
            if op.call > cut:
                continue
            if op.ret is not None and op.ret > cut:
                if not op.is_write:
                    continue
                op = weakened(op)
            out.append(op)
        return out

    def fails(trial: list[HistoryOp]) -> bool:
        nonlocal budget
        if budget <= 0:
            return False
        ok, explored = check_key(trial, budget=min(budget, 100_000))
        budget -= explored
        return ok is False

    cuts = sorted(op.ret for op in current if op.determinate)
    lo, hi = 0, len(cuts) - 1  # the full history (cut at the last completion) fails
    while lo < hi:
        mid = (lo + hi) // 2
        if check_key(prefix(cuts[mid]), budget=100_000)[0] is False:
            hi = mid
        else:
            lo = mid + 1
    if cuts:
        current = prefix(cuts[lo])
    for writes in (False, True):
        for i in reversed(range(len(current))):
            op = current[i]
            if not op.determinate or op.is_write != writes:
                continue
            trial = list(current)
            if writes:
                trial[i] = weakened(op)
            else:
                del trial[i]
            if fails(trial):
                current = trial
    essential = [op for op in current if op.determinate]
    horizon = max((op.ret for op in essential), default=0)
    context = [original[id(op)] for op in current if not op.determinate and op.call < horizon]
    return essential, context


def format_failure(key: str, essential: Sequence[HistoryOp], context: Sequence[HistoryOp]) -> str:
    lines = [f"history of key {key!r} is not linearizable; the ops marked * contradict each "
             f"other (the others are writes that may linearize among them; ~ = its result is "
             f"not needed for the contradiction):"]
    chosen = {id(op) for op in essential}
    for op in sorted([*essential, *context], key=lambda o: o.call):
        mark = "*" if id(op) in chosen else ("~" if op.determinate else " ")
        lines.append(f"  {mark} {format_op(op)}")
    return "\n".join(lines)


def format_op(op: HistoryOp) -> str:
    when = f"[step {op.call_step} -> {'?' if op.ret_step is None else op.ret_step}]"
    if op.kind == "put":
        what = f"put({op.value!r})"
        out = "ok" if op.determinate else "?"
    elif op.kind == "delete":
        what = "delete()"
        out = f"deleted={op.output}" if op.determinate else "?"
    elif op.kind == "txn":
        what = f"txn(if {_format_compare(op.compare)} then put({op.value!r}))"
        out = f"succeeded={op.output}" if op.determinate else "?"
    elif op.kind == "get":
        what = "get()"
        out = "absent" if op.output is None else f"{op.output[0]!r} version={op.output[1]}"
    else:  # ops outside the register model
        arg = f"{op.value!r}" if op.value is not None else ""
        if op.at_revision:
            arg = f"revision={op.at_revision}"
        what = f"{op.kind}({arg})"
        out = "ok" if op.output is None else f"{op.output!r}"
        out = out if op.determinate else "?"
    rev = f" rev={op.revision}" if op.determinate and op.revision else ""
    key = f" {op.key!r}" if op.key else ""
    return f"{when} client {op.client}{key} {what} -> {out}{rev} (id {op.request_id})"


def _format_compare(compare: tuple | None) -> str:
    if compare is None:
        return "true"
    if compare[0] == "mod":
        return f"mod_revision=={compare[1]} (value {compare[2]!r})"
    return f"{compare[0]}=={compare[1]!r}"


# -- cross-key revision checks --------------------------------------------------------------------


def check_revisions(history: Iterable[HistoryOp]) -> list[str]:
    """Global revision facts that per-key checking cannot see; returns violations.

    - a revision names one write: (key, value) or (key, delete) — never two different ones;
    - a value (unique per write) is only ever seen with one mod_revision;
    - real time: if A completed before B was invoked, rev(A) <= rev(B), strictly when both
      changed the store (ops outside the register model, such as reads in the past or leased
      puts, take part in this check when they report a revision).
    """
    errors: list[str] = []
    by_rev: dict[int, tuple] = {}
    by_value: dict[tuple[str, bytes], int] = {}

    def note(rev: int, what: tuple, op: HistoryOp) -> None:
        seen = by_rev.setdefault(rev, what)
        if seen != what:
            errors.append(f"revision {rev} names two writes: {seen} and {what} ({format_op(op)})")
        if what[1] == "put":
            got = by_value.setdefault((what[0], what[2]), rev)
            if got != rev:
                errors.append(f"value {what[2]!r} of key {what[0]!r} seen with mod_revision "
                              f"{got} and {rev} ({format_op(op)})")

    done = [op for op in history if op.determinate and op.revision]
    for op in done:
        if op.kind == "put" or (op.kind == "txn" and op.output):
            note(op.revision, (op.key, "put", op.value), op)
        elif op.kind == "delete" and op.output:
            note(op.revision, (op.key, "delete"), op)
        elif op.kind == "get" and op.output is not None and len(op.output) > 2:
            note(op.output[2], (op.key, "put", op.output[0]), op)
    errors.extend(_check_real_time_revisions(done))
    return errors


def _changed(op: HistoryOp) -> bool:
    if op.kind == "lease_put":
        return op.output is None  # not an error code
    return op.kind == "put" or (op.kind in ("txn", "delete") and bool(op.output))


def _check_real_time_revisions(done: Sequence[HistoryOp]) -> list[str]:
    errors: list[str] = []
    by_ret = sorted(done, key=lambda o: o.ret)
    best_any: HistoryOp | None = None  # highest revision among ops completed so far
    best_write: HistoryOp | None = None
    i = 0
    for op in sorted(done, key=lambda o: o.call):
        while i < len(by_ret) and by_ret[i].ret < op.call:
            prev = by_ret[i]
            if best_any is None or prev.revision > best_any.revision:
                best_any = prev
            if _changed(prev) and (best_write is None or prev.revision > best_write.revision):
                best_write = prev
            i += 1
        if best_any is not None and op.revision < best_any.revision:
            errors.append(f"revision went back in real time: {format_op(best_any)} completed "
                          f"before {format_op(op)} was invoked")
        if (_changed(op) and best_write is not None
                and op.revision <= best_write.revision):
            errors.append(f"write revision not after an earlier write: {format_op(best_write)} "
                          f"completed before {format_op(op)} was invoked")
    return errors


# -- the linked list of call/return entries ------------------------------------------------------


class _Node:
    __slots__ = ("op", "index", "is_call", "match", "prev", "next")

    def __init__(self, op: HistoryOp | None, index: int, is_call: bool) -> None:
        self.op = op
        self.index = index
        self.is_call = is_call
        self.match: _Node | None = None
        self.prev: _Node | None = None
        self.next: _Node | None = None


def _build_list(ops: Sequence[HistoryOp]) -> _Node:
    events: list[tuple[float, int, _Node]] = []
    for i, op in enumerate(ops):
        call = _Node(op, i, True)
        ret = _Node(op, i, False)
        call.match = ret
        events.append((op.call, 0, call))
        events.append((_INF if op.ret is None else op.ret, 1, ret))
    events.sort(key=lambda e: (e[0], e[1], e[2].index))
    head = _Node(None, -1, False)
    prev = head
    for _, _, node in events:
        prev.next = node
        node.prev = prev
        prev = node
    return head


def _lift(call: _Node) -> None:
    call.prev.next = call.next
    if call.next is not None:
        call.next.prev = call.prev
    ret = call.match
    ret.prev.next = ret.next
    if ret.next is not None:
        ret.next.prev = ret.prev


def _unlift(call: _Node) -> None:
    ret = call.match
    ret.prev.next = ret
    if ret.next is not None:
        ret.next.prev = ret
    call.prev.next = call
    if call.next is not None:
        call.next.prev = call

"""MVCCStore against a trivial model: a full copy of the keyspace at every revision.

Random sequences of put / delete_range / range-at-revision / compact / snapshot-restore must
give the same answers (kvs with all metadata, counts, `more`, errors) from both.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kubemu.cluster.store.errors import CompactedError, FutureRevisionError
from kubemu.cluster.store.mvcc import MVCCStore, in_range

KEYS = ["a", "ab", "b", "ba", "c", "d"]
ENDS = ["", "", "b", "c", "bz", "e", "\0", "a"]

key_st = st.sampled_from(KEYS)
op_st = st.one_of(
    st.tuples(st.just("put"), key_st, st.binary(max_size=3), st.integers(0, 2)),
    st.tuples(st.just("delete"), key_st, st.sampled_from(ENDS)),
    st.tuples(st.just("range"), key_st, st.sampled_from(ENDS), st.integers(0, 40),
              st.integers(0, 3)),
    st.tuples(st.just("compact"), st.integers(0, 40)),
    st.tuples(st.just("restore"),),
)


class Model:
    """states[r] is the keyspace at revision r: key -> (value, create, mod, version, lease)."""

    def __init__(self) -> None:
        self.states: dict[int, dict[str, tuple]] = {1: {}}
        self.revision = 1
        self.compacted = 0

    def put(self, key: str, value: bytes, lease: int) -> None:
        cur = dict(self.states[self.revision])
        rev = self.revision + 1
        old = cur.get(key)
        cur[key] = (value, old[1] if old else rev, rev, old[3] + 1 if old else 1, lease)
        self.revision = rev
        self.states[rev] = cur

    def delete(self, key: str, end: str) -> int:
        cur = dict(self.states[self.revision])
        gone = [k for k in cur if in_range(k, key, end)]
        if gone:
            for k in gone:
                del cur[k]
            self.revision += 1
            self.states[self.revision] = cur
        return len(gone)

    def range(self, key: str, end: str, revision: int, limit: int):
        if revision > self.revision:
            raise FutureRevisionError()
        if 0 < revision < self.compacted:
            raise CompactedError()
        state = self.states[revision or self.revision]
        found = sorted((k, v) for k, v in state.items() if in_range(k, key, end))
        kvs = [(k, *v) for k, v in found]
        return (kvs[:limit] if limit else kvs), len(kvs), bool(limit) and len(kvs) > limit

    def compact(self, revision: int) -> None:
        if revision > self.revision:
            raise FutureRevisionError()
        if revision <= self.compacted:
            raise CompactedError()
        self.compacted = revision


def outcome(fn):
    try:
        return ("ok", fn())
    except (CompactedError, FutureRevisionError) as exc:
        return ("error", type(exc).__name__)


@settings(max_examples=150, deadline=None)
@given(st.lists(op_st, max_size=60))
def test_mvcc_matches_the_full_copy_model(ops):
    store, model = MVCCStore(), Model()
    events = []
    for op in ops:
        kind = op[0]
        if kind == "put":
            _, key, value, lease = op
            events.append(store.put(key, value, lease=lease)[1])
            model.put(key, value, lease)
        elif kind == "delete":
            _, key, end = op
            deleted = store.delete_range(key, end)
            events.extend(deleted)
            assert len(deleted) == model.delete(key, end)
        elif kind == "range":
            _, key, end, revision, limit = op

            def got():
                r = store.range(key, end, revision=revision, limit=limit)
                kvs = [(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version,
                        kv.lease) for kv in r.kvs]
                return kvs, r.count, r.more

            assert outcome(got) == outcome(lambda: model.range(key, end, revision, limit))

            def got_changed():  # the keys changed since, as the watch history gives them
                changed = [e.kv.key for e in events if e.kv.mod_revision > revision
                           and in_range(e.kv.key, key, end)]
                r = store.range(key, end, revision=revision, limit=limit, changed=changed)
                kvs = [(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version,
                        kv.lease) for kv in r.kvs]
                return kvs, r.count, r.more

            assert outcome(got_changed) == outcome(lambda: model.range(key, end, revision,
                                                                       limit))
        elif kind == "compact":
            assert outcome(lambda: store.compact(op[1])) == outcome(lambda: model.compact(op[1]))
        else:
            data = store.snapshot()
            store = MVCCStore.restore(data)
            assert store.snapshot() == data
        assert store.revision == model.revision
    for revision in range(max(model.compacted, 1), model.revision + 1):
        want = model.range("\0", "\0", revision, 0)
        r = store.range("\0", "\0", revision=revision)
        assert [(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)
                for kv in r.kvs] == want[0]
    compacted = store.compact_revision
    assert store.history_events(after=compacted) == [
        e for e in events if e.kv.mod_revision > compacted]


write_st = st.one_of(st.tuples(st.just("put"), key_st, st.binary(max_size=2)),
                     st.tuples(st.just("delete"), key_st, st.sampled_from(ENDS)))


@settings(max_examples=200, deadline=None)
@given(st.lists(write_st, max_size=30), st.sampled_from(KEYS), st.sampled_from(ENDS[2:]),
       st.integers(0, 3))
def test_a_read_at_an_old_revision_given_the_keys_changed_since_equals_a_full_scan(
        writes, key, end, limit):
    """Every revision, every range: counting from the live keys corrected by the keys
    written since (as the watch history lists them) gives the full scan's answer."""
    store, events = MVCCStore(), []
    for op in writes:
        if op[0] == "put":
            events.append(store.put(op[1], op[2])[1])
        else:
            events.extend(store.delete_range(op[1], op[2]))
    for revision in range(1, store.revision):
        changed = [e.kv.key for e in events
                   if e.kv.mod_revision > revision and in_range(e.kv.key, key, end)]
        fast = store.range(key, end, revision=revision, limit=limit, changed=changed)
        assert fast == store.range(key, end, revision=revision, limit=limit)

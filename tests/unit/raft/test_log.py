"""The Raft log: term lookup, follower appends with conflict truncation, batching, compaction."""

import pytest

from kubemu.cluster.raft.log import RaftLog
from kubemu.cluster.raft.messages import Entry, Snapshot


def ents(*terms: int, start: int = 1) -> list[Entry]:
    return [Entry(t, start + k, b"d%d" % (start + k)) for k, t in enumerate(terms)]


def log_of(*terms: int) -> RaftLog:
    return RaftLog(entries=ents(*terms))


def terms(log: RaftLog) -> list[int]:
    return [log.term(i) for i in range(log.first_index, log.last_index + 1)]


@pytest.mark.parametrize("index, expected", [
    pytest.param(0, 0, id="index-zero-has-term-zero"),
    pytest.param(1, 1, id="first"),
    pytest.param(3, 2, id="last"),
    pytest.param(4, None, id="beyond-the-log"),
])
def test_term_lookup(index, expected):
    assert log_of(1, 1, 2).term(index) == expected


@pytest.mark.parametrize("prev, prev_term, new, committed, expected_last, expected_terms", [
    pytest.param(3, 2, ents(3, 3, start=4), 0, 5, [1, 1, 2, 3, 3], id="append-at-the-end"),
    pytest.param(1, 1, ents(1, 2, start=2), 0, 3, [1, 1, 2], id="duplicate-changes-nothing"),
    pytest.param(1, 1, ents(3, start=2), 1, 2, [1, 3], id="conflict-truncates-suffix"),
    pytest.param(3, 3, ents(3, start=4), 0, None, [1, 1, 2], id="prev-term-mismatch-rejects"),
    pytest.param(5, 2, ents(3, start=6), 0, None, [1, 1, 2], id="gap-rejects"),
])
def test_maybe_append(prev, prev_term, new, committed, expected_last, expected_terms):
    log = log_of(1, 1, 2)
    log.commit_to(committed)
    assert log.maybe_append(prev, prev_term, 99, new) == expected_last
    assert terms(log) == expected_terms


def test_append_commits_only_what_the_message_vouches_for():
    log = log_of(1, 1, 2, 2)  # 3 and 4 may be an old leader's uncommitted suffix
    assert log.maybe_append(1, 1, 4, ents(1, start=2)) == 2
    assert log.committed == 2


def test_truncating_a_committed_entry_is_a_safety_violation():
    log = log_of(1, 1, 2)
    log.commit_to(3)
    with pytest.raises(AssertionError, match="committed"):
        log.maybe_append(1, 1, 3, ents(3, start=2))


def test_truncation_makes_the_replacement_unstable_again():
    log = log_of(1, 1, 2)
    assert log.stabled == 3 and not log.has_unstable()
    log.maybe_append(1, 1, 0, ents(3, 3, start=2))
    assert log.stabled == 1
    assert [e.term for e in log.unstable_entries()] == [3, 3]
    log.stable_to(3, 2)  # an advance for the replaced entries must not count
    assert log.stabled == 1
    log.stable_to(3, 3)
    assert log.stabled == 3


@pytest.mark.parametrize("index, term, expected", [
    pytest.param(6, 3, (6, 3), id="same-term-matches-here"),
    pytest.param(6, 2, (4, 2), id="skips-a-whole-term"),
    pytest.param(6, 1, (2, 1), id="skips-two-terms"),
    pytest.param(6, 0, (0, 0), id="nothing-older"),
    pytest.param(3, 5, (3, 2), id="higher-term-matches-at-index"),
])
def test_find_conflict_by_term(index, term, expected):
    assert log_of(1, 1, 2, 2, 3, 3).find_conflict_by_term(index, term) == expected


@pytest.mark.parametrize("max_count, max_bytes, expected", [
    pytest.param(2, 1 << 20, [2, 3], id="count-limit"),
    pytest.param(100, 5, [2, 3], id="byte-limit"),
    pytest.param(100, 1, [2], id="oversized-entry-goes-alone"),
    pytest.param(100, 1 << 20, [2, 3, 4, 5], id="all"),
])
def test_entries_from_batches_by_count_and_bytes(max_count, max_bytes, expected):
    log = log_of(1, 1, 1, 1, 1)  # data is b"dN": 2 bytes each
    got = log.entries_from(2, max_count=max_count, max_bytes=max_bytes)
    assert [e.index for e in got] == expected


def test_compaction_drops_covered_entries_but_keeps_term_lookup_at_the_boundary():
    log = log_of(1, 1, 2, 2, 3)
    log.commit_to(4)
    log.compact(Snapshot(4, 2, (1,), b"img"))
    assert (log.first_index, log.last_index) == (5, 5)
    assert log.term(4) == 2 and log.term(3) is None
    assert [e.index for e in log.entries_from(5, max_count=9, max_bytes=99)] == [5]


def test_compaction_can_keep_recent_entries_for_lagging_followers():
    log = log_of(1, 1, 2, 2, 3)
    log.commit_to(4)
    log.compact(Snapshot(4, 2, (1,), b"img"), keep_entries=2)
    assert log.first_index == 3 and log.snapshot.index == 4


def test_restore_replaces_the_log_with_the_snapshot():
    log = log_of(1, 1, 2)
    log.restore(Snapshot(10, 4, (1, 2, 3), b"img"))
    assert (log.first_index, log.last_index, log.last_term) == (11, 10, 4)
    assert log.committed == 10 and log.pending_snapshot is not None
    assert log.next_committed_entries() == []


def test_restored_log_starts_after_the_persisted_snapshot():
    log = RaftLog(snapshot=Snapshot(3, 2, (1,), b""), entries=ents(2, 2, 3, 3, start=2))
    assert (log.first_index, log.last_index, log.applied, log.committed) == (4, 5, 3, 3)
    with pytest.raises(ValueError, match="gap"):
        RaftLog(snapshot=Snapshot(3, 2, (1,), b""), entries=ents(3, start=6))

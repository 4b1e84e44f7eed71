"""A settled heap: a long-lived cache is out of every collection's scan, garbage is never
frozen, and request temporaries die young. Each case runs in its own interpreter, since the
collector's state is the whole process's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc

from kubemu.actors import heap

PRELUDE = """
import gc
import tracemalloc, weakref
from kubemu.actors import heap

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

def scanned(obj):
    return any(o is obj for o in gc.get_objects())
"""


def run(body: str) -> None:
    code = PRELUDE + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_cache_alive_when_settled_is_kept_but_no_collection_scans_it() -> None:
    run("""
        cache = {f"pod-{i}": {"metadata": {"name": f"pod-{i}"}} for i in range(10_000)}
        heap.settle()
        assert not scanned(cache) and not scanned(cache["pod-7"])
        assert cache["pod-7"]["metadata"]["name"] == "pod-7"
        cache["pod-new"] = {"metadata": {"name": "pod-new"}}
        assert scanned(cache["pod-new"])      # grown since: scanned until the next refreeze
        heap.refreeze()
        assert not scanned(cache["pod-new"])
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    """)


def test_a_cycle_dropped_before_a_freeze_is_collected_not_frozen_for_good() -> None:
    run("""
        kept = cycle()
        dropped = cycle()
        gone = weakref.ref(dropped)
        del dropped
        heap.settle()
        assert gone() is None and kept.other.other is kept
        later = cycle()
        gone_later = weakref.ref(later)
        del later
        heap.refreeze()
        assert gone_later() is None
    """)


def test_a_frozen_object_dropped_later_is_still_freed() -> None:
    run("""
        cache = {"pod": Node()}
        heap.settle()
        freed = weakref.ref(cache["pod"])
        del cache["pod"]
        assert freed() is None               # reference counting, no collection needed
    """)


def test_top_allocations_names_the_line_holding_the_memory_only_while_tracing() -> None:
    assert not tracemalloc.is_tracing()
    assert heap.top_allocations() == []
    tracemalloc.start()
    try:
        held = [bytes(1000) for _ in range(10_000)]  # ~10 MB from this line
        top = heap.top_allocations(3)
    finally:
        tracemalloc.stop()
    assert top[0].endswith("MiB traced in all")
    size, _, count, where = top[1].split(" ", 3)
    assert float(size) >= 9.5 and int(count) >= 10_000 and "test_heap.py" in where
    assert len(held) == 10_000

"""A pod worker's random bits: reproducible from its seed, fresh at every draw, small."""

from __future__ import annotations

import tracemalloc

import pytest

from kubemu.cluster.node.pod_manager import SeededBits


def test_the_same_seed_draws_the_same_container_ids_and_each_draw_differs() -> None:
    first, again, other = SeededBits(7), SeededBits(7), SeededBits(8)
    ids = [f"{first.getrandbits(256):064x}" for _ in range(5)]
    assert ids == [f"{again.getrandbits(256):064x}" for _ in range(5)]
    assert len(set(ids)) == 5 and all(len(i) == 64 for i in ids)
    assert other.getrandbits(256) not in {int(i, 16) for i in ids}
    assert max(SeededBits(s).getrandbits(8) for s in range(200)) < 256
    with pytest.raises(ValueError, match="512 bits"):
        first.getrandbits(513)


def test_a_hundred_thousand_pods_keep_their_seeds_in_a_few_megabytes() -> None:
    tracemalloc.start()
    try:
        held = [SeededBits(s) for s in range(100_000)]
        size = sum(s.size for s in tracemalloc.take_snapshot().statistics("filename"))
    finally:
        tracemalloc.stop()
    assert len(held) == 100_000 and size < 20 * 2**20  # random.Random: 2.5 KB each, 250 MB

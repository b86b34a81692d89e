"""Top-down placement: the gap index answers exactly what a walk down the VMAs would.

mm/vma.c: unmapped_area_topdown() returns the highest free range of the requested length
below mmap_base.  The model keeps the free gaps by size class instead of walking; this
compares it with the plain walk on random layouts, including gaps ending exactly at
mmap_base, ones straddling it, and requests that only fit below everything.
"""

import random

import pytest

from rmapkit import Kernel
from rmapkit.uapi import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ

PS = 4096


def walk_topdown(mm, length):
    """The reference: walk the gaps from mmap_base down; the first that fits wins."""
    high, low = mm.mmap_base, max(PS, mm.mmap_min_addr)
    spans = [(v.vm_start, v.vm_end) for v in mm.vmas]
    top = high
    for start, end in sorted(spans, reverse=True):
        if start >= high:
            continue
        if end < top and top - end >= length and top - length >= low:
            return top - length
        top = min(top, start)
    return top - length if top - length >= low else None


@pytest.mark.parametrize("seed", range(40))
def test_gap_index_agrees_with_a_walk(seed):
    rng = random.Random(seed)
    k = Kernel(mmap_base=0x10000000, max_map_count=1 << 20)
    p = k.spawn()
    base = k.mmap_base
    for _ in range(rng.randrange(1, 60)):
        page = rng.randrange(-64, 40)                 # some above mmap_base, most below
        addr = base + page * PS
        n = rng.randint(1, 6)
        p.mmap(addr, n * PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        if rng.random() < 0.3:
            p.munmap(base + rng.randrange(-64, 40) * PS, rng.randint(1, 4) * PS)
        for length in (PS, 2 * PS, 5 * PS, 17 * PS, 64 * PS):
            assert p.mm.unmapped_area_topdown(length) == walk_topdown(p.mm, length), \
                (seed, hex(length), [(hex(v.vm_start), hex(v.vm_end)) for v in p.mm.vmas])


def test_gap_ending_exactly_at_mmap_base():
    k = Kernel(mmap_base=0x10000000)
    p = k.spawn()
    p.mmap(k.mmap_base, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    p.mmap(k.mmap_base - 3 * PS, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    assert p.mm.unmapped_area_topdown(2 * PS) == k.mmap_base - 2 * PS

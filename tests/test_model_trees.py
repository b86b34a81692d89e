"""The model's search structures against plain lists: the VMA tree and the interval trees.

rmapkit.model.mm keeps the VMAs in a SortedKeyList whose floor lookup and in-place re-key
read its sublists directly, and batches free-gap changes per syscall;
rmapkit.model.interval_tree tracks the longest interval with counts and a lazy heap.
These tests drive them with seeded random operations (with sublists of 4 items, so the
paths across sublist boundaries run) and compare every answer with a brute-force scan.
"""

import random

import pytest

from rmapkit import Kernel, SegmentationFault, ValidationError
from rmapkit.model.interval_tree import IntervalTree
from rmapkit.uapi import (MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE,
                          PROT_READ, PROT_WRITE)

PS = 4096
BASE = 0x10000000


@pytest.mark.parametrize("seed", range(12))
def test_vma_tree_lookups_agree_with_a_scan(seed):
    rng = random.Random(seed)
    k = Kernel(mmap_base=BASE + 200 * PS)
    p = k.spawn()
    p.mm._tree._reset(4)                       # sublists of 4..8 VMAs: many boundaries
    sublists = 0
    for step in range(150):
        page, n = rng.randrange(0, 120), rng.randint(1, 5)
        a = BASE + page * PS
        op = rng.random()
        try:
            if op < 0.35:
                p.mmap(a, n * PS, rng.choice((PROT_READ, PROT_READ | PROT_WRITE)),
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
            elif op < 0.55:
                p.munmap(a, n * PS)
            elif op < 0.75:
                p.mprotect(a, n * PS, rng.choice((PROT_READ, PROT_READ | PROT_WRITE)))
            elif op < 0.85:
                p.mremap(a, n * PS, n * PS, MREMAP_MAYMOVE | MREMAP_FIXED,
                         BASE + rng.randrange(0, 120) * PS)
            elif op < 0.95:
                p.write(a, PS)
            else:
                p.mmap(0, n * PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)   # a gap search
        except (OSError, SegmentationFault):
            pass                                   # refused calls count too
        k.validate()
        vmas = p.mm.vmas
        sublists = max(sublists, len(p.mm._tree._maxes))
        for q in [BASE + rng.randrange(-2, 130) * PS + rng.choice((0, 1, PS - 1))
                  for _ in range(8)]:
            inside = [v for v in vmas if v.vm_start <= q < v.vm_end]
            after = [v for v in vmas if v.vm_end > q]
            before = [v for v in vmas if v.vm_end <= q]
            assert p.mm.vma_lookup(q) is (inside[0] if inside else None), (seed, step, hex(q))
            assert p.mm.find_vma(q) is (after[0] if after else None), (seed, step, hex(q))
            nxt, prev = p.mm.find_vma_prev(q)
            assert prev is (before[-1] if before else None), (seed, step, hex(q))
            assert [v.id for v in p.mm.vmas_in(q, q + 3 * PS)] == \
                [v.id for v in vmas if v.vm_end > q and v.vm_start < q + 3 * PS]
    assert sublists >= 3


def test_validate_catches_a_stale_tree_key():
    k = Kernel()
    p = k.spawn()
    for i in range(3):
        p.mmap(BASE + 2 * i * PS, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    k.validate()
    p.mm._tree._keys[0][1] += PS                 # what a missed re-key would leave behind
    with pytest.raises(ValidationError, match="VMA tree keys vma1"):
        k.validate()


def test_validate_catches_unapplied_gap_changes():
    k = Kernel()
    p = k.spawn()
    p.mmap(BASE, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    p.mm._gap_pending[BASE + PS, BASE + 2 * PS] = 1
    with pytest.raises(ValidationError, match="free-gap changes"):
        k.validate()


@pytest.mark.parametrize("seed", range(8))
def test_interval_tree_agrees_with_a_scan(seed, monkeypatch):
    """Odd seeds let a tree outgrow its plain list at 16 nodes (a SortedList, and back to
    a list below 4), as an anon_vma does past 1,024 avcs."""
    from rmapkit.model import interval_tree
    if seed % 2:
        monkeypatch.setattr(interval_tree, "_LIST_MAX", 16)
    rng = random.Random(seed)
    t, live = IntervalTree(), {}
    kinds = set()
    for step in range(600):
        if live and rng.random() < 0.45:
            node = rng.choice(sorted(live))
            t.remove(node)
            del live[node]
        else:
            node = step
            start = rng.randrange(0, 200)
            last = start + rng.choice((0, 0, 1, 3, rng.randrange(0, 80)))
            t.insert(node, start, last)
            live[node] = (start, last)
        assert len(t) == len(live)
        assert t.longest() == max((l - s + 1 for s, l in live.values()), default=0)
        first = rng.randrange(-5, 210)
        last = first + rng.randrange(0, 10)
        want = sorted((s, l, n) for n, (s, l) in live.items() if s <= last and l >= first)
        assert [(live[n][0], live[n][1], n) for n in t.query(first, last)] == want
        kinds.add(type(t._nodes).__name__)
    assert kinds == ({"list", "SortedList"} if seed % 2 else {"list"})
    for node in sorted(live):                      # drain: back to a plain list, empty
        t.remove(node)
    assert type(t._nodes) is list and not t and t.longest() == 0
    assert len(t._heap) <= 2 * len(t._count) + 17     # stale heap entries stay bounded


def test_a_crowded_gap_size_class_becomes_a_sorted_list_and_back():
    """1,099 one-page gaps share one size class: past 1,024 the class is a SortedList
    (O(log n) inserts at any size), below 256 a plain list again; placement stays right."""
    from sortedcontainers import SortedList
    from test_model_placement import walk_topdown
    k = Kernel(mmap_base=BASE + 4000 * PS)
    p = k.spawn()
    for i in range(1100):
        p.mmap(BASE + 2 * i * PS, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    k.validate()
    assert isinstance(p.mm._gaps[12], SortedList) and len(p.mm._gaps[12]) == 1099
    for pages in (1, 2, 1801, 1802):
        assert p.mm.unmapped_area_topdown(pages * PS) == walk_topdown(p.mm, pages * PS)
    p.munmap(BASE + 400 * PS, 1700 * PS)            # 851 small gaps become one
    k.validate()
    assert isinstance(p.mm._gaps[12], list) and len(p.mm._gaps[12]) == 248
    for pages in (1, 2, 1701, 1801, 1802):
        assert p.mm.unmapped_area_topdown(pages * PS) == walk_topdown(p.mm, pages * PS)

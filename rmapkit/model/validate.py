"""Every invariant of the model, checked at once, with messages naming object and field.

Mirrors the kernel's own self-checks: mm/vma.c: validate_mm(), mm/interval_tree.c:
anon_vma_interval_tree_verify(), mm/rmap.c: __page_check_anon_rmap() and the WARNs of
unlink_anon_vmas(), plus the rmap completeness check that rmap_walk() finds every
mapping.  O(n c log n + p) — a debugging aid, run after every step in the tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ValidationError
from ..uapi import PAGE_SHIFT, PAGE_SIZE
from .folio import HPAGE_PMD_ORDER
from .mm import PMD_SHIFT, PMD_SIZE
from .rmap import rmap_walk, rmap_walk_pages, vm_normal_page
from .vma import linear_page_index

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .kernel import Kernel
    from .folio import Folio
    from .mm import MM, PTE
    from .vma import VMA

__all__ = ["validate_kernel"]


def _fail(msg):
    raise ValidationError(msg)


def _validate_mm(p):
    mm = p.mm
    vmas = mm.vmas
    if len(vmas) != mm.map_count:
        _fail(f"{p.name}: map_count {mm.map_count} but {len(vmas)} VMAs in the tree")
    prev = None
    for v in vmas:
        tag = f"{p.name}:{v.id} [{v.vm_start:#x}, {v.vm_end:#x})"
        if v.vm_start >= v.vm_end or v.vm_start % PAGE_SIZE or v.vm_end % PAGE_SIZE:
            _fail(f"{tag}: empty or unaligned")
        if prev is not None and prev.vm_end > v.vm_start:
            _fail(f"{tag}: overlaps {prev.id}")
        if v.vm_mm is not mm:
            _fail(f"{tag}: vm_mm is another mm")
        if (v.anon_vma is None) != (not v.anon_vma_chain):
            _fail(f"{tag}: anon_vma is {getattr(v.anon_vma, 'label', None)} but chain has "
                  f"{len(v.anon_vma_chain)} avcs")
        if v.anon_vma is not None:
            own = [c for c in v.anon_vma_chain if c.anon_vma is v.anon_vma]
            if len(own) != 1:
                _fail(f"{tag}: {len(own)} avcs link it to its own anon_vma {v.anon_vma.label}")
        key = (v.vm_pgoff, v.vm_pgoff + v.pages - 1)
        for c in v.anon_vma_chain:
            if c.vma is not v:
                _fail(f"{tag}: avc in its chain belongs to {c.vma.id}")
            av = c.anon_vma
            if av.freed:
                _fail(f"{tag}: avc points at freed {av.label}")
            if c not in av.rb_root:
                _fail(f"avc({v.id}, {av.label}) missing from {av.label}'s tree")
            if av.rb_root.key(c) != key:
                s, l = av.rb_root.key(c)
                _fail(f"avc({v.id} [{v.vm_start:#x},{v.vm_end:#x}), {av.label}) keyed "
                      f"[{s:#x},{l:#x}], VMA range [{key[0]:#x},{key[1]:#x}]")
            if v.anon_vma is not None and av.root is not v.anon_vma.root:
                _fail(f"{tag}: avc to {av.label} of another root than {v.anon_vma.label}")
        if v.vm_file is not None:
            m = v.vm_file.f_mapping
            if v not in m.i_mmap or m.i_mmap.key(v) != key:
                _fail(f"{tag}: not in {m.label}'s i_mmap with key {key}")
        for a, pte in mm.ptes_in(v.vm_start, v.vm_end):
            if pte.pmd is not None:
                _check_pmd_entry(mm, v, a, pte, tag)
            folio = vm_normal_page(v, a, pte)
            if folio is None or not folio.anon:
                continue
            if folio.mapping is None or folio.mapping.freed:
                _fail(f"{tag}: page {a:#x} maps {folio.label} whose anon_vma is gone")
            if v.anon_vma is None or folio.mapping.root is not v.anon_vma.root:
                _fail(f"{tag}: page {a:#x}: {folio.label}'s anon_vma {folio.mapping.label} "
                      f"has another root than the VMA's")
            i = pte.pfn - folio.pfn
            if not 0 <= i < folio.nr_pages:
                _fail(f"{tag}: page {a:#x}: pfn {pte.pfn:#x} is not a page of {folio.label}")
            if folio.index + i != linear_page_index(v, a):
                _fail(f"{tag}: page {a:#x}: {folio.label}.index {folio.index:#x} + {i} != "
                      f"linear_page_index {linear_page_index(v, a):#x}")
        prev = v
    # The tree's keys are the VMAs' vm_start (MM._tree_move() re-keys in place).
    keys = [k for sub in mm._tree._keys for k in sub]
    if keys != [v.vm_start for v in vmas]:
        bad = next(v for k, v in zip(keys, vmas) if k != v.vm_start)
        _fail(f"{p.name}: VMA tree keys {bad.id} at {keys[vmas.index(bad)]:#x}, "
              f"but its vm_start is {bad.vm_start:#x}")
    for haddr, pmd in mm.pmds.items():
        if pmd.haddr != haddr or mm.pgtable.get(haddr) is None or \
                mm.pgtable[haddr].pmd is not pmd:
            _fail(f"{p.name}: PMD at {haddr:#x} is not mapped by its entries")
        if haddr >> PMD_SHIFT in mm.pte_tables:
            _fail(f"{p.name}: block {haddr:#x} has both a huge PMD and a PTE table")
    # The neighbour links and the free-gap index agree with the tree.
    if (mm._first is not (vmas[0] if vmas else None)
            or any(a._next is not b or b._prev is not a for a, b in zip(vmas, vmas[1:]))
            or (vmas and (vmas[0]._prev is not None or vmas[-1]._next is not None))):
        _fail(f"{p.name}: VMA _prev/_next links disagree with the tree")
    from .mm import TASK_SIZE
    edges = [0] + [x for v in vmas for x in (v.vm_start, v.vm_end)] + [TASK_SIZE]
    want = sorted((e, s) for s, e in zip(edges[::2], edges[1::2]) if e > s)
    if any(mm._gap_pending.values()):
        _fail(f"{p.name}: free-gap changes {mm._gap_pending} were not applied at the end "
              "of the syscall (MM.sync_gaps())")
    have = sorted(g for gaps in mm._gaps.values() for g in gaps)
    if want != have:
        _fail(f"{p.name}: free-gap index {[(hex(s), hex(e)) for e, s in have][:6]} does not "
              f"match the gaps between VMAs {[(hex(s), hex(e)) for e, s in want][:6]}")
    # A file page a PTE maps is the page cache's folio at that offset, inside i_size
    # (truncation unmaps what it drops; fault-around and faults stop at EOF).
    for v in vmas:
        if v.vm_file is None or not v.vm_file.f_op.regular:
            continue
        m, inode = v.vm_file.f_mapping, v.vm_file.inode
        eof = (inode.size + PAGE_SIZE - 1) // PAGE_SIZE
        for a, pte in mm.ptes_in(v.vm_start, v.vm_end):
            folio = vm_normal_page(v, a, pte)
            if folio is None or folio.anon:
                continue
            idx = linear_page_index(v, a)
            if m.pages.get(idx) is not folio:
                _fail(f"{p.name}:{v.id} page {a:#x} maps {folio.label}, which is not "
                      f"{m.label}'s page-cache folio at index {idx:#x}")
            if idx >= eof:
                _fail(f"{p.name}:{v.id} page {a:#x} maps index {idx:#x} past the end of "
                      f"{inode.path} ({inode.size:#x} bytes)")
    # No PTE outside a VMA.
    for a in mm.pgtable:
        v = mm.vma_lookup(a)
        if v is None:
            _fail(f"{p.name}: PTE at {a:#x} outside every VMA")


def _validate_page_cache(k):
    """Every cached folio sits at its own index of its own mapping; a disk file caches
    nothing past EOF (tmpfs may: fallocate(FALLOC_FL_KEEP_SIZE) allocates there)."""
    mappings = {id(i.mapping): i.mapping for i in k.inodes.values()}
    for p in k.processes.values():
        for v in p.mm.vmas:
            if v.vm_file is not None:
                mappings[id(v.vm_file.f_mapping)] = v.vm_file.f_mapping
    for m in mappings.values():
        inode = m.host
        eof = (inode.size + PAGE_SIZE - 1) // PAGE_SIZE
        for idx, folio in m.pages.items():
            if folio.mapping is not m or folio.index != idx or not folio.in_page_cache:
                _fail(f"{m.label} of {inode.path}: page cache slot {idx:#x} holds "
                      f"{folio.label} (mapping {getattr(folio.mapping, 'label', None)}, index "
                      f"{folio.index:#x}, in_page_cache {folio.in_page_cache})")
            if inode.fs is not None and not inode.fs.shmem and idx >= eof:
                _fail(f"{m.label} of {inode.path}: {folio.label} cached at index {idx:#x}, "
                      f"past EOF ({inode.size:#x} bytes)")


def _check_pmd_entry(mm: MM, v: VMA, a: int, pte: PTE, tag: str) -> None:
    """A page mapped through a huge PMD: the PMD is 2 MiB aligned, wholly in the VMA, of
    a PMD-order folio, and its entry ``i`` maps page ``i`` with the PMD's write bit."""
    pmd = pte.pmd
    h = pmd.haddr
    if mm.pmds.get(h) is not pmd:
        _fail(f"{tag}: page {a:#x} maps through a PMD at {h:#x} that is not in the mm")
    if h % PMD_SIZE or h < v.vm_start or h + PMD_SIZE > v.vm_end:
        _fail(f"{tag}: PMD at {h:#x} is not a 2 MiB block inside the VMA")
    if pmd.folio.order != HPAGE_PMD_ORDER or pte.folio is not pmd.folio or \
            pte.pfn != pmd.folio.pfn + ((a - h) >> PAGE_SHIFT):
        _fail(f"{tag}: page {a:#x} of the PMD at {h:#x} does not map its page of "
              f"{pmd.folio.label}")
    if pte.writable != mm.pgtable[h].writable:
        _fail(f"{tag}: page {a:#x} of the PMD at {h:#x} has another write bit")


def _check_large_folio(folio: Folio, maps: list) -> None:
    """Mapcounts as __folio_add_rmap()/__folio_remove_rmap() keep them (v6.18)."""
    lab = folio.label
    nr = folio.nr_pages
    if folio.pfn % nr:
        _fail(f"{lab}: pfn {folio.pfn:#x} is not aligned to its {nr} pages")
    ptes = [0] * nr
    pmds = 0
    per_mm = {}
    for v, a, level, i in maps:
        mm = v.vm_mm
        per_mm[mm] = per_mm.get(mm, 0) + 1
        if level == "pmd":
            pmds += 1
        else:
            ptes[i] += 1
    if ptes != folio._pmc:
        bad = next(i for i in range(nr) if ptes[i] != folio._pmc[i])
        _fail(f"{lab}: page {bad} _mapcount {folio._pmc[bad]}, mapped by {ptes[bad]} PTEs")
    if folio.entire_mapcount != pmds:
        _fail(f"{lab}: _entire_mapcount {folio.entire_mapcount}, mapped by {pmds} PMDs")
    if folio.mapcount != sum(ptes) + pmds:
        _fail(f"{lab}: _large_mapcount {folio.mapcount}, {sum(ptes)} PTEs + {pmds} PMDs")
    if folio.nr_pages_mapped != sum(1 for c in ptes if c):
        _fail(f"{lab}: _nr_pages_mapped {folio.nr_pages_mapped}, "
              f"{sum(1 for c in ptes if c)} pages PTE-mapped")
    # A slot counts the mappings its mm added since it took the slot (an mm may take a
    # slot late, when an earlier owner left), so never more than the mm has.
    for s in (0, 1):
        mm = folio.mm_ids[s]
        if mm is not None and not 0 < folio.mm_counts[s] <= per_mm.get(mm, 0):
            _fail(f"{lab}: MM slot {s} counts {folio.mm_counts[s]} mappings of "
                  f"{mm.owner.name}, it has {per_mm.get(mm, 0)}")
    if len(per_mm) > 1 and not folio.maybe_shared:
        _fail(f"{lab}: mapped by {len(per_mm)} processes but not maybe_mapped_shared")
    if folio.partially_mapped and folio.order < 2:
        _fail(f"{lab}: order {folio.order} cannot be partially mapped")
    if folio.entire_mapcount and any(folio._excl[1:]):
        _fail(f"{lab}: PMD-mapped, yet a tail page is PageAnonExclusive")


def validate_kernel(k: Kernel) -> None:
    """Raise ValidationError on the first broken invariant of ``k``."""
    for p in k.processes.values():
        _validate_mm(p)
    _validate_page_cache(k)
    # anon_vma counters and tree/VMA agreement.
    active, children = {}, {}
    for p in k.processes.values():
        for v in p.mm.vmas:
            if v.anon_vma is not None:
                active[v.anon_vma] = active.get(v.anon_vma, 0) + 1
    for av in k.anon_vmas.values():         # a root is its own parent: it counts itself
        children[av.parent] = children.get(av.parent, 0) + 1
    for av in k.anon_vmas.values():
        if av.freed:
            _fail(f"{av.label}: freed but still registered")
        if not av.rb_root:
            _fail(f"{av.label}: lives with an empty interval tree")
        if av.num_active_vmas != active.get(av, 0):
            _fail(f"{av.label}: num_active_vmas {av.num_active_vmas}, "
                  f"{active.get(av, 0)} VMAs point at it")
        if av.num_children != children.get(av, 0):
            _fail(f"{av.label}: num_children {av.num_children}, counted {children.get(av, 0)}")
        if av.root.root is not av.root or av.parent.root is not av.root:
            _fail(f"{av.label}: root/parent inconsistent (root {av.root.label}, "
                  f"parent {av.parent.label})")
        longest = max(last - start + 1 for start, last, _ in av.rb_root.items())
        if av.rb_root.longest() != longest:
            _fail(f"{av.label}: interval tree says its longest avc spans "
                  f"{av.rb_root.longest()} pages, but one spans {longest}")
        for c in av.rb_root:
            if c not in c.vma.anon_vma_chain:
                _fail(f"{av.label}: avc of {c.vma.id} not in that VMA's chain")
    # rmap completeness: every mapping of every folio is found by rmap_walk().
    seen = {}
    large = {}
    for p in k.processes.values():
        mm = p.mm
        for v in mm.vmas:
            for a, pte in mm.ptes_in(v.vm_start, v.vm_end):
                folio = vm_normal_page(v, a, pte)
                if folio is None:
                    continue
                if folio.order:
                    if pte.pmd is None:
                        large.setdefault(folio, []).append((v, a, "pte", pte.pfn - folio.pfn))
                    elif a == pte.pmd.haddr:
                        large.setdefault(folio, []).append((v, a, "pmd", 0))
                    continue
                seen.setdefault(folio, []).append((v, a))
    for folio, maps in large.items():
        _check_large_folio(folio, maps)
        found = {(v.id, a, level, i) for v, a, level, i in rmap_walk_pages(folio)}
        for v, a, level, i in maps:
            if (v.id, a, level, i) not in found:
                _fail(f"rmap_walk({folio.label}, index {folio.index:#x}, {folio.nr_pages} "
                      f"pages) misses {v.vm_mm.owner.name}:{v.id} {level} at {a:#x}")
    for folio, maps in seen.items():
        if folio.mapcount != len(maps):
            _fail(f"{folio.label}: mapcount {folio.mapcount}, mapped {len(maps)} times")
        found = {(v.id, a) for v, a in rmap_walk(folio)}
        for v, a in maps:
            if (v.id, a) not in found:
                _fail(f"rmap_walk({folio.label}, index {folio.index:#x}) misses "
                      f"{v.vm_mm.owner.name}:{v.id} at {a:#x}")

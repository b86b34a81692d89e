# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8 · Large folios: one index, many pages
#
# **In this chapter you will learn**
#
# * which faults get a *large* folio in Linux 6.18 (a 2 MiB PMD-mapped THP, or a 16 KiB to
#   1 MiB multi-size THP), and which sysfs settings decide it;
# * that one `folio->index` now stands for many pages: page *i* of the folio has page
#   offset `index + i`, and rmap walks `[index, index + nr_pages - 1]`;
# * why a large folio moved by `mremap()` to an address of the wrong alignment keeps its
#   `index` (and its VMA its `vm_pgoff`) and is simply mapped by PTEs;
# * what a partial `munmap()` does to a PMD THP (it splits the *PMD*, not the folio), and
#   how `fork()` and copy-on-write count large mapcounts;
# * how to compare all of this with your own kernel.
#
# Until now every folio in the book was one page. Nothing of chapters 1-7 changes: a large
# folio is still one `struct folio` with one `index` and one `mapping`, found through the
# same anon_vma interval tree. It just covers more than one page.

# %% tags=["remove-cell"]
from rmapkit import Kernel
from rmapkit.book import ANON, BASE, RW, show
from rmapkit.scenarios import load, run_model
from rmapkit.uapi import MADV_HUGEPAGE, MREMAP_FIXED, MREMAP_MAYMOVE, PAGE_SIZE

# %% [markdown]
# ## Who gets a large folio: the sysfs settings
#
# `/sys/kernel/mm/transparent_hugepage/` decides. `enabled` is the global mode (`always`,
# `madvise`, `never`); every size has its own `hugepages-<size>kB/enabled` (`always`,
# `inherit`, `madvise`, `never`). A stock 6.18 built like this book's machine has
# `enabled=madvise` and `hugepages-2048kB/enabled=inherit`, every other size `never`: only a
# region marked with `madvise(MADV_HUGEPAGE)` (flag `VM_HUGEPAGE`, smaps `hg`) can get a large
# folio, and only a 2 MiB one (`include/linux/huge_mm.h: thp_vma_allowable_orders()`).
#
# The model takes the same files with the same values: `Kernel(thp={...})`, and `k.thp[...]`
# later. A value sysfs would refuse is refused with `EINVAL`:

# %%
k = Kernel(thp={"hugepages-64kB/enabled": "madvise"})
print({key: k.thp[key] for key in ("enabled", "hugepages-64kB/enabled",
                                   "hugepages-2048kB/enabled", "use_zero_page")})
try:
    k.thp["hugepages-64kB/enabled"] = "sometimes"
except OSError as e:
    print(e)

# %% [markdown]
# Your kernel's values, read from sysfs (a live comparison configures the model with them):

# %%
# NBVAL_IGNORE_OUTPUT
from rmapkit.live.thp import read_settings

mine = read_settings()
print({key: mine.get(key) for key in ("enabled", "hugepages-64kB/enabled",
                                      "hugepages-2048kB/enabled", "use_zero_page")})

# %% [markdown]
# ## A PMD THP: 512 pages, one index
#
# One written byte in a `MADV_HUGEPAGE` region gets the folio of the whole aligned 2 MiB
# block around it (`mm/huge_memory.c: do_huge_pmd_anonymous_page()`): order 9, mapped by a
# single PMD entry. Its `index` is the block's first page offset; page 5 of the folio has
# page offset `index + 5`, exactly what `linear_page_index()` gives for its address.

# %%
p = k.spawn()
a = p.mmap(BASE, 512 * PAGE_SIZE, RW, ANON)
p.madvise(a, 512 * PAGE_SIZE, MADV_HUGEPAGE)
p.write(a + 5 * PAGE_SIZE)
page = p.page_at(a + 5 * PAGE_SIZE)
f = page.folio
print(f"{f.label}: order {f.order}, {f.nr_pages} pages, head pfn {f.pfn:#x}, index {f.index:#x}")
print(f"page 5: pfn {page.pfn:#x} = head + {page.pfn - f.pfn}, index {page.index:#x} = index + 5")
print(f"mapped by a PMD: entire_mapcount {f.entire_mapcount}, large_mapcount "
      f"{f.large_mapcount}; page 5's own PTE mapcount {page.mapcount}")
print("PageAnonExclusive on the head only:", [pg.anon_exclusive for pg in f.pages[:3]])

# %% [markdown]
# The mapcounts are those of 6.18: a PMD mapping counts in `_entire_mapcount` and once in
# `_large_mapcount`; a page's own `_mapcount` counts only PTEs (so 0 here), and what
# `/proc/kpagecount` shows is the sum of both (`folio_precise_page_mapcount()`). The
# diagram draws the folio as one box over its pages:

# %%
show(run_model(load("thp-pmd-fault").prefix(3)).snapshot, view="address")

# %% [markdown]
# A *read* fault in such a block maps the **huge zero folio** instead, read-only, counted
# nowhere (`set_huge_zero_folio()`); the first write replaces it by a real THP. And a block
# that already has a page table (because something was faulted there before
# `MADV_HUGEPAGE`) never gets a PMD: `__handle_mm_fault()` tries a huge PMD only where the
# PMD slot is empty. The shipped scenarios `thp-huge-zero-then-write` and
# `thp-pte-table-first` show both.
#
# ## Multi-size THP: the largest order that fits
#
# With `hugepages-64kB/enabled=madvise`, a 32-page `MADV_HUGEPAGE` region gets 16-page folios
# (order 4). `mm/memory.c: alloc_anon_folio()` takes the highest enabled order whose naturally
# aligned block lies inside the VMA *and* has no PTE yet, else the next lower one, order 0
# last. Every page of the folio is mapped by its own PTE, at once:

# %%
m = run_model(load("mthp-fault"))
for text, snap in m.steps:
    print(text)
print()
pages = {(pg.addr - BASE) // PAGE_SIZE: pg for pg in m.snapshot.process("P0").pages}
for n in (0, 5, 15, 16, 20, 21):
    pg = pages[n]
    print(f"page {n:2d}: folio {pg.folio}, order {pg.order}, {pg.compound or 'small'}, "
          f"mapcount {pg.mapcount}")

# %% [markdown]
# Page 20 was *read* first: that maps only the 4 KiB zero page, and the write that follows
# copies it into an order-0 folio (`wp_page_copy()`); page 21's block is then no longer
# empty, so it gets order 0 too.
#
# ## `mremap()` to the wrong alignment: same folio, same index
#
# Move the 32-page region to page 33: the 64 KiB folio no longer starts on a 64 KiB
# boundary. Nothing about the folio changes (`mm/mremap.c: move_ptes()` moves the 16 PTEs),
# and the moved VMA keeps its `vm_pgoff` (chapter 4), so `linear_page_index()` still finds
# page *i* at `index + i`. A folio's `index` need not be a multiple of its size, and for
# anonymous memory it never has to be (`thp_vma_suitable_order()` skips the pgoff test for
# anonymous VMAs).

# %%
k = Kernel(thp={"hugepages-64kB/enabled": "madvise"})
p = k.spawn()
a = p.mmap(BASE, 32 * PAGE_SIZE, RW, ANON)
p.madvise(a, 32 * PAGE_SIZE, MADV_HUGEPAGE)
p.write(a + 5 * PAGE_SIZE)
f = p.page_at(a + 5 * PAGE_SIZE).folio
index_before = f.index
b = p.mremap(a, 32 * PAGE_SIZE, 32 * PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
             BASE + 33 * PAGE_SIZE)
vma = p.mm.find_vma(b)
pg = p.page_at(b + 5 * PAGE_SIZE)
print(f"same folio: {pg.folio is f}, index kept: {f.index == index_before}, "
      f"vm_pgoff {vma.vm_pgoff:#x}")
print(f"head now at page {(b - BASE) // PAGE_SIZE}, not a multiple of 16; "
      f"page 5's index {pg.index:#x} = linear_page_index {(b + 5 * PAGE_SIZE - vma.vm_start) // PAGE_SIZE + vma.vm_pgoff:#x}")

# %% [markdown]
# ## fork and copy-on-write: large mapcounts
#
# After `fork()` every page of the folio is mapped twice (`_large_mapcount` 32) and no page is
# PageAnonExclusive. The parent's write copies *one* page into a new order-0 folio: 6.18
# never allocates a large folio for CoW (`wp_page_copy()`), and it does not reuse the page
# while the folio may be mapped by another process (`__wp_can_reuse_large_anon_folio()`).
# The other 15 pages stay shared: mapcount 31.

# %%
c = p.fork()
print("after fork: large mapcount", f.large_mapcount, "| exclusive:",
      pg.anon_exclusive, "| shared bit:", f.maybe_shared)
p.write(b + 5 * PAGE_SIZE)
new = p.page_at(b + 5 * PAGE_SIZE)
print(f"after the parent's write: page 5 is {new.folio.label} (order {new.folio.order}); "
      f"{f.label}'s large mapcount {f.large_mapcount}")
show(k.snapshot(), view="graph")

# %% [markdown]
# The rmap walk of the large folio looks up `[index, index + 15]` in the anon_vma's
# interval tree and then checks, in each VMA it finds, every PTE that maps a page of the
# folio (`page_vma_mapped_walk()`):

# %%
from rmapkit.model.rmap import rmap_walk_pages

walk = rmap_walk_pages(f)
for proc in (p, c):
    found = [(a, i) for v, a, level, i in walk if v.vm_mm is proc.mm]
    print(f"{proc.name}: {len(found)} PTEs, pages {sorted(i for _, i in found)}")

# %% [markdown]
# ## Unmapping part of a PMD THP: the PMD splits, the folio stays
#
# `munmap()` of one page inside a PMD THP splits the VMA, and `vma_adjust_trans_huge()`
# splits the PMD: 512 PTEs now map the same folio, each page with mapcount 1 and its own
# PageAnonExclusive. The folio stays one order-9 folio, *partially mapped*, queued for a
# split that only memory pressure would carry out (`deferred_split_folio()`;
# `hugepages-2048kB/stats/split_deferred` counts it). mprotect of part of a PMD, a
# misaligned mremap and a CoW write split the PMD the same way:

# %%
m = run_model(load("thp-partial-munmap"))
for text, snap in m.steps[2:]:
    f = next(f for f in snap.folios if f.order == 9)
    pmd = [pg.pmd for pg in snap.process("P0").pages if pg.present][:1]
    print(f"{text:24s} order {f.order}, PMD-mapped {pmd[0]}, entire {f.entire_mapcount}, "
          f"large {f.mapcount}, partially mapped {f.partially_mapped}")
print("split_deferred:", m.kernel.thp_stats[9]["split_deferred"],
      "| thp_split_pmd:", m.kernel.vmstat["thp_split_pmd"])

# %% [markdown]
# What the model leaves out of large folios (splitting the folio itself, khugepaged, shmem
# THP...) is listed in the README's "Not modelled"; an operation that would need it raises
# `NotImplementedError` rather than guessing.
#
# ## Your kernel
#
# Every case of this chapter is a shipped scenario (`thp-*`, `mthp-*`). As root, `rmapkit`
# sets the sysfs values a scenario asks for (only sizes at `madvise`, which affect nothing
# but `MADV_HUGEPAGE` regions), keeps khugepaged asleep meanwhile, and restores every value
# afterwards, also when the run fails. The live side reads each page's folio order and
# head/tail page from `/proc/kpageflags`, PMD mappings from the `PAGEMAP_SCAN` ioctl and
# `AnonHugePages` from smaps, and the THP counters:

# %%
# NBVAL_IGNORE_OUTPUT
import os

from rmapkit import live
from rmapkit.scenarios import compare_runs, run_live_many
from rmapkit.scenarios.library import names as shipped

THP = [n for n in shipped() if n.startswith(("thp-", "mthp-"))]
if not live.available()[0] or os.geteuid() != 0:
    print("not compared here:", live.available()[1] or "THP scenarios need root")
else:
    for n, k_res in zip(THP, run_live_many([load(n) for n in THP])):
        if k_res.skipped or k_res.error:
            verdict = k_res.skipped or f"live run failed: {k_res.error}"
        else:
            d = compare_runs(run_model(load(n)), k_res)
            verdict = "agree" if not d else f"DIFFER after op {d.step + 1}: {d.op}"
        print(f"  {n:28s} {verdict}")

# %% [markdown]
# ## Explorer: pick a THP size, a region, and what happens to it
#
# `LargeFolioExplorer` enables one THP size (`madvise`), maps a `MADV_HUGEPAGE` region, writes
# one page, and optionally moves the region (to an address that keeps or breaks the folio's
# alignment), forks, and writes again in the parent:

# %%
from rmapkit.widgets import LargeFolioExplorer

lx = LargeFolioExplorer(size="64kB", pages=32)
r = lx.run(fault_page=5, move="misaligned", fork=True, write_page=5)
print({key: r[key] for key in ("order", "index_kept", "pmd", "large_mapcount")})
r = lx.run(size="2048kB", pages=512, fault_page=3, move="aligned", write_page=None)
print({key: r[key] for key in ("order", "index_kept", "pmd", "entire_mapcount")})
r = lx.run(move="misaligned")
print({key: r[key] for key in ("order", "index_kept", "pmd", "large_mapcount")})

# %% [markdown]
# An aligned move keeps the PMD (`move_huge_pmd()`); a misaligned one splits it and moves
# 512 PTEs: the same folio, the same index, now mapped by PTEs in both processes. Try the
# sizes that do not fit the region, or a fault page near its end.

# %% tags=["nbval-ignore-output"]
lx.run(size="64kB", pages=32, fault_page=5, move="misaligned", fork=True, write_page=5)
lx

# %% [markdown]
# ## Exercises
#
# A worked one first: which order does this write get?

# %%
from rmapkit.exercises import check, question

print(question("thp-order", 1).text)

# %%
print(check("thp-order", 1, 2))

# %% [markdown]
# Your turn (answer with a number; `check()` explains with the model's derivation):

# %%
print(question("thp-order", 7).text)

# %%
answer = None          # your answer
print(check("thp-order", 7, answer).message)

# %%
print(question("thp-mapcount", 2).text)

# %%
answer = None          # your answer
print(check("thp-mapcount", 2, answer).message)

# %% [markdown]
# Two questions on why:

# %%
print(question("why", 16).text)

# %%
answer = None          # your answer: a, b, c or d
print(check("why", 16, answer).message)

# %%
print(question("why", 17).text)

# %%
answer = None          # your answer: a, b, c or d
print(check("why", 17, answer).message)

# %% [markdown]
# ## What you now know
#
# * A large folio is one `struct folio` of `2^order` pages with one `index`: page *i* has
#   page offset `index + i`, and rmap walks `[index, index + nr_pages - 1]`.
# * Which order a fault gets is the sysfs settings' (`hugepages-<size>kB/enabled`,
#   `MADV_HUGEPAGE`) and the layout's: the largest enabled order whose aligned block lies in
#   the VMA and is still empty; a PMD THP also needs the block to have no page table yet.
# * Moving, splitting a VMA, unmapping part of it, fork and CoW change how a large folio is
#   *mapped* (PMD or PTEs, how many mappings), never its `index`, and in 6.18 never split
#   the folio by themselves.
# * Every scenario here is a text file (`python -m rmapkit show mthp-mremap-fork`) that
#   `python -m rmapkit diff` replays on your kernel.

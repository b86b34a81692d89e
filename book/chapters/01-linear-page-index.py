# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1 · `linear_page_index`: from an address to a page offset and back
#
# **In this chapter you will learn**
#
# * what `linear_page_index(vma, addr)` computes and where the kernel uses it;
# * its inverse, `vma_address(vma, pgoff, nr_pages)`, including the two ways it fails;
# * why the kernel stores `folio->index = linear_page_index(vma, addr)` in every new folio,
#   and what would break if the two ever disagreed;
# * that file mappings and anonymous mappings use the very same arithmetic.

# %% tags=["remove-cell"]
from rmapkit import Kernel, PAGE_SHIFT, PAGE_SIZE, linear_page_index, rmap_walk, vma_address
from rmapkit.book import ANON, BASE, RW, show
from rmapkit.uapi import MAP_FIXED, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE, O_RDONLY, PROT_READ

# %% [markdown]
# ## The formula
#
# `include/linux/pagemap.h` defines
#
# ```c
# static inline pgoff_t linear_page_index(const struct vm_area_struct *vma,
#                                         const unsigned long address)
# {
#         pgoff_t pgoff;
#         pgoff = (address - vma->vm_start) >> PAGE_SHIFT;
#         pgoff += vma->vm_pgoff;
#         return pgoff;
# }
# ```
#
# The page offset of an address is "how many pages into the VMA" plus the VMA's own
# `vm_pgoff`. There is no range check: the caller must pass an address inside the VMA. (Before
# v6.7 there was a hugetlb branch that counted in huge pages; since then hugetlb folios use
# PAGE_SIZE units too.)
#
# Take a 4-page private anonymous VMA at page 4 of our window. `do_mmap()` gave it
# `vm_pgoff = vm_start >> PAGE_SHIFT` (chapter 2 is about that choice):

# %%
k = Kernel()
p = k.spawn()
start = p.mmap(BASE + 4 * PAGE_SIZE, 4 * PAGE_SIZE, RW, ANON)
vma = p.mm.find_vma(start)
print(f"{vma.id}: [{vma.vm_start:#x}, {vma.vm_end:#x}) vm_pgoff {vma.vm_pgoff:#x}")
for i in range(vma.pages):
    a = start + i * PAGE_SIZE
    print(f"  address {a:#x} -> linear_page_index {linear_page_index(vma, a):#x}")

# %% [markdown]
# ## The way back: `vma_address()`
#
# The reverse map holds a page offset (a folio's `index`) and a candidate VMA, and needs the
# address. `mm/internal.h: vma_address(vma, pgoff, nr_pages)` (6.18; called
# `vma_pgoff_address()` between 5.18 and ~6.10) computes it:
#
# * if `pgoff >= vm_pgoff`: `address = vm_start + ((pgoff - vm_pgoff) << PAGE_SHIFT)`, and
#   `-EFAULT` unless that address is below `vm_end`;
# * if `pgoff < vm_pgoff` (a large folio that starts before the VMA): `vm_start` if the
#   range `[pgoff, pgoff + nr_pages)` reaches into the VMA, otherwise `-EFAULT`.
#
# Note that when the first page is inside, the end of the range is not checked. Round trip:

# %%
for i in range(vma.pages):
    a = start + i * PAGE_SIZE
    idx = linear_page_index(vma, a)
    back = vma_address(vma, idx)
    print(f"{a:#x} -> {idx:#x} -> {back:#x}", "ok" if back == a else "MISMATCH")

# %% [markdown]
# Outside the VMA the two functions behave differently. `linear_page_index()` happily
# extrapolates; `vma_address()` refuses with `-EFAULT` (`-14`), except for the straddling
# large-folio case:

# %%
below, above = start - PAGE_SIZE, vma.vm_end
print("linear_page_index(one page below)", hex(linear_page_index(vma, below)), "(no check)")
print("vma_address(vm_pgoff - 1)        ", vma_address(vma, vma.vm_pgoff - 1))
print("vma_address(vm_pgoff + pages)    ", vma_address(vma, vma.vm_pgoff + vma.pages))
print("vma_address(vm_pgoff - 1, nr_pages=2) == vm_start:",
      vma_address(vma, vma.vm_pgoff - 1, 2) == vma.vm_start)

# %% [markdown]
# ## The same arithmetic for a file
#
# For a file mapping `vm_pgoff` is the file offset in pages (`mmap()`'s `offset >>
# PAGE_SHIFT`). Map three pages of an 8-page file from offset 2 pages, read them, and look
# at the page-cache folios: their `index` is their offset in the file, and it equals
# `linear_page_index()` of the address that maps them. The file's rmap
# (`mm/rmap.c: rmap_walk_file()`) walks the file's `i_mmap` interval tree with that index,
# exactly as the anonymous walk uses the anon_vma's tree.

# %%
k.create_file("/tmp/rmapkit/data", 8 * PAGE_SIZE)
fd = p.open("/tmp/rmapkit/data", O_RDONLY)
fstart = p.mmap(BASE + 12 * PAGE_SIZE, 3 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 2 * PAGE_SIZE)
fvma = p.mm.find_vma(fstart)
p.read(fstart, 3 * PAGE_SIZE)
print(f"{fvma.id}: vm_pgoff {fvma.vm_pgoff} (file offset {fvma.vm_pgoff * PAGE_SIZE:#x})")
for i in range(3):
    a = fstart + i * PAGE_SIZE
    f = p.folio_at(a)
    print(f"  {a:#x}: {f.label} index {f.index} = linear_page_index {linear_page_index(fvma, a)};",
          "rmap ->", [(v.id, hex(x)) for v, x in rmap_walk(f)])

# %%
print(p.maps(), end="")

# %% [markdown]
# `/proc/PID/maps` prints `vm_pgoff << PAGE_SHIFT` in its offset column for the file
# mapping (`0x2000`), and `0` for the anonymous one, although that VMA's `vm_pgoff` is
# `0x200000004`: `fs/proc/task_mmu.c: show_map_vma()` shows the offset only when there is a
# file.
#
# ## Why `folio->index` must match
#
# When a write fault creates an anonymous folio, `mm/rmap.c: folio_add_new_anon_rmap()`
# calls `__folio_set_anon()`, which stores
#
# * `folio->mapping = vma->anon_vma | FOLIO_MAPPING_ANON` (the low bit says "anon_vma, not
#   address_space"), and
# * `folio->index = linear_page_index(vma, address)`.
#
# Every later mapping of that folio must agree: `__page_check_anon_rmap()` asserts
# `page_pgoff(folio, page) == linear_page_index(vma, address)` (a `VM_BUG_ON` on debug
# kernels), and `rmap_walk_anon()` turns `index` back into an address with `vma_address()`.
# Write the anonymous VMA and check the invariant for every page:

# %%
p.write(start, 4 * PAGE_SIZE)
for i in range(vma.pages):
    a = start + i * PAGE_SIZE
    f = p.folio_at(a)
    assert f.index == linear_page_index(vma, a) and vma_address(vma, f.index) == a
    print(f"{a:#x}: {f.label} index {f.index:#x} mapping {f.mapping.label}",
          "rmap ->", [(v.id, hex(x)) for v, x in rmap_walk(f)])

# %% [markdown]
# The picture shows both coordinate systems at once: the address ruler on top, each page's
# `pgoff` (its `linear_page_index()`), and underneath the *virtual anon file*, where every
# anonymous VMA sits at `[vm_pgoff, vm_pgoff + pages - 1]` and every anonymous folio at its
# `index`. The file VMA appears at its offsets in its file. Each dashed arrow joins a VMA to
# where it sits in its file; as long as `vm_pgoff = vm_start >> PAGE_SHIFT`, anonymous VMAs
# sit in the anon file in the same order and with the same gaps as in the address space.

# %%
show(k.snapshot(), view="address")

# %% [markdown]
# ### What a mismatch would do
#
# Nothing in the folio says which VMA it belongs to, only the page offset. Suppose the
# kernel changed a VMA's `vm_pgoff` without rewriting the `index` of its folios. Chapter 4
# shows that `mremap()` of written memory keeps `vm_pgoff` for exactly this reason; here is
# what the arithmetic would give if it had reset `vm_pgoff` to the new address instead
# (as it does for memory that was never written). Move the VMA 16 pages up:

# %%
new = p.mremap(start, 4 * PAGE_SIZE, 4 * PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 20 * PAGE_SIZE)
moved = p.mm.find_vma(new)
f = p.folio_at(new + PAGE_SIZE)
print(f"moved VMA [{moved.vm_start:#x}, {moved.vm_end:#x}) keeps vm_pgoff {moved.vm_pgoff:#x}")
print(f"{f.label}: index {f.index:#x}; vma_address -> {vma_address(moved, f.index):#x}")

def vma_address_if_pgoff(vma, vm_pgoff, index):
    # vma_address(vma, index, 1) of mm/internal.h, as if vma->vm_pgoff were vm_pgoff
    if index < vm_pgoff:
        return -14                                   # -EFAULT
    a = vma.vm_start + ((index - vm_pgoff) << PAGE_SHIFT)
    return a if a < vma.vm_end else -14

reset = new >> PAGE_SHIFT                            # the hypothetical vm_pgoff
print(f"if vm_pgoff were {reset:#x}: vma_address -> {vma_address_if_pgoff(moved, reset, f.index)}")

# %% [markdown]
# With the pgoff reset, the walk would no longer find the page: the VMA's avc would be keyed
# by its new offsets, so the interval-tree query for the folio's `index` would not return the
# VMA at all, and asked directly, `vma_address()` refuses. Reclaim could not unmap the page
# and migration could not move it. So either the VMA keeps its old `vm_pgoff` (what Linux
# does for written memory), or every folio's `index` is rewritten (what a 2025 proposal,
# `MREMAP_RELOCATE_ANON`, would have done; it was not merged as of 6.18).
#
# Cost: `linear_page_index()` and `vma_address()` are O(1); the rmap walk that uses them
# is O(log n + k) for an interval tree of n avcs with k overlapping the index.

# %% [markdown]
# ## Playground: move an address through a VMA
#
# `PageIndexExplorer` maps one VMA (here 4 pages of anonymous memory at page 4 of the
# window, written so every page has a folio) and explains, for any address, the
# `linear_page_index()` and `vma_address()` arithmetic with the model's own functions, and
# whether the folio there has the matching `index`. `show(addr)` returns the text:

# %%
from rmapkit.widgets import PageIndexExplorer

ex = PageIndexExplorer(vm_start_page=(BASE >> PAGE_SHIFT) + 4, pages=4)
print(ex.show(BASE + 5 * PAGE_SIZE + 0x678))
print(ex.show(BASE + 2 * PAGE_SIZE))

# %% [markdown]
# Note the second answer: for an address *below* the VMA, `find_vma()` (which returns the
# first VMA that ends above the address) does return `vma0`; it is the caller that checks
# `addr < vm_start` (the fault path's `lock_mm_and_find_vma()` gives up unless the VMA is a
# `VM_GROWSDOWN` stack), and `vma_lookup()` answers "no VMA". Either way no fault or rmap
# walk computes an index for that address in `vma0`.
#
# The widget puts the address on a slider. Slide it across a page boundary and watch the
# index change only there; try `PageIndexExplorer(vm_start_page=(BASE >> PAGE_SHIFT) + 4,
# pages=4, vm_pgoff=2)` for a private file mapping at file page 2.

# %% tags=["nbval-ignore-output"]
ex

# %% [markdown]
# ## Exercises
#
# Each question is made from a seed by `rmapkit.exercises` (the same seed gives the same
# question everywhere, also on the command line: `python -m rmapkit.exercises KIND -s
# SEED`, with `-c` for the answer). First a worked one:

# %%
from rmapkit.exercises import check, question

print(question('page-index', 9).text)

# %% [markdown]
# The file mapping starts at page 3 and maps the file from offset 3 pages, so its
# `vm_pgoff` is 3. Page 3 is 0 pages into the VMA: `linear_page_index()` = 0 + 3, file
# page 3:

# %%
check('page-index', 9, 3)

# %% [markdown]
# Your turn. Put your answer in place of `None` and run the cell. A wrong answer first gets a
# hint: the idea or the step to look at, not the value. A second wrong answer (or
# `solution(kind, seed)`, from `rmapkit.exercises`) shows the worked explanation with its
# diagram.

# %%
print(question('page-index', 1).text)

# %%
answer = None
check('page-index', 1, answer)

# %%
print(question('page-index', 3).text)

# %%
answer = None
check('page-index', 3, answer)

# %%
print(question('page-index', 4).text)

# %%
answer = None
check('page-index', 4, answer)

# %% [markdown]
# ### Why?
#
# Two questions about the ideas rather than the numbers. Answer with a letter; a wrong
# letter first tells you why that option does not hold.

# %%
print(question('why', 2).text)

# %%
answer = None
check('why', 2, answer)

# %%
print(question('why', 3).text)

# %%
answer = None
check('why', 3, answer)

# %% [markdown]
# ## What you now know
#
# * `linear_page_index(vma, addr) = ((addr - vm_start) >> PAGE_SHIFT) + vm_pgoff`, with no
#   range check; `vma_address(vma, pgoff)` inverts it and answers `-EFAULT` outside the VMA.
# * Every new folio gets `index = linear_page_index()` of the address it was faulted at, and
#   must keep matching every VMA that maps it: rmap has nothing else to go on.
# * File and anonymous mappings use the same arithmetic; only where `vm_pgoff` comes from
#   differs (the file offset, or for anonymous memory the address: chapter 2).

# %% [markdown]
# **Next:** chapter 2, the virtual anon file: why `vm_pgoff = vm_start >> PAGE_SHIFT` for
# anonymous memory.

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6 · `remap_pfn_range()` and its reuse of `vm_pgoff`
#
# **In this chapter you will learn**
#
# * what `remap_pfn_range()` puts into a VMA: raw page frame numbers (PFNs) with no
#   `struct page` behind them, as "special" PTEs;
# * why, on a **private** (copy-on-write) mapping, it overwrites `vm_pgoff` with the first
#   PFN and insists on covering the whole VMA, and why shared mappings keep the file offset;
# * how `vm_normal_page()` tells a remapped frame from a page that copy-on-write put there,
#   with and without the `pte_special` bit;
# * what a write to such a mapping does, and why these VMAs never merge.

# %% tags=["remove-cell"]
from rmapkit import Kernel, PAGE_SHIFT, PAGE_SIZE
from rmapkit.book import BASE, RW, figure, pages_of
from rmapkit.uapi import MAP_FIXED, MAP_PRIVATE, MAP_SHARED, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE

# %% [markdown]
# ## A driver that maps frames
#
# A device driver's `->mmap` hook often calls `remap_pfn_range(vma, addr, pfn, size, prot)`
# to map device memory (registers, a frame buffer, a ring buffer) straight into the process.
# These frames usually have no `struct page` (they are not RAM the page allocator manages),
# so there is no folio, no `mapping`, no `index`, and rmap never sees them.
#
# `mm/memory.c: remap_pfn_range_internal()` (6.18):
#
# * always sets `VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP`;
# * installs every PTE with `pte_mkspecial(pfn_pte(pfn++, prot))`;
# * and, **if the mapping is a COW mapping**, `is_cow_mapping(vm_flags)`, meaning
#   `(vm_flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE` (private, and could become
#   writable), first requires the call to cover the whole VMA (`addr == vm_start` and
#   `addr + size == vm_end`, else `-EINVAL`) and then sets **`vma->vm_pgoff = pfn`**.
#
# The model has such a device: `k.create_device(path, pfn_base, npages)` makes a character
# device whose `->mmap` calls `remap_pfn_range(vma, vm_start, pfn_base + vm_pgoff, size)`.
# Map 4 pages of it privately, at file offset 0 and then at offset 2:

# %%
k = Kernel()
k.create_device("/tmp/rmapkit/mydev", 0x80000, 8)      # device frames 0x80000 .. 0x80007
p = k.spawn()
fd = p.open("/tmp/rmapkit/mydev")
a = p.mmap(BASE, 4 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
b = p.mmap(BASE + 8 * PAGE_SIZE, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 2 * PAGE_SIZE)
for v in k.snapshot().process("P0").vmas:
    print(f"{v.id} {pages_of(v)} vm_pgoff {v.vm_pgoff:#x}  VmFlags {' '.join(v.vm_flags)}")
print(p.maps(), end="")

# %% [markdown]
# `vm_pgoff` is now the first PFN (`0x80000`, and `0x80002` for the mapping at offset 2),
# and `/proc/PID/maps` prints it as the "offset" (`80000000` = `0x80000 << PAGE_SHIFT`): a
# private PFN mapping leaks its physical frame number into maps. `pf io de dd` in VmFlags
# are `VM_PFNMAP`, `VM_IO`, `VM_DONTEXPAND` and `VM_DONTDUMP`.
#
# ## Why the PFN goes into `vm_pgoff`: `vm_normal_page()`
#
# Code that walks page tables (`zap_pte_range()`, `copy_present_ptes()` at fork,
# `get_user_pages()`, `/proc/PID/smaps`, …) calls `mm/memory.c: vm_normal_page(vma, addr, pte)`
# to ask "is there a `struct page` I may touch behind this PTE?". For a remapped frame
# the answer must be *no*. For a page that a copy-on-write fault put into the same VMA it
# must be *yes*: that is an ordinary anonymous folio with a refcount and a `mapping`.
#
# * On architectures **with** `pte_special` (`CONFIG_ARCH_HAS_PTE_SPECIAL`: x86-64, arm64,
#   powerpc, riscv, s390, …) the answer is in the PTE: a special PTE is no normal page
#   (unless `vm_ops->find_normal_page` says otherwise), and a CoW copy is installed as a
#   normal PTE. `vm_pgoff` is then irrelevant.
# * On architectures **without** it, the only information is the VMA. In a `VM_PFNMAP` VMA,
#   with `off = (addr - vm_start) >> PAGE_SHIFT`: if `pfn == vm_pgoff + off` it is an
#   original remapped frame (no page); else, if the mapping is not a COW mapping, also no
#   page; else it is a normal page (a CoW copy). That test works only if every original frame
#   sits at `vm_pgoff + off`, which is why a COW mapping must be remapped whole, linearly,
#   with the PFN in `vm_pgoff`. (6.18 reworked this code into `__vm_normal_page()` with the
#   same rules.)
#
# The model's `vm_normal_page()` implements the second rule (the one that needs `vm_pgoff`);
# on x86-64 both give the same answers. Read every page, then write page 1:

# %%
from rmapkit import vm_normal_page

vma = p.mm.find_vma(a)
p.read(a, 4 * PAGE_SIZE)
p.write(a + PAGE_SIZE)
for i in range(4):
    addr = a + i * PAGE_SIZE
    pte = p.mm.pgtable[addr]
    page = vm_normal_page(vma, addr, pte)
    print(f"page {i}: pfn {pte.pfn:#x} special {pte.special!s:5}  vm_pgoff + off = {vma.vm_pgoff + i:#x}  ->",
          "raw frame, no page" if page is None else f"normal page {page.label} (index {page.index:#x}, mapping {page.mapping.label})")

# %% [markdown]
# ## What a write does
#
# The mapping is private, so the PTEs are read-only even though the VMA is writable; the
# write to page 1 is a copy-on-write fault. `do_wp_page()` finds no page
# (`vm_normal_page()` is NULL) and goes to `wp_page_copy()`, which copies the 4 KiB from the
# user address (there is no `struct page` to copy from) into a new anonymous folio. That
# needs an anon_vma, so the PFN mapping got one (`av0`), and the folio's `index` is
# `linear_page_index(vma, addr)`, which here is `vm_pgoff + 1`: a **PFN-based** index. It
# is consistent (the VMA is the folio's "virtual file" and `vma_address()` finds it again),
# just in another number space than ordinary anonymous memory. This is the book's figure:

# %%
figure("remap-pfn")

# %%
figure("remap-pfn-graph")

# %% [markdown]
# ## Linearity survives split and move
#
# The `pfn == vm_pgoff + off` rule must hold for the rest of the VMA's life. `__split_vma()`
# gives the upper piece `vm_pgoff + offset`, and `mremap()` keeps the linear `pgoff` of the
# moved range (chapter 4), so both preserve it. Unmap page 2:

# %%
p.munmap(a + 2 * PAGE_SIZE, PAGE_SIZE)
for v in p.mm.vmas_in(a, a + 4 * PAGE_SIZE):
    for addr in range(v.vm_start, v.vm_end, PAGE_SIZE):
        pte = p.mm.pgtable[addr]
        off = (addr - v.vm_start) >> PAGE_SHIFT
        print(f"{v.id} {pages_of(v)} vm_pgoff {v.vm_pgoff:#x}: page {(addr - BASE) >> PAGE_SHIFT} pfn {pte.pfn:#x}",
              "== vm_pgoff + off" if pte.pfn == v.vm_pgoff + off else "(a CoW copy)")

# %% [markdown]
# ## Never merged, never grown
#
# `VM_IO`, `VM_DONTEXPAND`, `VM_PFNMAP` and `VM_MIXEDMAP` together are `VM_SPECIAL`. If the
# proposed flags of a merge contain any of them, `vma_merge_new_range()` and
# `vma_merge_existing_range()` give up at once, and a special neighbour never matches a plain
# proposal because the flags differ. So these VMAs never merge, even two shared mappings of
# the same device at continuing offsets (a shared mapping is no COW mapping, so `vm_pgoff`
# stays the file offset):

# %%
s0 = p.mmap(BASE + 16 * PAGE_SIZE, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0)
s1 = p.mmap(BASE + 18 * PAGE_SIZE, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 2 * PAGE_SIZE)
for v in p.mm.vmas_in(s0, s1 + 2 * PAGE_SIZE):
    print(f"{v.id} {pages_of(v)} vm_pgoff {v.vm_pgoff}")

# %% [markdown]
# `mremap()` cannot grow them (`VM_DONTEXPAND | VM_PFNMAP` → `-EFAULT`) and refuses
# `MREMAP_DONTUNMAP` (`-EINVAL`), but can move them. At `fork()` their page tables are
# always copied (`vma_needs_copy()`), because the child could not fault raw frames back in.

# %%
for name, call in (("grow", lambda: p.mremap(s0, 2 * PAGE_SIZE, 3 * PAGE_SIZE, MREMAP_MAYMOVE)),
                   ("DONTUNMAP", lambda: p.mremap(s0, 2 * PAGE_SIZE, 2 * PAGE_SIZE,
                                                  MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, BASE + 24 * PAGE_SIZE)),
                   ("move", lambda: hex(p.mremap(s0, 2 * PAGE_SIZE, 2 * PAGE_SIZE,
                                                 MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 24 * PAGE_SIZE)))):
    try:
        print(f"{name:9s} ->", call())
    except OSError as e:
        print(f"{name:9s} -> {e}")

# %% [markdown]
# ## On a real machine
#
# Chapter 7 runs scenarios on your kernel, but not this one: no device on a typical machine
# lets user space make a *private* `remap_pfn_range()` mapping (`/dev/mem` is often absent
# or restricted, and the `perf_event_open()` ring buffer, a real `remap_pfn_range()` user,
# is `MAP_SHARED` only). The shipped scenarios `remap-pfn-private` and `remap-pfn-shared`
# are therefore marked `model-only`.
#
# ## Playground
#
# A private mapping of a 4-page device whose frames start at PFN `0x80000` (the same device as above, as a scenario names it), read, page 1
# written, page 2 unmapped. Try writing page 3, moving page 3 somewhere else, growing the
# first VMA (refused), or `fork` and writes in the child.

# %%
from rmapkit.widgets import Playground

scenario = '''
model-only a private remap_pfn_range() mapping cannot be made from user space
window 8
device mydev 4 pfn=0x80000
P0: open mydev rw as D
P0: mmap 0 4 rw private fd=D
P0: read 0 4
P0: write 1
P0: munmap 2 1
'''
pg = Playground(scenario, view="address")
print(pg.apply("P0: write 3"), pg.apply("P0: mremap 0 2 3"), "->", pg.error)
print(pg.text())
print("back to the start:", pg.reset())

# %% tags=["nbval-ignore-output"]
pg

# %% [markdown]
# ## Exercises
#
# Each question is made from a seed by `rmapkit.exercises` (the same seed gives the same
# question everywhere, also on the command line: `python -m rmapkit.exercises KIND -s
# SEED`, with `-c` for the answer). First a worked one:

# %%
from rmapkit.exercises import check, question

print(question('pfn', 7).text)

# %% [markdown]
# A private mapping of the device at file page 3: its `->mmap` calls
# `remap_pfn_range(vma, vm_start, 0x80000 + 3, size)`, which, for a COW mapping, stores the
# first PFN in `vm_pgoff`. Page 1 is the VMA's first page: `0x80003`.

# %%
check('pfn', 7, 524291)

# %% [markdown]
# Your turn. Put your answer in place of `None` and run the cell. A wrong answer first gets a
# hint: the idea or the step to look at, not the value. A second wrong answer (or
# `solution(kind, seed)`, from `rmapkit.exercises`) shows the worked explanation with its
# diagram.

# %%
print(question('pfn', 2).text)

# %%
answer = None
check('pfn', 2, answer)

# %%
print(question('normal', 3).text)

# %%
answer = None
check('normal', 3, answer)

# %% [markdown]
# ### Why?
#
# Two questions about the ideas rather than the numbers. Answer with a letter; a wrong
# letter first tells you why that option does not hold.

# %%
print(question('why', 12).text)

# %%
answer = None
check('why', 12, answer)

# %%
print(question('why', 13).text)

# %%
answer = None
check('why', 13, answer)

# %% [markdown]
# ## What you now know
#
# * `remap_pfn_range()` maps raw frames with special PTEs (`VM_IO | VM_PFNMAP | ...`); on a
#   private (COW) mapping it must cover the whole VMA and stores the first PFN in `vm_pgoff`.
# * `vm_normal_page()` tells an original frame (`pfn == vm_pgoff + offset`, no page) from a
#   copy-on-write copy (a normal anonymous folio) with that `vm_pgoff` where there is no
#   `pte_special` bit.
# * Splits and moves keep the line; `VM_SPECIAL` mappings never merge and never grow.

# %% [markdown]
# **Next:** chapter 7, your kernel: the chapters' scenarios run on the machine in front of
# you, beside the model.

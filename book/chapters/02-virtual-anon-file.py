# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2 · The virtual anon file
#
# **In this chapter you will learn**
#
# * why `do_mmap()` gives private anonymous memory `vm_pgoff = vm_start >> PAGE_SHIFT`;
# * how that turns all anonymous memory of a process into one *virtual file*, whose page `i`
#   lives at address `i << PAGE_SHIFT`;
# * why VMA merging then needs no special case for anonymous memory: the file rule
#   "offsets must continue" does the job;
# * the `[anon0][fd][anon1]` example and "mmap before an existing VMA" from the discussion
#   this book grew out of;
# * where the view breaks (and that it does so on purpose).

# %% tags=["remove-cell"]
from rmapkit import Kernel, PAGE_SHIFT, PAGE_SIZE
from rmapkit.book import ANON, BASE, RW, figure, pages_of, show
from rmapkit.scenarios import load, run_model
from rmapkit.uapi import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, O_RDONLY, PROT_READ

# %% [markdown]
# ## Where the number comes from
#
# `mm/mmap.c: do_mmap()` picks the address first (`__get_unmapped_area()`, or the caller's
# with `MAP_FIXED`) and then, for a private anonymous mapping, sets
#
# ```c
# case MAP_PRIVATE:
#         /*
#          * Set pgoff according to addr for anon_vma.
#          */
#         pgoff = addr >> PAGE_SHIFT;
#         break;
# ```
#
# A shared anonymous mapping takes the other branch: `pgoff = 0`, and
# `shmem_zero_setup()` gives it a shmem file of its own. It is not anonymous memory for the
# kernel at all (its pages are page-cache pages, found through the file's `i_mmap`). `brk()`
# does the same as `mmap()` for a new heap VMA (`mm/vma.c: do_brk_flags()`), and so does
# `insert_vm_struct()` for an anonymous VMA.

# %%
k = Kernel()
p = k.spawn()
a = p.mmap(BASE, 2 * PAGE_SIZE, RW, ANON)
s = p.mmap(BASE + 8 * PAGE_SIZE, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)
for v in p.mm.vmas:
    print(f"{v.id} [{v.vm_start:#x}, {v.vm_end:#x}) vm_pgoff {v.vm_pgoff:#x}",
          "anonymous" if v.is_anonymous() else f"file {v.vm_file.name}")


# %% [markdown]
# ## One virtual file for all anonymous memory
#
# Picture a file as large as the address space, where page `i` is the page at virtual
# address `i << PAGE_SHIFT`. A private anonymous VMA `[vm_start, vm_end)` maps that file from
# offset `vm_start >> PAGE_SHIFT` on, *linearly*, exactly like a file mapping maps its file
# from `vm_pgoff` on. Every anonymous folio gets `index = linear_page_index(vma, addr)`
# (chapter 1), which at creation time is just `addr >> PAGE_SHIFT`: its page number in the
# virtual file.
#
# Nothing is stored for this "file". It is a convention that makes the numbers of all
# anonymous VMAs and folios of a process consistent with each other, and it is what lets
# the kernel reuse everything it does for files: interval trees keyed by page offset, and
# the merge rules.
#
# The book's `anon-file` figure draws both coordinate systems of one process. On top, the
# address space: window pages (page k is `BASE` + k pages), each page's `pgoff` (its
# `linear_page_index()`, written p+k, where p = `BASE >> PAGE_SHIFT` is the pgoff of page
# 0) and the VMAs. Below, the virtual anon file: each anonymous VMA at `[vm_pgoff, vm_pgoff
# + pages - 1]` and each anonymous folio at its `index`. The VMAs mapped fresh sit in the
# file exactly where they sit in the address space, gaps included: page k at p+k. One page
# was written and then moved to page 8 by `mremap()` (chapter 4 explains why it keeps its
# offset): it is at page 8 but at p+1, and its dashed arrow crosses the others. Its address
# changed; its `vm_pgoff`, and its folio's `index`, did not.

# %%
figure("anon-file")

# %% [markdown]
# ## Merging: the file rule
#
# When a new or changed range `[start, end)` with page offset `pgoff` touches a neighbour,
# `mm/vma.c` may merge them into one VMA. Besides equal flags, the same `struct file`,
# mempolicy, userfaultfd context and anon name (`is_mergeable_vma()`), the offsets must
# continue:
#
# * `can_vma_merge_after(prev)`: `prev->vm_pgoff + vma_pages(prev) == pgoff`;
# * `can_vma_merge_before(next)`: `next->vm_pgoff == pgoff + ((end - start) >> PAGE_SHIFT)`.
#
# For a file that simply says: the merged VMA must still map the file linearly. Here is the
# offset half of that test in Python, tried on file mappings first:

# %%
def offsets_continue(prev, nxt):
    # the vm_pgoff part of can_vma_merge_after() / can_vma_merge_before(), mm/vma.c
    return prev.vm_pgoff + prev.pages == nxt.vm_pgoff

k.create_file("/tmp/rmapkit/data", 8 * PAGE_SIZE)
fd = p.open("/tmp/rmapkit/data", O_RDONLY)
f0 = p.mmap(BASE + 16 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0)
f1 = p.mmap(BASE + 18 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 2 * PAGE_SIZE)
for v in p.mm.vmas:
    if v.vm_file is not None and v.vm_file.name.endswith("data"):
        print(f"{v.id} pages {pages_of(v)} of the window, {v.pages} pages, vm_pgoff {v.vm_pgoff}")

# %% [markdown]
# The second mapping continued the first one's offsets, so `vma_merge_new_range()` simply
# extended the first VMA: one VMA of 4 pages. Now map file page 5 right after it (offsets
# do not continue), and then file page 6 through a second `open()` of the same file
# (offsets continue, but `is_mergeable_vma()` compares the `struct file` pointers, and that is a
# different struct file):

# %%
p.mmap(BASE + 20 * PAGE_SIZE, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 5 * PAGE_SIZE)
fd2 = p.open("/tmp/rmapkit/data", O_RDONLY)
p.mmap(BASE + 21 * PAGE_SIZE, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd2, 6 * PAGE_SIZE)
files = [v for v in p.mm.vmas if v.vm_file and v.vm_file.name.endswith("data")]
for prev, nxt in zip(files, files[1:]):
    print(f"{prev.id} pgoff {prev.vm_pgoff} + {prev.pages} pages | {nxt.id} pgoff {nxt.vm_pgoff}:",
          "offsets continue" if offsets_continue(prev, nxt) else "offsets do not continue",
          "| same struct file" if prev.vm_file is nxt.vm_file else "| another struct file")

# %% [markdown]
# Anonymous memory goes through the very same code. Two private anonymous mappings placed
# side by side always continue each other's offsets, because both offsets are their
# addresses, so the second `mmap()` below extends the first VMA, whose `vm_pgoff` stays
# the same:

# %%
b0 = p.mmap(BASE + 24 * PAGE_SIZE, 2 * PAGE_SIZE, RW, ANON)
b1 = p.mmap(BASE + 26 * PAGE_SIZE, 2 * PAGE_SIZE, RW, ANON)
v = p.mm.find_vma(b0)
print(f"{v.id} [{v.vm_start:#x}, {v.vm_end:#x}) vm_pgoff {v.vm_pgoff:#x} = vm_start >> PAGE_SHIFT:",
      v.vm_pgoff == v.vm_start >> PAGE_SHIFT)

# %% [markdown]
# Had the kernel given every anonymous VMA `vm_pgoff = 0` (as it does for shared anonymous
# memory, where each mapping is its own file), these two would not continue each other
# (`0 + 2 != 0`), and merging them would have meant renumbering every folio of the second
# one. With offsets taken from the address, splitting and merging never touch a folio.
#
# The shared anonymous mappings at page 8 show the other side: each has its own shmem file
# and `vm_pgoff` 0, so two adjacent ones never merge (different `struct file`):

# %%
s2 = p.mmap(BASE + 10 * PAGE_SIZE, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)
print(p.maps(), end="")

# %% [markdown]
# ## The `[anon0][fd][anon1]` example
#
# The discussion this book grew out of (Lorenzo Stoakes' reply to David Hildenbrand on the linux-mm mailing list, April
# 2023 (archived at [lore.kernel.org/linux-mm](https://lore.kernel.org/linux-mm/)),
# chapter 0) asked: map `anon0`, a page of a file (`fd`) and
# `anon1` side by side; write `anon0`; then map anonymous memory over the file page with
# `MAP_FIXED`. What do you get?
#
# The new range sits at page 2, so its `pgoff` is page 2 of the virtual file: it continues
# `anon0` (pages 0–1) and is continued by `anon1` (pages 3–4). `MAP_FIXED` first takes the
# file page's VMA out of the way (`mm/vma.c: __mmap_region()` gathers it with
# `vms_gather_munmap_vmas()` and frees it once the new mapping is in place), then
# `vma_merge_new_range()` finds both neighbours compatible and
# extends `anon0` over the new range *and* `anon1`, removing `anon1`'s VMA: one VMA
# `[0, 5)`. The anon_vma side of the rule (`is_mergeable_anon_vma()`) allows it because at
# most one of the three has an anon_vma (`anon0`'s), and the merged VMA keeps it.
#
# That is the shipped scenario `anon0-fd-anon1`:

# %%
res = run_model(load("anon0-fd-anon1"))
for text, snap in res.steps[1:]:
    vmas = snap.process("P0").vmas
    print(f"{text:42s}", "  ".join(pages_of(v) + (f" {v.anon_vma}" if v.anon_vma else "") for v in vmas))

# %%
show(res.snapshot, view="address")

# %% [markdown]
# If *both* `anon0` and `anon1` were written first, each got its own anon_vma (they were
# never adjacent, so `anon_vma_prepare()` could not share one). A VMA has exactly one
# `anon_vma`, so the three cannot become one. `can_vma_merge_right()` refuses the right
# side when prev and next have different non-NULL anon_vmas, and the new range joins the
# left side only: `[0, 3)` and `[3, 5)`.

# %%
res2 = run_model(load("anon0-fd-anon1-both-faulted"))
for v in res2.snapshot.process("P0").vmas:
    print(pages_of(v), f"vm_pgoff {v.vm_pgoff:#x} anon_vma {v.anon_vma}")

# %% [markdown]
# ## `mmap()` before an existing VMA
#
# The second example from the discussion: a VMA at pages 4–5 has been written (it has an
# anon_vma and two folios with `index` = page 4 and page 5 of the virtual file). Now map two
# pages right before it. The new range's `pgoff` is page 2, and `2 + 2 == 4` continues into
# the existing VMA: `can_vma_merge_before()` holds. `vma_merge_new_range()` keeps the
# existing struct, extends it *down* to page 2 and lowers its `vm_pgoff` by two pages. The
# old folios need no change: `vm_pgoff + (addr - vm_start) >> PAGE_SHIFT` still gives
# their index. A write to the new page 2 then uses the VMA's anon_vma.

# %%
res = run_model(load("mmap-before"))
for text, snap in res.steps:
    print(f"{text:30s}", [(v.id, f"vm_pgoff {v.vm_pgoff:#x}", v.anon_vma) for v in snap.process("P0").vmas])
print("folio index:", {hex(pg.addr): hex(pg.index) for pg in res.snapshot.process("P0").pages if pg.index is not None})

# %%
show(res.snapshot, view="address")

# %% [markdown]
# ## Where the view breaks
#
# The virtual file is a convention kept at creation time, not an invariant. Three things
# break `vm_pgoff == vm_start >> PAGE_SHIFT` for anonymous VMAs (`vma_is_anonymous()`:
# no `vm_ops`):
#
# * **`mremap()` of written memory** keeps `vm_pgoff` (chapter 4): the folios' `index`
#   values cannot change, so the VMA keeps the offsets it had.
# * **the initial stack**: exec creates it at the top of the address space and
#   `mm/vma_exec.c: relocate_vma_down()` moves it down keeping its `vm_pgoff`; growing down
#   then lowers `vm_pgoff` page by page (`expand_downwards()`). The model does not model
#   exec or stacks.
# * **a private mapping of `/dev/zero`**: `drivers/char/mem.c` makes the VMA anonymous
#   (`vm_ops = NULL`) but it keeps `vm_file` and the `offset` the caller passed, so its
#   `vm_pgoff` is that offset, not the address (`/proc/PID/maps` shows it in the offset
#   column), and it never merges with plain anonymous memory (different `vm_file`).
#
# (Chapter 6 shows a fourth number space: a private `remap_pfn_range()` VMA, not anonymous
# but with anonymous copy-on-write folios, whose `vm_pgoff` is a PFN.)
#
# What never breaks is the invariant of chapter 1: every anonymous folio's `index` equals
# `linear_page_index()` of every address that maps it.
#
# Cost: the merge checks are O(1) per neighbour; finding the neighbours is O(log n) in the
# maple tree.

# %% [markdown]
# ## Playground: merging in the virtual file
#
# The playground starts with the `[anon0][fd][anon1]` scenario before its last step. Replay
# the last step (`P0: mmap 2 1 rw private anon fixed`), undo it, write page 3 first and try
# again; map anonymous memory right *after* the last VMA, or at a page that leaves a gap.
# The address view shows each VMA's place in the virtual anon file.

# %%
from rmapkit.widgets import Playground

start = "\n".join(line for line in load("anon0-fd-anon1").text().splitlines()[:-1])
pg = Playground(start, view="address")
print(pg.apply("P0: mmap 2 1 rw private anon fixed"))
print(pg.text())
pg.undo()
print(pg.apply("P0: write 3 2"), pg.apply("P0: mmap 2 1 rw private anon fixed"))
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

print(question('merge', 3, allow='mmap').text)

# %% [markdown]
# A VMA at pages `[2, 4)` with `vm_pgoff` p+2, then two pages mapped at page 4. The new
# range's `vm_pgoff` is its address, p+4, and p+2 + 2 pages = p+4: the offsets continue.
# The flags agree and neither has an anon_vma, so `vma_merge_new_range()` extends the first
# VMA. Yes (`True`):

# %%
check('merge', 3, True, allow='mmap')

# %% [markdown]
# Your turn. Put your answer in place of `None` and run the cell. A wrong answer first gets a
# hint: the idea or the step to look at, not the value. A second wrong answer (or
# `solution(kind, seed)`, from `rmapkit.exercises`) shows the worked explanation with its
# diagram.

# %%
print(question('merge', 9, allow='mmap').text)

# %%
answer = None
check('merge', 9, answer, allow='mmap')

# %%
print(question('merge', 12, allow='mmap').text)

# %%
answer = None
check('merge', 12, answer, allow='mmap')

# %% [markdown]
# ### Why?
#
# Two questions about the ideas rather than the numbers. Answer with a letter; a wrong
# letter first tells you why that option does not hold.

# %%
print(question('why', 4).text)

# %%
answer = None
check('why', 4, answer)

# %%
print(question('why', 5).text)

# %%
answer = None
check('why', 5, answer)

# %% [markdown]
# ## What you now know
#
# * Private anonymous memory gets `vm_pgoff = vm_start >> PAGE_SHIFT`: page i of one virtual
#   file sits at address `i << PAGE_SHIFT`, so fresh VMAs sit in that file where they sit in
#   the address space.
# * Merging then needs no special case: the file rule "offsets must continue" (plus equal
#   flags, same file, compatible anon_vmas) merges side-by-side anonymous mappings without
#   touching a folio.
# * Two different anon_vmas never merge (`[anon0][fd][anon1]` with both sides written).
# * The convention breaks where a written range moves (chapter 4), for the stack and for a
#   private `/dev/zero` mapping; the invariant of chapter 1 never breaks.

# %% [markdown]
# **Next:** chapter 3, the split example: what happens to all this when a VMA is cut in
# two.

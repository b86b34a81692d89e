# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 0 · Start here
#
# This book explains one idea of the Linux memory manager: how the kernel finds, from a
# page of anonymous memory alone, every place in every process that maps it (the *reverse
# map*, or rmap), and why that works by treating anonymous memory as a *virtual file*. Each
# chapter is a notebook that runs **rmapkit**, an executable model of Linux 6.18's
# `mm/` code, so every picture is drawn from a model you can change.
#
# **In this chapter you will learn**
#
# * how a chapter is laid out and how to run it, change it and check yourself;
# * the four objects the book is about: the VMA (`struct vm_area_struct`), the folio
#   (`struct folio`), the `struct anon_vma` and the `struct anon_vma_chain` (avc);
# * how they point at each other, in one picture;
# * how to drive the model (`Kernel`, `spawn()`, `mmap()`, `write()`, `maps()`), the
#   playground widget and the exercises.

# %% [markdown]
# ## How to read a chapter
#
# Every chapter opens with its learning goals, explains an idea in prose, and then shows it
# in a few short code cells. Run the cells from the top (*Run → Run All Cells* in
# JupyterLab); each chapter takes a few seconds. Then change things: every code cell is
# yours to edit. Near the end of each chapter there is one **playground** (a widget with
# buttons and fields that re-draws the diagram after every step) and a few **exercises**
# (questions made from a seed, checked by the model).
#
# Names are the kernel's own: a function called `vma_address()` in the model mirrors
# `vma_address()` in `mm/internal.h`, and its docstring says which kernel function and
# version it follows and what it leaves out. Keep the kernel source open beside the book
# ([elixir.bootlin.com](https://elixir.bootlin.com/linux/v6.18/source) is convenient). The
# model follows **Linux 6.18** including the January 2026 stable fixes (6.18.y); where
# behaviour changed in an earlier release (6.16 is the big one for merging), the chapter
# says so.
#
# The book grew out of one discussion: Lorenzo Stoakes' reply to David Hildenbrand on the linux-mm mailing list, April
# 2023 (archived at [lore.kernel.org/linux-mm](https://lore.kernel.org/linux-mm/)),
# which explains anonymous memory as a virtual file and works through the examples of
# chapters 2 and 3 (`[anon0][fd][anon1]`, "mmap before an existing VMA", the split of a
# three-page VMA). The chapters cite it as "the discussion".
#
# Everything the model prints is deterministic. There is no address-space randomisation:
# the chapters put their mappings at fixed addresses with `MAP_FIXED`, starting at
# `0x200000000000` (far below where `mmap()` places things by itself), and objects are named
# by labels (`vma0`, `av0`, `folio0`) instead of kernel pointers.

# %% tags=["remove-cell"]
from rmapkit import Kernel, PAGE_SHIFT, PAGE_SIZE, rmap_walk
from rmapkit.book import BASE, show
from rmapkit.scenarios import load, run_model
from rmapkit.uapi import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE

# %% [markdown]
# The cell above imports what every chapter uses: the model (`Kernel`), the constants of
# the kernel's uapi headers (`PROT_*`, `MAP_*`), `show()`, which draws a snapshot of the
# model, `figure()`, which draws one of the book's figures (the files in `figures/`) from
# its scenario, and `BASE`, the fixed address where our mappings start.
#
# ## A process and a mapping
#
# A `Kernel` is one simulated machine; `spawn()` gives it a process with an empty address
# space, and the process's methods are its system calls. Map four pages of private
# anonymous memory, readable and writable, at `BASE`:

# %%
k = Kernel()
p = k.spawn()
addr = p.mmap(BASE, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
print(hex(addr))
print(p.maps(), end="")

# %% [markdown]
# `p.maps()` prints what `/proc/PID/maps` would: the range, the permissions (`p` for
# private), and an offset column that is `0` for anonymous memory. That column hides the
# first thing this book is about. The kernel described this mapping with one
# **VMA**, a `struct vm_area_struct` (`include/linux/mm_types.h`): the range
# `[vm_start, vm_end)`, the flags `vm_flags`, and a page offset `vm_pgoff`. For a file
# mapping `vm_pgoff` is the offset in the file, in pages. For private anonymous memory
# `mm/mmap.c: do_mmap()` sets it to `addr >> PAGE_SHIFT`: the *virtual page number* of the
# start. Chapters 1 and 2 are about why.

# %%
vma = p.mm.find_vma(addr)
print(vma.id, hex(vma.vm_start), hex(vma.vm_end), "pages:", vma.pages)
print("vm_pgoff  ", hex(vma.vm_pgoff), "== addr >> PAGE_SHIFT:", vma.vm_pgoff == addr >> PAGE_SHIFT)
print("anon_vma  ", vma.anon_vma)

# %% [markdown]
# There is no `anon_vma` yet: `mmap()` only reserves address space. Memory appears when the
# process touches it. A **write** fault on private anonymous memory
# (`mm/memory.c: do_anonymous_page()`) attaches an anon_vma to the VMA if it has none
# (`vmf_anon_prepare()` → `mm/rmap.c: __anon_vma_prepare()`), allocates a zeroed page,
# and records in the new folio where it belongs. A **read** fault maps the shared zero
# page instead and attaches nothing.
#
# Write pages 0 and 1, read page 2, leave page 3 alone:

# %%
p.write(addr, 2 * PAGE_SIZE)        # one write fault per page: pages 0 and 1
p.read(addr + 2 * PAGE_SIZE)        # a read fault: page 2 maps the zero page
for i in range(4):
    print("page", i, p.folio_at(addr + i * PAGE_SIZE))

# %% [markdown]
# ## The four objects in one picture
#
# Displaying a process draws its objects and the pointers between them. Every model object
# draws itself this way in a notebook; the same picture also exists as ASCII text, which is
# what a terminal, an email, or a machine without Graphviz shows.

# %%
p

# %% [markdown]
# Read the picture from the top:
#
# | object | kernel type (header) | what it is here |
# |---|---|---|
# | **VMA** (blue) | `struct vm_area_struct` (`include/linux/mm_types.h`) | one mapping: `[vm_start, vm_end)`, `vm_pgoff`, flags, `vm_file` (none here) and `anon_vma` |
# | **avc** (yellow) | `struct anon_vma_chain` (`include/linux/rmap.h`) | a link between one VMA and one anon_vma. It sits on the VMA's `anon_vma_chain` list and in the anon_vma's interval tree, keyed by the VMA's page-offset range `[vm_pgoff, vm_pgoff + pages - 1]` |
# | **anon_vma** (orange) | `struct anon_vma` (`include/linux/rmap.h`) | the object anonymous folios point at. Its `rb_root` is an interval tree of avcs; `root` and `parent` link anon_vmas across `fork()` (chapter 5) |
# | **folio** (green) | `struct folio` (`include/linux/mm_types.h`) | physical memory. For an anonymous folio `folio->mapping` points to an anon_vma and `folio->index` is its page offset |
#
# The dotted lines are page-table entries, from the VMA's addresses to the folios. Page 2
# maps the zero page, which is no anonymous folio (it belongs to no anon_vma), and page 3
# maps nothing yet.
#
# **Reading the diagrams.** Numbers are written relative to the window, as the legend under
# every diagram says: `pages [0, 4)` is the range `[BASE, BASE + 4 pages)`, and `p+k` is the
# page offset of window page k, where p = `BASE >> PAGE_SHIFT` = `0x200000000`
# (`rmapkit.render.set_notation("hex")` switches every diagram to absolute hex). The other
# words on the boxes, in the order you meet them:
#
# * **anon_vma** boxes: `root` (the anon_vma at the top of its family, chapter 5; `root av0,
#   parent av1` names them), `children` (`num_children`: how many anon_vmas have this one as
#   `parent`, plus one for a root itself) and `active VMAs` (`num_active_vmas`: how many VMAs
#   use it as their own `vma->anon_vma`).
# * **avc** boxes: `avc -> av0 [p+0, p+3]`: the anon_vma the chain entry links to, and its
#   key in that anon_vma's interval tree, the VMA's `[vm_pgoff, vm_pgoff + pages - 1]`.
# * **folio** boxes: `index` (its page offset), `mapping` (its anon_vma, or a file's
#   `address_space`, labelled like `as102`: the page cache of one file), `mapcount` when
#   more than one page table maps it.
# * the **address view** (below) prints each VMA's `VmFlags` as `/proc/PID/smaps` does:
#   `rd wr ex` (readable, writable, executable), `sh` (shared), `mr mw me` (*may* read,
#   write, exec: what `mprotect()` may later allow), `ac` (`VM_ACCOUNT`: charged to the
#   commit limit), `nr` (`MAP_NORESERVE`), `pf io de dd` (a `remap_pfn_range()` mapping,
#   chapter 6). A `hole` is unmapped address space; a `gap` is a range of the anon file no
#   VMA covers.

# %% [markdown]
# ## The question the picture answers
#
# Reclaim, migration and compaction hold a folio and must find every page-table entry that
# maps it. The folio itself stores only two things: `mapping` (here the anon_vma) and
# `index`. The kernel's `mm/rmap.c: rmap_walk_anon()` goes
#
# 1. from the folio to its anon_vma (`folio_anon_vma()`, `mm/util.c`),
# 2. through that anon_vma's interval tree to every avc whose range contains
#    `folio->index`,
# 3. from each avc to its VMA, and computes the address with
#    `vma_address(vma, folio->index, folio_nr_pages(folio))` (`mm/internal.h`),
# 4. and hands (VMA, address) to the walk's callback (`try_to_unmap_one()`,
#    `folio_referenced_one()`, …), which checks the page table there with
#    `page_vma_mapped_walk()`: the tree only names *candidate* VMAs.
#
# The model's `rmap_walk()` does exactly that:

# %%
folio = p.folio_at(addr + PAGE_SIZE)
print(folio.label, "index", hex(folio.index), "mapping", folio.mapping.label)
for v, a in rmap_walk(folio):
    print("mapped by", v.id, "at", hex(a))

# %% [markdown]
# The walk could go from `index` back to the address only because `vm_pgoff` and
# `folio->index` are numbers of the same kind, page offsets in one "file". For anonymous
# memory that file is virtual, and the rest of the book is about keeping it consistent while
# VMAs are split, merged, moved and forked.
#
# ## Snapshots and other views
#
# `k.snapshot()` freezes the model into plain data (a `rmapkit.snapshot.Snapshot`), the
# same shape the live kernel produces in chapter 7. `show()` draws one in several views:
# `"graph"` (above), `"address"` (the address space and the virtual anon file), `"tree"` (an
# anon_vma's interval tree) and `"diff"` (before and after an operation). Here is the
# address view; chapter 1 explains it.

# %%
show(k.snapshot(), view="address")

# %% [markdown]
# ## The scenario language
#
# The playground and chapter 7 describe what a process does as *scenario* lines, one system
# call per line, with addresses written as page numbers inside a window that starts at
# `BASE`. `P0: mmap 0 4 rw private anon` is the `mmap()` above; `P0: write 0 2` writes pages
# 0 and 1. The same scenario runs in the model (`run_model`) and in a real process
# (`run_live`, chapter 7). Every op and option the chapters and the exercises use:
#
# | line | what it does (the system call) |
# |---|---|
# | `window N` | the window is N pages; page k is `BASE` + k pages |
# | `file NAME PAGES` | a regular file of PAGES pages, made before the first op |
# | `device NAME PAGES pfn=PFN` | a device whose `->mmap` calls `remap_pfn_range()` from PFN on (model only, chapter 6) |
# | `model-only REASON` | the live kernel cannot run this scenario (chapter 7 says why) |
# | `thp hugepages-64kB/enabled=madvise` | a file of `/sys/kernel/mm/transparent_hugepage/` for this scenario (chapter 8): the THP sizes `hugepages-16kB/enabled=`, `hugepages-32kB/enabled=`, `hugepages-64kB/enabled=`, `hugepages-128kB/enabled=` ... `hugepages-2048kB/enabled=`, and `enabled=`, `use_zero_page=` |
# | `P0: open NAME r as F` | `open()` a file (or device) read-only (`rw`: read-write) as descriptor `F` |
# | `P0: mmap PAGE N rw private anon` | `mmap()` N pages at PAGE: protection `rw`, `r`, ...; `private` or `shared`; `anon` |
# | `P0: mmap PAGE N r private fd=F off=K` | the same for file `F` from file page K (`off=` is in pages) |
# | ... `fixed`, `noreserve`, `populate` | `MAP_FIXED`, `MAP_NORESERVE` (no commit charge, chapter 4), `MAP_POPULATE` |
# | `P0: munmap PAGE N` | `munmap()` N pages |
# | `P0: mprotect PAGE N r` | `mprotect()` N pages to `r` (or `rw`, ...) |
# | `P0: mremap PAGE OLD NEW` | `mremap()` in place: grow or shrink from OLD to NEW pages |
# | `P0: mremap PAGE OLD NEW to DEST` | move the pages to DEST (`MREMAP_MAYMOVE \| MREMAP_FIXED`, chapter 4) |
# | ... `dontunmap` | `MREMAP_DONTUNMAP`: leave the old range mapped, empty (chapter 4) |
# | `P0: read PAGE [N]` / `write PAGE [N]` | touch one byte of each page: a read or a write fault |
# | `P0: fork P1` / `P1: exit` | `fork()` a child named P1 (chapter 5); the process exits |
# | `expect EINVAL` | the op above must fail with that errno |
#
# `python -m rmapkit format` prints the full reference. The book ships the scenarios it uses:

# %%
sc = load("split")
print(sc.description)
for op in sc.ops:
    print(op.text)

# %%
res = run_model(sc)
for text, snap in res.steps:
    print(f"{text:28s} -> {len(snap.process('P0').vmas)} VMA(s)")

# %% [markdown]
# ## The playground
#
# Every chapter has one playground: a model kernel, a starting scenario, and a diagram that
# is drawn again after every operation. Pick an operation and its fields (or type a
# scenario line into *op line*) and press **Apply**; **Undo** forgets the last operation,
# **Reset** goes back to the start, and the view buttons switch between the object graph,
# the address space, the interval tree and a before/after diff. A refused operation (bad
# arguments, a fault the kernel would answer with SIGSEGV) is shown as a red line in the
# widget and changes nothing.
#
# The widget is a front-end to methods you can call yourself, which is also how this book
# tests it: `apply()` returns `True` or `False` (with the reason in `error`), `text()`
# returns the diagram as ASCII, numbered as the pictures are (its last line says how;
# `text(notation="hex")` gives absolute hex).

# %%
from rmapkit.widgets import Playground

pg = Playground(window_pages=8)
print(pg.apply("P0: munmap 1 0"), "->", pg.error)        # refused: the model is unchanged
print(pg.apply("P0: mmap 0 4 rw private anon"), pg.apply("P0: write 0 2"))
print(pg.text("address"))

# %% [markdown]
# Now the same playground as a widget. Try `munmap` of page 1, then the *tree* view; or
# `fork`, then `write` in the child `P1`, and look at the graph. (On GitHub you see a static
# picture; run the notebook to get the buttons.)

# %% tags=["nbval-ignore-output"]
pg

# %% [markdown]
# ## Exercises
#
# The exercises are made from a seed in the style of the OSTEP homework simulators:
# `question(kind, seed)` lists some operations in the scenario language above and asks one
# thing about the result; `check(kind, seed, answer)` runs them in the model and tells you
# whether you are right. The same seed gives the same question everywhere, also on the
# command line: `python -m rmapkit.exercises vma-count -s 11` (add `-c` for the answer and
# its derivation, `-l` for the list of kinds, one or more per chapter). Knobs make other
# problems: `question("vma-count", 11, ops=6)` draws six random ops, `allow="mmap,munmap"`
# only those ops (`-n 6`, `-o mmap,munmap` on the command line). Here is a worked one:

# %%
from rmapkit.exercises import check, question

print(question('vma-count', 11, allow='mmap,munmap,write').text)

# %% [markdown]
# `mmap` of four pages makes one VMA, pages `[0, 4)`. `munmap` of page 1 cuts it in two
# (`[0, 1)` and `[2, 4)`: a split). The write to page 0 faults in a folio and attaches an
# anon_vma but makes no VMA. `munmap` of page 0 removes `[0, 1)` whole. One VMA is left:

# %%
check('vma-count', 11, 1, allow='mmap,munmap,write')

# %% [markdown]
# Your turn. Put your answer in place of `None` and run the cell. A wrong answer first gets a
# hint: the idea or the step to look at, not the value. A second wrong answer (or
# `solution(kind, seed)`, from `rmapkit.exercises`) shows the worked explanation with its
# diagram.

# %%
print(question('vma-count', 4, allow='mmap,munmap,write').text)

# %%
answer = None
check('vma-count', 4, answer, allow='mmap,munmap,write')

# %% [markdown]
# ### Why?
#
# Two questions about the ideas rather than the numbers. Answer with a letter; a wrong
# letter first tells you why that option does not hold.

# %%
print(question('why', 0).text)

# %%
answer = None
check('why', 0, answer)

# %%
print(question('why', 1).text)

# %%
answer = None
check('why', 1, answer)

# %% [markdown]
# ## What you now know
#
# * A chapter is a notebook over the rmapkit model: run it top to bottom, then change it.
# * The four objects: a **VMA** describes a mapping (`vm_start`, `vm_end`, `vm_pgoff`); a
#   **folio** is memory that remembers only `mapping` and `index`; an **anon_vma** is what
#   anonymous folios point at; an **avc** links a VMA into an anon_vma's interval tree, keyed
#   by the VMA's page offsets.
# * rmap goes folio → anon_vma → the avcs whose key covers `folio->index` → each VMA →
#   `vma_address()`, and the page table decides.
# * Scenario lines drive the model (and, in chapter 7, your kernel); the playground and the
#   seeded exercises (`question`, `check`, `solution`; `python -m rmapkit.exercises`) use them.

# %% [markdown]
# ## Where the model stops
#
# rmapkit models what rmap depends on: VMAs and their merging and splitting, `vm_pgoff`,
# anon_vmas and avcs with their interval trees, folios (`index`, `mapping`, map counts,
# PageAnonExclusive), page tables, faults and copy-on-write, `mmap`/`munmap`/`mprotect`/
# `mremap`/`madvise`/`fork`/`exit`, files and their `i_mmap` trees, and
# `remap_pfn_range()`. It does not model locking (mmap lock, per-VMA locks, the anon_vma
# rwsem, RCU), large folios and THP (every folio is one page, as on a kernel whose THP
# setting is `madvise` with no multi-size THP enabled, for memory nobody `madvise()`d),
# swap and the LRU, KSM, hugetlb, userfaultfd, mempolicy, mseal and
# pkeys, mlock limits, exec and the stack, or address-space randomisation. Chapter 7 runs the chapters' scenarios on the
# kernel you are using, beside the model, and shows where they agree.
#
# **Next:** chapter 1, `linear_page_index`.

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3 · The split example
#
# **In this chapter you will learn**
#
# * what `munmap()` of the middle page of a written 3-page VMA does to the VMA, its
#   anon_vma_chain and its anon_vma (two VMAs, two avcs, one anon_vma);
# * why neither the folios nor the anon_vma need to change when a VMA is split;
# * how `rmap_walk_anon()` finds the right VMA for each remaining page by querying the
#   anon_vma's interval tree with `folio->index`;
# * what an interval tree of avcs is, and what it costs to query.
#
# This is the example from the discussion the book grew out of (Lorenzo Stoakes' reply to
# David Hildenbrand on linux-mm, April 2023; chapter 0): map three pages, write them, unmap
# the middle one. The reply numbers the pages 1, 2, 3; here, as in the kernel's tests, they
# are pages 0, 1 and 2 of the window.

# %% tags=["remove-cell"]
from rmapkit import PAGE_SIZE, rmap_walk
from rmapkit.book import BASE, figure, pages_of, show
from rmapkit.scenarios import load, run_model

# %% [markdown]
# ## Before: one VMA, one avc, one anon_vma
#
# The shipped scenario `split` is exactly the example:

# %%
res = run_model(load("split"))
for op in res.scenario.ops:
    print(op.text)

# %% [markdown]
# After the writes (step 1) there is one VMA `[0, 3)` with `vm_pgoff` = page 0 of the
# virtual anon file, one avc linking it into anon_vma `av0`, keyed by the VMA's page-offset
# range, and three folios whose `mapping` is `av0` and whose `index` values are pages 0, 1
# and 2 of the virtual file:

# %%
figure("split-before")

# %% [markdown]
# ## The `munmap()`
#
# `munmap()` of page 1 goes through `mm/vma.c: do_vmi_munmap()` →
# `do_vmi_align_munmap()` → `vms_gather_munmap_vmas()`. The range starts inside the VMA, so
# the VMA is split at its start (`__split_vma(..., new_below=1)`), and the remaining piece
# extends past the range end, so it is split again at the end (`new_below=0`). The middle
# piece is detached and freed. Each `__split_vma()`:
#
# * duplicates the VMA (`vm_area_dup()`), so both pieces keep `vm_flags`, `vm_file` and
#   `anon_vma`;
# * gives the upper piece `vm_pgoff + ((addr - vm_start) >> PAGE_SHIFT)`, the lower piece
#   keeps the old `vm_pgoff`, so both still map the virtual file linearly;
# * calls `anon_vma_clone(new, vma)`: the new piece gets its own avc into *every* anon_vma of
#   the old piece's chain (here just `av0`) and `av0->num_active_vmas` goes up by one;
# * re-keys the avcs in the interval tree (`anon_vma_interval_tree_pre_update_vma()` /
#   `_post_update_vma()` around the range change).
#
# In the kernel the struct that came in is the one removed with the range here: the two
# pieces that stay are both new structs (`vma3`, `vma4`). The folio of page 1 loses its
# last mapping and is freed. The other two folios are not touched at all.

# %%
figure("split-diff")

# %%
snap = res.snapshot
for v in snap.process("P0").vmas:
    print(f"{v.id} pages {pages_of(v)} vm_pgoff {v.vm_pgoff:#x} anon_vma {v.anon_vma} avcs {list(v.anon_vma_chain)}")
av = snap.anon_vmas[0]
print(f"{av.label}: root {av.root}, {av.num_active_vmas} VMAs point at it, {len(av.avcs)} avcs in its tree:")
for avc in av.avcs:
    print(f"  avc {avc.vma} keyed [{avc.start_pgoff:#x}, {avc.last_pgoff:#x}]")

# %% [markdown]
# Two VMAs, two avcs, one anon_vma. That is the whole answer to "what happens to the
# anon_vma when a VMA is split": nothing, except that it has one more VMA and one more avc.

# %%
figure("split-after")

# %% [markdown]
# ## rmap for the pages that stayed
#
# Take the folio of page 2. It remembers only `mapping = av0` and `index` = page 2 of the
# virtual file. `mm/rmap.c: rmap_walk_anon()` locks `av0` (its root's rwsem) and calls
# `anon_vma_interval_tree_foreach(avc, &anon_vma->rb_root, pgoff_start, pgoff_end)`, with
# `pgoff_start = folio->index` and `pgoff_end = index + nr_pages - 1`. An avc is visited if
# its key `[vm_pgoff, vm_pgoff + pages - 1]` overlaps that range. For each visited avc,
# `vma_address(avc->vma, pgoff_start, nr_pages)` gives the address, and the callback
# (`try_to_unmap_one()`, `folio_referenced_one()`, …) checks the page table there.
#
# The left piece's avc is keyed `[p, p]` and the right piece's `[p+2, p+2]`, so index `p+2`
# overlaps only the right piece:

# %%
figure("split-rmap-walk")

# %% [markdown]
# The same query in the model, on the live objects behind the snapshot. `res.procs["P0"]`
# is the model's process and `av0.rb_root` the interval tree:

# %%
p = res.procs["P0"]
av0 = res.kernel.anon_vmas["av0"]
for page in (0, 2):
    folio = p.folio_at(BASE + page * PAGE_SIZE)
    hits = [avc.vma.id for avc in av0.rb_root.query(folio.index, folio.index)]
    print(f"page {page}: {folio.label} index {folio.index:#x}; tree query -> {hits};",
          "rmap_walk ->", [(v.id, hex(a)) for v, a in rmap_walk(folio)])

# %% [markdown]
# And page 0 walks to the left piece only:

# %%
show(snap, view="tree", focus=p.folio_at(BASE).label)

# %% [markdown]
# ### Why an interval tree?
#
# An anon_vma can have many avcs: after a `fork()` every child VMA has an avc in its
# parent's anon_vmas (chapter 5), and after splits each piece has its own. The tree (an
# augmented red-black tree, `mm/interval_tree.c` instantiating `INTERVAL_TREE_DEFINE` with
# `avc_start_pgoff()`/`avc_last_pgoff()`) answers "which avcs overlap `[start, last]`?" in
# O(log n + k) for n avcs and k answers, instead of O(n) for a list. That is why every change
# of `vm_start`, `vm_end` or `vm_pgoff` must re-key the VMA's avcs: a stale key would hide
# the VMA from rmap (on debug kernels `anon_vma_interval_tree_verify()` checks them).
#
# What would break without `vm_pgoff` following the virtual file: if the right piece had
# `vm_pgoff` = `p` (say, "every VMA starts its own file at 0"), its key would be `[p, p]`.
# The query for page 2's folio (index `p+2`) would then find no avc at all: that page
# could no longer be unmapped by reclaim or moved by migration. And the query for page 0's
# folio would visit the right piece too, where `vma_address()` gives page 2's address and
# the page-table check (`page_vma_mapped_walk()`) finds a different folio. The split rule
# `vm_pgoff + offset` keeps every key where the folios' `index` values expect it.

# %% [markdown]
# ## Playground: pick the page to unmap, pick the page to walk
#
# `SplitExplorer(pages=3)` maps and writes three pages, unmaps one and walks the rmap of
# another page's folio. `run(unmap_page, rmap_page)` returns what the model found:

# %%
from rmapkit.widgets import SplitExplorer

sx = SplitExplorer(pages=3)
r = sx.run(unmap_page=1, rmap_page=2)
print([v["range"] for v in r["vmas"]], r["anon_vmas"], hex(r["index"]), r["visited"])
r = sx.run(unmap_page=0, rmap_page=2)
print([v["range"] for v in r["vmas"]], r["anon_vmas"], hex(r["index"]), r["visited"])
print(sx.text())

# %% [markdown]
# Unmapping page 0 needs one split only: `vms_gather_munmap_vmas()` splits at the end of the
# range (`new_below=0`), the new struct `[1, 3)` gets `vm_pgoff` + 1 and the old struct
# leaves with page 0. The remaining VMA is still in `av0`, keyed by its new range. Try
# `SplitExplorer(pages=5)` and unmap page 2: which pages' folios does each avc reach?

# %% tags=["nbval-ignore-output"]
sx.run(unmap_page=1, rmap_page=2)
sx

# %% [markdown]
# ## Exercises
#
# Each question is made from a seed by `rmapkit.exercises` (the same seed gives the same
# question everywhere, also on the command line: `python -m rmapkit.exercises KIND -s
# SEED`, with `-c` for the answer). First a worked one:

# %%
from rmapkit.exercises import check, question

print(question('rmap-split', 2).text)

# %% [markdown]
# The five written pages `[0, 5)` have folios with `index` p+0 … p+4 in `av0`. `munmap` of
# page 3 splits the VMA into `[0, 3)` (keyed `[p+0, p+2]`) and `[4, 5)` (keyed
# `[p+4, p+4]`); `mprotect` of page 4 changes that whole one-page VMA, so nothing more is
# split. The folio at page 1 has index p+1, and only the avc of `[0, 3)` covers it:

# %%
check('rmap-split', 2, '[0, 3)')

# %% [markdown]
# Your turn. Put your answer in place of `None` and run the cell. A wrong answer first gets a
# hint: the idea or the step to look at, not the value. A second wrong answer (or
# `solution(kind, seed)`, from `rmapkit.exercises`) shows the worked explanation with its
# diagram.

# %%
print(question('rmap-split', 1).text)

# %%
answer = None
check('rmap-split', 1, answer)

# %%
print(question('rmap-split', 3).text)

# %%
answer = None
check('rmap-split', 3, answer)

# %% [markdown]
# ### Why?
#
# Two questions about the ideas rather than the numbers. Answer with a letter; a wrong
# letter first tells you why that option does not hold.

# %%
print(question('why', 6).text)

# %%
answer = None
check('why', 6, answer)

# %%
print(question('why', 7).text)

# %%
answer = None
check('why', 7, answer)

# %% [markdown]
# ## What you now know
#
# * `munmap()` of the middle page splits the VMA (`__split_vma()`); the upper piece gets
#   `vm_pgoff + offset`, so both pieces still map the virtual file linearly.
# * The anon_vma does not change: it gains one avc (`anon_vma_clone()`), and each avc is
#   re-keyed to its VMA's new page-offset range. No folio is touched.
# * `rmap_walk_anon()` queries the anon_vma's interval tree with `folio->index` and visits
#   only the avcs whose key covers it: O(log n + k) for n avcs and k hits.

# %% [markdown]
# **Next:** chapter 4, `mremap()` and merging: a VMA that moves keeps its `vm_pgoff`.

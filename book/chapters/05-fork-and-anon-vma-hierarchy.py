# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5 · `fork()` and the anon_vma hierarchy
#
# **In this chapter you will learn**
#
# * what `fork()` does to anon_vmas: the child's VMA is linked into **every** anon_vma of
#   the parent's VMA, and usually gets one new anon_vma of its own, whose `parent` and
#   `root` point back up;
# * why a copy-on-write fault in the child puts the copy into the **child's** anon_vma, and
#   why rmap then still visits the parent's VMA as a candidate;
# * when the kernel *reuses* instead of copying: an exclusive page is re-homed with
#   `folio_move_anon_rmap()`, and an idle ancestor anon_vma is reused by
#   `anon_vma_fork()`, so long fork chains do not grow the hierarchy forever;
# * why a child's written VMA refuses to merge with unwritten neighbours, for good.

# %% tags=["remove-cell"]
from rmapkit import PAGE_SIZE, rmap_walk
from rmapkit.book import BASE, figure, pages_of
from rmapkit.scenarios import load, run_model

# %% [markdown]
# ## What `fork()` does to anon_vmas
#
# `mm/mmap.c: dup_mmap()` (in `kernel/fork.c` before 6.16) copies the parent's VMAs one by
# one. For a VMA with an anon_vma it calls `mm/rmap.c: anon_vma_fork(child_vma,
# parent_vma)`:
#
# 1. `anon_vma_clone(child, parent)`: one new avc for **every** anon_vma on the parent
#    VMA's chain, keyed by the (same) page-offset range. Every folio the parent's VMA can
#    reach, the child's VMA can now be found from: after `fork()` parent and child map the
#    same folios, and those folios' `mapping` still points at the parent's anon_vma.
# 2. Unless an idle ancestor can be reused (below), a new anon_vma for the child:
#    `parent` = the parent VMA's anon_vma, `root` = its root, one more avc at the head of
#    the child's chain, and the parent anon_vma's `num_children` goes up.
#
# Then `copy_page_range()` copies the page tables, write-protecting every private writable
# PTE in both processes; each anonymous folio is now mapped twice and no longer
# `PageAnonExclusive` (`folio_try_dup_anon_rmap_pte()`).
#
# The scenario `fork-cow`: write 2 pages, fork, the child writes page 0.

# %%
res = run_model(load("fork-cow"))
after_fork = res.steps[2][1]
for p in after_fork.processes:
    for v in p.vmas:
        print(f"{p.name} {v.id} {pages_of(v)} anon_vma {v.anon_vma}, chain (newest first) {list(v.anon_vma_chain)}")
for av in after_fork.anon_vmas:
    print(f"{av.label}: root {av.root} parent {av.parent} num_children {av.num_children} "
          f"num_active_vmas {av.num_active_vmas} avcs {[(c.process, c.vma) for c in av.avcs]}")

# %% [markdown]
# `av1` is the child's own anon_vma (`parent` and `root` are `av0`); the child's VMA has
# two avcs, one in `av1` and one in `av0`. `av0->num_children` is 2: itself (a root counts
# itself) and `av1`.
#
# ## Copy-on-write goes into the child's anon_vma
#
# The child's write to page 0 hits a write-protected PTE: `mm/memory.c: do_wp_page()`. The
# folio is shared (mapped by both processes, not exclusive), so it cannot be reused:
# `wp_page_copy()` allocates a new folio, copies the data, and calls
# `folio_add_new_anon_rmap(new, vma, addr, RMAP_EXCLUSIVE)`, which sets `mapping` to the
# **faulting VMA's own** anon_vma (`av1`) and `index = linear_page_index(vma, addr)`, the
# same index as the original, because `fork()` copied `vm_pgoff`. The figure shows the
# result: the child's copy of page 0 in `av1`, page 1 still shared in `av0`.

# %%
figure("fork-cow")

# %% [markdown]
# Now walk the rmap of each folio. The interval tree gives **candidates**; the walk's
# callback (`page_vma_mapped_walk()`) then checks the page table at the computed address.
# For the parent's page 0 the tree of `av0` still contains the child's VMA (its avc into
# `av0` never goes away), so the child is a candidate, but its PTE now maps the copy:

# %%
from rmapkit.render import rmap_walk_candidates

snap = res.snapshot
P0, P1 = res.procs["P0"], res.procs["P1"]
for proc, page in ((P0, 0), (P1, 0), (P0, 1)):
    f = proc.folio_at(BASE + page * PAGE_SIZE)
    cands = [(c.process, c.vma) for c, hit, _ in rmap_walk_candidates(snap, f.mapping.label, f.index) if hit]
    found = [(v.vm_mm.owner.name, v.id) for v, a in rmap_walk(f)]
    print(f"{proc.name} page {page}: {f.label} in {f.mapping.label}, mapcount {f.mapcount};"
          f" candidates {cands}; mapped by {found}")

# %% [markdown]
# A folio in the child's `av1` is found by searching `av1` only: the parent has no avc
# there, so the parent is never even a candidate. That is the point of the hierarchy:
# memory a child wrote after `fork()` is invisible to the parent's rmap work, while memory
# from before `fork()` (in the parent's anon_vma) reaches every process that may still
# share it.
#
# ## Reuse instead of copy
#
# Copy-on-write copies only when it must. `do_wp_page()` **reuses** an anonymous folio
# (makes the PTE writable again, no copy) if the page is still `PageAnonExclusive`, or
# else if `wp_can_reuse_anon_folio()` finds that this mapping holds the folio's only
# reference (for a small folio: not KSM, and a reference count of 1 once a swap-cache
# reference is dropped). In the second case `wp_can_reuse_anon_folio()` also calls
# `folio_move_anon_rmap(folio, vma)`, which re-homes the folio into the faulting VMA's own
# anon_vma, with the same `index`, and the page becomes exclusive again. Here the parent
# exits, and the child writes page 1, which it now maps alone:

# %%
f = P1.folio_at(BASE + PAGE_SIZE)
P0.exit()
print(f"before: {f.label} mapping {f.mapping.label} mapcount {f.mapcount} exclusive {f.anon_exclusive}")
P1.write(BASE + PAGE_SIZE)
print(f"after:  {P1.folio_at(BASE + PAGE_SIZE).label} mapping {f.mapping.label} "
      f"mapcount {f.mapcount} exclusive {f.anon_exclusive}")

# %% [markdown]
# Same folio, now in `av1`: later rmap walks for it search only the child's anon_vma.
#
# The second kind of reuse is in `anon_vma_fork()`. While `anon_vma_clone()` walks the
# parent's chain (oldest first), the first anon_vma with `num_active_vmas == 0` (no VMA
# uses it as its own any more) and `num_children < 2` becomes the child's anon_vma, and
# nothing is allocated. (Khlebnikov's "prevent endless growth of anon_vma hierarchy",
# 2015; since v6.0 with two counters instead of one `degree`, after Jann Horn's fix of a
# double-reuse bug.) Without it, a process that forks a child and exits, generation after
# generation, would grow an ever longer chain. `fork-chain` does that six times:

# %%
res = run_model(load("fork-chain"))
for text, s in res.steps:
    if "fork" in text:
        print(f"{text:14s} anon_vmas {[a.label for a in s.anon_vmas]}; the child's chain:",
              list(s.processes[-1].vmas[0].anon_vma_chain))

# %%
figure("fork-chain")

# %% [markdown]
# The hierarchy stops at three anon_vmas: each new child reuses the anon_vma of the
# grandparent generation, which has no VMA left and fewer than two children.
#
# ## Why a child's VMA refuses some merges
#
# After `fork()` the child's VMA has at least two avcs (one per anon_vma of the parent's
# chain, plus its own), and it keeps them even if the child writes (and so un-shares)
# every page: the avcs are only dropped when the VMA is unmapped (or emptied by a
# whole-VMA `MREMAP_DONTUNMAP`).
# The merge code treats such a VMA, `vma->anon_vma` set and `anon_vma_chain` not a single
# entry, as a **fork child** (`vma_is_fork_child()` in 6.18.y; `vma_had_uncowed_parents()`
# in 6.16–6.18.0). `is_mergeable_anon_vma()` (chapter 4) refuses to merge a fork child with
# a neighbour that has no anon_vma, in either direction. The reason is lock scalability:
# such a VMA stays linked into its ancestors' anon_vmas, and in 6.16–6.18.0 the comment
# above `vma_had_uncowed_parents()` said that a merge "would mean a wider range of folios
# sharing the root anon_vma lock, and thus potential lock contention"
# (`anon_vma->root->rwsem`, taken by every rmap walk in the family). 6.18.y shortened it
# to the comment inside `vma_is_fork_child()`: "The list_is_singular() test is to avoid
# merging VMA cloned from parents. This can improve scalability caused by the anon_vma
# root lock."
#
# `fork-child-sticky`: a written page, `fork()`, the child writes all three pages (nothing
# is shared any more), then both processes map 2 pages right after the VMA:

# %%
res = run_model(load("fork-child-sticky"))
for text, s in res.steps[:6]:
    print(f"{text:28s}", "; ".join(p.name + ": " + " ".join(f"{pages_of(v)}{v.anon_vma or ''}/{len(v.anon_vma_chain)} avc"
                                                              for v in p.vmas) for p in s.processes))

# %% [markdown]
# The parent's new range merged (`[0, 5)`); the child's did not (`[0, 3)` and `[3, 5)`),
# although flags, offsets and files agree. The kernel's `merge.c` selftests
# `forked_target_vma` and `forked_source_vma` test both directions; chapter 4's
# `...-forked` variants test the `mremap()` path (6.18-stable's `copied_from`).
#
# ## Playground
#
# The playground starts from `fork-cow`. Try `write 1` in `P0` or `P1` (copy or reuse?),
# `fork` again from `P1`, `exit` a process, and watch the anon_vmas in the graph view.

# %%
from rmapkit.widgets import Playground

pg = Playground("fork-cow")
print(pg.apply("P0: write 1"), pg.apply("P1: fork P2"), pg.apply("P2: write 1"))
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

print(question('rmap', 1).text)

# %% [markdown]
# After `fork()` both processes map the two folios, which stay in `av0`. The parent then
# writes page 0: copy-on-write gives the parent a new folio (in its own anon_vma, `av0`,
# the root), and the old folio is mapped by the child only. Its rmap walk searches `av0`,
# whose tree holds an avc of both processes: both are candidates, but the parent's PTE now
# maps the copy and is skipped. Only `P1`:

# %%
check('rmap', 1, ['P1'])

# %% [markdown]
# Your turn. Put your answer in place of `None` and run the cell. A wrong answer first gets a
# hint: the idea or the step to look at, not the value. A second wrong answer (or
# `solution(kind, seed)`, from `rmapkit.exercises`) shows the worked explanation with its
# diagram.

# %%
print(question('cow', 10).text)

# %%
answer = None
check('cow', 10, answer)

# %%
print(question('chain', 13).text)

# %%
answer = None
check('chain', 13, answer)

# %%
print(question('rmap', 13).text)

# %%
answer = None
check('rmap', 13, answer)

# %% [markdown]
# ### Why?
#
# Two questions about the ideas rather than the numbers. Answer with a letter; a wrong
# letter first tells you why that option does not hold.

# %%
print(question('why', 10).text)

# %%
answer = None
check('why', 10, answer)

# %%
print(question('why', 11).text)

# %%
answer = None
check('why', 11, answer)

# %% [markdown]
# ## What you now know
#
# * `fork()` links the child's VMA into every anon_vma of the parent's VMA and (usually) gives
#   it one of its own, whose `parent` and `root` point up the family.
# * A copy-on-write copy goes into the writer's own anon_vma, with the same `index`; rmap
#   walks for it never visit the other processes.
# * The kernel reuses where it can: an exclusive folio is re-homed by
#   `folio_move_anon_rmap()`, an idle ancestor anon_vma by `anon_vma_fork()`, so fork chains
#   stop growing.
# * A fork child's VMA (several avcs) refuses to merge with unwritten neighbours.

# %% [markdown]
# **Next:** chapter 6, `remap_pfn_range()`, where `vm_pgoff` holds something else
# entirely.

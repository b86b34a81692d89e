# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4 · `mremap()` and merging
#
# **In this chapter you will learn**
#
# * that moving written (faulted) anonymous memory with `mremap()` keeps `vm_pgoff`, so the
#   moved VMA no longer satisfies `vm_pgoff == vm_start >> PAGE_SHIFT`;
# * what "requiring `vm_pgoff` to be linearly monotonically increasing" means, and why a
#   moved VMA then merges only where its offsets continue, which in practice is back where
#   it came from;
# * why memory that was never written is different: its `vm_pgoff` is reset to the new
#   address, so it merges wherever it lands;
# * the 6.16 change that lets faulted and unfaulted VMAs merge, what `MREMAP_DONTUNMAP`
#   does to the source's anon_vma, and the 6.18-stable `copied_from` fix (in sections
#   marked *Deeper*, which you may skip on a first reading).

# %% [markdown]
# ## The idea in two sentences
#
# **A moved VMA keeps its `vm_pgoff`**, because its folios keep their `index` and the two
# must still agree (chapter 1). **Merging needs one straight line**: two neighbours become
# one VMA only if page offsets go up by one per page across the boundary, so a moved VMA
# merges where its old offsets continue, which in practice means back where it came from.
# Memory that was never written has no folios to agree with, so it takes the offset of its
# new address and merges wherever it lands.

# %% tags=["remove-cell"]
from rmapkit import PAGE_SHIFT, PAGE_SIZE
from rmapkit.book import BASE, figure, pages_of
from rmapkit.scenarios import load, run_model

# %% [markdown]
# ## What a move does
#
# `mremap(old, old_len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED, new)` with equal lengths
# moves a range. In 6.18 it goes `mm/mremap.c: move_vma()` → `copy_vma_and_data()` →
# `mm/vma.c: copy_vma()`:
#
# 1. `copy_vma_and_data()` passes `pgoff = vma->vm_pgoff + ((old - vma->vm_start) >>
#    PAGE_SHIFT)`: the range's **own** page offset, unchanged;
# 2. `copy_vma()` keeps it *unless* the VMA is anonymous and has no anon_vma yet
#    (`vma_is_anonymous(vma) && !vma->anon_vma`): then `pgoff = new >> PAGE_SHIFT`, as if
#    freshly mapped there;
# 3. `copy_vma()` tries to merge the new range with its neighbours at the destination, with
#    the source's flags, file and anon_vma;
# 4. if that fails, duplicates the VMA there (`vm_area_dup()`) and `anon_vma_clone()`s it, so
#    the new VMA is in the same anon_vma(s) as the old one.
#
# Then `move_page_tables()` moves the page-table entries. The folios do not move and are
# not touched: their `index` stays what it was, and rule 1 is exactly what keeps
# `index == linear_page_index(vma, addr)` true at the new address (chapter 1).
#
# <details><summary>Deeper: where this code lived, and what changed</summary>
#
# `copy_vma()` lived in `mm/mmap.c` before the `mm/vma.c` split; the rule for `pgoff` is
# long-standing, and only what may merge afterwards changed, in 6.16. The merge in step 3 is
# `vma_merge_copied_range()` in 6.18.y and `vma_merge_new_range()` before (see the
# `copied_from` fix at the end of this chapter).
#
# </details>
#
# The scenario `mremap-faulted` writes a 3-page VMA at pages 0–2, maps an unrelated 2-page
# VMA at pages 6–7, and moves page 2 to page 8:

# %%
res = run_model(load("mremap-faulted"))
for text, snap in res.steps:
    print(f"{text:30s}", "  ".join(f"{v.id}{pages_of(v)} pgoff+{v.vm_pgoff - (BASE >> PAGE_SHIFT)}"
                                    + (f" {v.anon_vma}" if v.anon_vma else "") for v in snap.process("P0").vmas))

# %% [markdown]
# Read the listing with `pgoff+k` meaning "page k of the virtual anon file". After the move
# (step 4), `vma4` sits at page 8 with `pgoff+2`, and `vma2`'s remaining pages became a new
# struct `vma5` (the munmap of the source range split it). The diagram of step 4 shows the
# crossing: the moved VMA is drawn at page 8 in the address space but at offset 2 in the
# virtual file.

# %%
figure("mremap-diff")

# %%
figure("mremap-keeps-pgoff")


# %% [markdown]
# ## "Linearly monotonically increasing"
#
# Inside one VMA the page offset goes up by exactly one per page: `linear_page_index()` is a
# straight line of slope one. One VMA can only ever describe one such line, so two neighbours
# can become one VMA only if the line continues across the boundary,
# `prev->vm_pgoff + vma_pages(prev) == next->vm_pgoff`. That is what the merge code's
# offset test requires (`can_vma_merge_after()` / `can_vma_merge_before()`, chapter 2), and
# it is what "requiring `vm_pgoff` to be linearly monotonically increasing" means.
#
# Print the line, one column per page of the window, after the move:

# %%
def pgoff_line(snap, proc="P0", pages=12):
    # page k of the window -> page of the virtual anon file (linear_page_index), '.' = unmapped
    row = ["."] * pages
    for v in snap.process(proc).vmas:
        for a in range(v.vm_start, v.vm_end, PAGE_SIZE):
            k = (a - BASE) >> PAGE_SHIFT
            if k < pages:
                row[k] = str((v.vm_pgoff + ((a - v.vm_start) >> PAGE_SHIFT)) - (BASE >> PAGE_SHIFT))
    print("page  ", " ".join(f"{k:>2}" for k in range(pages)))
    print("pgoff ", " ".join(f"{x:>2}" for x in row))

pgoff_line(res.steps[3][1])

# %% [markdown]
# Pages 6 and 7 carry offsets 6, 7 (fresh memory), page 8 carries offset 2: the line jumps
# back from 7 to 2, so `vma3` and `vma4` cannot be one VMA. And they must not be: a merged
# VMA `[6, 9)` with `vm_pgoff` 6 would compute `linear_page_index()` 8 for page 8, but the
# folio there has index 2; rmap would look for it at the wrong offset (chapter 1).
#
# Moving the page back to page 2 restores the line `0 1 2`: the moved VMA is adjacent to
# `vma5`, its offsets continue, and both are in the same anon_vma `av0`, so
# `copy_vma()`'s merge extends `vma5` and nothing of the move is left:

# %%
pgoff_line(res.steps[4][1])

# %% [markdown]
# The kernel's selftest `tools/testing/selftests/mm/merge.c: mremap_correct_placed_faulted`
# does this with three 5-page pieces of one written 15-page VMA, moved away and back in
# every order: whenever a piece is back at its own address next to a sibling it re-merges.
# The shipped scenario replays it:

# %%
res = run_model(load("selftest-mremap-correct-placed-faulted"))
for text, snap in res.steps[2:]:
    print(f"{text:24s}", len(snap.process("P0").vmas), "VMAs:",
          "  ".join(f"{pages_of(v)} pgoff+{v.vm_pgoff - (BASE >> PAGE_SHIFT)}" for v in snap.process("P0").vmas))

# %% [markdown]
# ## Unfaulted memory: the offset follows the address
#
# Memory that was never written has no anon_vma and no anonymous folios, so no `index` has
# to be preserved. `copy_vma()` gives it `pgoff = new_addr >> PAGE_SHIFT`, and it merges at
# the destination like a fresh mapping. Only a **write** counts: a read fault maps the shared
# zero page and attaches no anon_vma (`do_anonymous_page()`), so a VMA that was only read is
# still "unfaulted". The scenario `read-zero-page` reads a 2-page VMA and moves it next to a
# written one:

# %%
res = run_model(load("read-zero-page"))
for text, snap in res.steps:
    print(f"{text:26s}", "  ".join(f"{v.id}{pages_of(v)} pgoff+{v.vm_pgoff - (BASE >> PAGE_SHIFT)}"
                                    + (f" {v.anon_vma}" if v.anon_vma else "") for v in snap.process("P0").vmas))

# %% [markdown]
# The moved VMA became `pgoff+2` at page 2, continued `vma2`'s line and merged into it, and
# the merged VMA keeps `vma2`'s anon_vma `av0`: the later write to page 3 puts its folio in
# `av0` with index page 3.

# %% [markdown] tags=["deeper"]
# ## Deeper: faulted meets unfaulted, the 6.16 rule
#
# *This section and the next are history and corner cases; skip them on a first reading.*
#
# Merging also needs the anon_vmas to agree. `mm/vma.c: is_mergeable_anon_vma()` in
# 6.16–6.18 has three cases, with *src* the range being merged (its anon_vma is
# `vmg->anon_vma`; the VMA itself is `vmg->middle` for `mprotect()` and friends, none for
# a new `mmap()` range, the copied-from VMA for `mremap()`) and *tgt* the neighbour:
#
# | case | 6.16 and later |
# |---|---|
# | tgt has none, src has one | OK (tgt gets src's anon_vma with `dup_anon_vma()`), unless src is a fork child (6.16–6.18.0 could check only `vmg->middle`, so a moved fork child slipped through; 6.18.y also checks `vmg->copied_from`, below) |
# | tgt has one, src has none | OK (the result uses tgt's), unless tgt is a fork child |
# | both or neither | only if they are the same anon_vma |
#
# Before 6.16 a written range could never be merged into an unwritten neighbour by
# `mprotect()`, `madvise()` or `mremap()`: the old rule required the target's
# `anon_vma_chain` to be a single entry, and an unfaulted VMA's chain is empty. That was
# broken from 2011 (965f55dea0e3) until 6.16 (879bca0a2c4f); the `merge.c` selftests below
# check the new behaviour. A *fork child* is a VMA that `fork()` linked into its parent's
# anon_vmas as well as its own (more than one avc on its chain); chapter 5 explains it.
#
# `merge.c: mprotect_unfaulted_left`: 10 pages, the first 5 made read-only (a split), page
# 5 written, the last 5 made read-only too. The written right half merges into the
# unwritten left half:

# %%
res = run_model(load("selftest-mprotect-unfaulted-left"))
for text, snap in res.steps:
    print(f"{text:44s}", "  ".join(f"{pages_of(v)} {v.perms} {v.anon_vma or '-'}" for v in snap.process("P0").vmas))

# %% [markdown]
# The selftests map with `MAP_NORESERVE` for a reason: `mprotect()` read-only of an
# *unfaulted* private anonymous VMA (`vma_is_anonymous(vma) && !vma->anon_vma`) drops
# `VM_ACCOUNT` (`mm/mprotect.c: mprotect_fixup()` gives the commit charge back), of a
# faulted one keeps it ("without finer accounting", says the comment there, the commit
# can be given back only while no anon_vma is assigned), and `VM_ACCOUNT` is one of the flags a
# merge compares. Without `MAP_NORESERVE` two read-only neighbours can differ in it
# (`ac` in smaps' VmFlags) and stay apart:

# %%
res = run_model(load("mprotect-account"))
for v in res.snapshot.process("P0").vmas:
    print(pages_of(v), v.perms, "anon_vma", v.anon_vma, "VmFlags", " ".join(v.vm_flags))

# %% [markdown] tags=["deeper"]
# ## Deeper: `MREMAP_DONTUNMAP` and the `copied_from` fix
#
# `MREMAP_DONTUNMAP` moves the pages but leaves the source range mapped (empty). If the
# **whole** source VMA moved, `dontunmap_complete()` also drops its anon links
# (`unlink_anon_vmas()`): the source becomes unfaulted, and its next write fault finds
# or allocates an anon_vma again.

# %%
res = run_model(load("dontunmap-whole"))
for text, snap in res.steps:
    print(f"{text:34s}", "  ".join(f"{v.id}{pages_of(v)} pgoff+{v.vm_pgoff - (BASE >> PAGE_SHIFT)} {v.anon_vma or '-'}"
                                    for v in snap.process("P0").vmas))

# %% [markdown]
# `merge.c: mremap_faulted_to_unfaulted_prev` combines the two: a written 3-page VMA A
# (pages 4–6) is moved away, an unwritten B is mapped at pages 1–3, and A is moved back
# with `MREMAP_DONTUNMAP`. At page 4 A's offsets (it kept `pgoff+4`) continue B's, B has no
# anon_vma, so B and A merge into one 6-page VMA that must take over A's anon_vma, or A's
# folios, whose `mapping` is that anon_vma, would be lost.
#
# In 6.16–6.18.0 that is where the bug was: the merge of a new range (`vma_expand()`)
# called `dup_anon_vma()` only when it removed `next`, copying `next`'s anon_vma; nothing
# copied the anon_vma of the VMA being moved, which is neither `prev` nor `next`. So when
# the target (here the unfaulted `prev` B) had none, the merged VMA had none either,
# while the moved PTEs mapped folios whose `mapping` is A's anon_vma; after
# `MREMAP_DONTUNMAP` had unlinked the source, that anon_vma could be freed under them: a
# use-after-free, fixed by 61f67c230a5e (in 6.18-stable in January 2026 and in 6.19). The
# fix passes the source as `vmg->copied_from` (`vma_merge_copied_range()`), and
# `vma_expand()` calls `dup_anon_vma(target, copied_from)`. The model follows the fixed kernel:

# %%
res = run_model(load("selftest-mremap-faulted-to-unfaulted-prev"))
for text, snap in res.steps[2:]:
    print(f"{text:34s}", "  ".join(f"{pages_of(v)} pgoff+{v.vm_pgoff - (BASE >> PAGE_SHIFT)} {v.anon_vma or '-'}"
                                    for v in snap.process("P0").vmas))

# %% [markdown]
# The same fix also refuses the merge when the copied-from VMA is a *fork child*
# (`vma_is_fork_child()`), which the variant `...-prev-forked` shows: the moves happen in a
# child after `fork()`, and A stays a separate VMA. Chapter 5 explains why fork children
# are refused, and chapter 7 lets you check which side of the fix your kernel is on.

# %%
res = run_model(load("selftest-mremap-faulted-to-unfaulted-prev-forked"))
for v in res.snapshot.process("P1").vmas:
    print("P1", pages_of(v), f"pgoff+{v.vm_pgoff - (BASE >> PAGE_SHIFT)}", v.anon_vma or "-", "avcs", list(v.anon_vma_chain))

# %% [markdown]
# ## Playground
#
# The playground starts from `mremap-faulted` after its first move (page 2 sits at page 8
# with `pgoff+2`). Try moving it next to `[6, 8)` from the other side, back to page 2, or to
# page 3; map fresh memory right after it; use the address view to see the crossing lines.

# %%
from rmapkit.widgets import Playground

start = "\n".join(load("mremap-faulted").text().splitlines()[:-1])
pg = Playground(start, view="address")
print(pg.apply("P0: mremap 8 1 1 to 5"), pg.apply("P0: mmap 6 1 rw private anon fixed"))
print(pg.text())
print(pg.apply("P0: mremap 5 1 1 to 2"))
print(pg.text("graph"))
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

print(question('move-back', 2).text)

# %% [markdown]
# The five pages were never written, so they have no anon_vma. Moving `[3, 5)` to page 9
# gives the moved VMA `vm_pgoff` p+9 (`copy_vma()` resets it for unfaulted memory), and
# moving it back to page 3 gives it p+3. That continues `[1, 3)` (p+1 + 2 pages) and is
# continued by `[5, 6)` (p+5): it merges with both, and `[1, 6)` is one VMA again. Yes:

# %%
check('move-back', 2, True)

# %% [markdown]
# Your turn. Put your answer in place of `None` and run the cell. A wrong answer first gets a
# hint: the idea or the step to look at, not the value. A second wrong answer (or
# `solution(kind, seed)`, from `rmapkit.exercises`) shows the worked explanation with its
# diagram.

# %%
print(question('vma-pgoff', 2).text)

# %%
answer = None
check('vma-pgoff', 2, answer)

# %%
print(question('move-back', 1).text)

# %%
answer = None
check('move-back', 1, answer)

# %%
print(question('folio-index', 6).text)

# %%
answer = None
check('folio-index', 6, answer)

# %% [markdown]
# ### Why?
#
# Two questions about the ideas rather than the numbers. Answer with a letter; a wrong
# letter first tells you why that option does not hold.

# %%
print(question('why', 8).text)

# %%
answer = None
check('why', 8, answer)

# %%
print(question('why', 9).text)

# %%
answer = None
check('why', 9, answer)

# %% [markdown]
# ## What you now know
#
# * `mremap()` of written anonymous memory keeps the range's `vm_pgoff` (`copy_vma()`), so
#   every folio's `index` still matches at the new address; the moved VMA no longer has
#   `vm_pgoff == vm_start >> PAGE_SHIFT`.
# * A VMA is one straight line of page offsets; neighbours merge only if the line continues,
#   so a moved written VMA merges back where it came from and hardly anywhere else.
# * Never-written memory gets the new address's offset and merges wherever it lands.
# * (Deeper) Since 6.16 a written range may merge with an unwritten neighbour, except a fork
#   child; 6.18.y's `copied_from` check closes the use-after-free the 6.16 rule opened for
#   `mremap()`.

# %% [markdown]
# **Next:** chapter 5, `fork()` and the anon_vma hierarchy.

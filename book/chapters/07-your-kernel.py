# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7 · Your kernel
#
# **In this chapter you will learn**
#
# * how to run the chapters' scenarios in real processes on the kernel in front of you, and
#   put the result beside the model's;
# * how to read the comparison: what was compared, what differs, and what could not be
#   seen and why;
# * what needs root, and what a Binder session (a normal user in a container) can and
#   cannot show;
# * what writing a file (`pwrite()`) changes for a mapping of it, and that the kernel agrees;
# * how to try a scenario of your own, from the playground or by hand.
#
# Every cell that reads the live kernel starts with `# NBVAL_IGNORE_OUTPUT`: its output
# depends on the machine, so the book's tests do not compare it, and what is stored here
# is what the machine that built the book saw (the first such cell says which kernel, and
# whether it ran as root).

# %% tags=["remove-cell"]
from rmapkit.book import BASE, show
from rmapkit.scenarios import load, run_model
from rmapkit.uapi import PAGE_SIZE

# %% [markdown]
# ## How the live side works
#
# `rmapkit.live` runs a scenario in fresh, disposable processes (a child Python
# interpreter in its own session, killed when the batch ends or times out): the same system
# calls at the same addresses, with the same `PROT_NONE` guard pages around the window. After
# every operation it reads what the kernel shows of the window:
#
# * `/proc/PID/smaps`: every VMA's range, permissions, offset, file name and `VmFlags`
#   (`fs/proc/task_mmu.c: show_map_vma()`, `show_smap_vma_flags()`);
# * `/proc/PID/pagemap`: for every page, present or not, the page frame number (PFN),
#   whether it is mapped exactly once (bit 56, `PM_MMAP_EXCLUSIVE`) and whether it is a file
#   or shared page (`PM_FILE`);
# * `/proc/kpageflags` and `/proc/kpagecount` for each present frame: anonymous or not, the
#   zero page or not, and its map count (`fs/proc/page.c`).
#
# Both sides produce the same `Snapshot` shape, and `rmapkit.scenarios.compare()` compares
# everything both can see. Frames are compared by identity, not number: `f0`, `f1`, … in
# order of first appearance, so "parent and child share a frame" means the same in both.
#
# | what | where | who may read it |
# |---|---|---|
# | VMAs: range, perms, offset column, name, VmFlags | `/proc/PID/maps`, `smaps` | the process's owner |
# | present, mapped once, file/shared | `/proc/PID/pagemap` | the process's owner |
# | the PFN (bits 0–54) | `/proc/PID/pagemap` | `CAP_SYS_ADMIN` only; zero for everyone else (since 4.2) |
# | anon, zero page, map count | `/proc/kpageflags`, `/proc/kpagecount` | root (the files are mode 0400, owned by root; `fs/proc/page.c` checks nothing else) |
# | `anon_vma`, avcs, `folio->index`, anonymous `vm_pgoff`, PageAnonExclusive, pte_special | nowhere | nobody: kernel-internal |
#
# Without the PFN, the comparison cannot tell *which* frame a page maps (so not whether a
# parent and child share one after `fork()`); without kpageflags it cannot tell anonymous
# pages from the zero page. On **Binder** you are a normal user (`jovyan`) in a container:
# VMAs, merges, splits, `VmFlags` and which pages are present are all visible, the frame
# identity, the anon/zero flags and the map counts are not, and the live snapshots say so
# instead of guessing. Binder's kernel is whatever its host runs, so the 6.16 merge rules
# and the 6.18-stable `copied_from` check (chapter 4) may or may not be there: the diff
# will tell you.
#
# ## What can this machine show?

# %%
# NBVAL_IGNORE_OUTPUT
import os, platform
from rmapkit import live

print("kernel", platform.release(), "|", "root" if os.geteuid() == 0 else f"uid {os.geteuid()} (not root)")
why = live.observability()
LIVE = "everything" not in why
if not why:
    print("everything the comparison uses is visible")
for field, reason in sorted(why.items()):
    print(f"not visible: {field:10s} {reason}")

# %% [markdown]
# ## One scenario, both sides
#
# Run the split example of chapter 3 in real processes. `run_live()` returns the same kind
# of result as `run_model()`: per operation the outcome (success, an errno, or SIGSEGV) and a
# snapshot. `strict=False` records surprises instead of raising.

# %%
# NBVAL_IGNORE_OUTPUT
from rmapkit.render import to_maps
from rmapkit.scenarios import compare_runs, run_live

sc = load("split")
model = run_model(sc)
if LIVE:
    kernel = run_live(sc, strict=False)
    print("error:", kernel.error, "| outcomes:", kernel.outcomes)
    for (text, m), (_, l) in zip(model.steps, kernel.steps):
        print("after", text)
        print("  model :", to_maps(m).strip().replace("\n", "\n          "))
        print("  kernel:", to_maps(l).strip().replace("\n", "\n          "))
else:
    print("no live kernel here:", why["everything"])

# %% [markdown]
# The kernel's maps show no `vm_pgoff` for anonymous memory (the offset column is 0), so
# the comparison cannot check the virtual anon file directly: it checks its consequences,
# which VMAs exist, which merged and which split. `compare_runs()` goes op by op and stops at
# the first op after which model and kernel differ; here they should agree:

# %%
# NBVAL_IGNORE_OUTPUT
if LIVE and not kernel.error:
    d = compare_runs(model, kernel)
    print(d.text())

# %% [markdown]
# The same renderers draw both snapshots. The model's address view of the split example
# after the `munmap()` (chapter 3):

# %%
show(model.snapshot, view="address")

# %% [markdown]
# and the kernel's, from `/proc`: the VMAs and the present anonymous pages are there, but
# `vm_pgoff` of anonymous memory, the folios and their `index` are drawn as unknown (`?`,
# empty), because nothing in `/proc` shows them. That is why the virtual anon file can
# only be checked through its consequences.

# %%
# NBVAL_IGNORE_OUTPUT
if LIVE and not kernel.error:
    show(kernel.snapshot, view="address")

# %% [markdown]
# ## Every chapter's scenarios
#
# One batch runs them all (one interpreter start for the lot). A scenario marked
# `model-only` is not run, with its reason (chapter 6's `remap_pfn_range()` scenarios:
# no device here gives user space a *private* `remap_pfn_range()` mapping, and the one
# shared user, the `perf_event_open()` ring buffer, does not map frames a scenario can
# choose).

# %%
CHAPTERS = {
    "2 virtual anon file": ["anon0-fd-anon1", "anon0-fd-anon1-both-faulted", "mmap-before"],
    "3 split example": ["split"],
    "4 mremap and merging": ["mremap-faulted", "mremap-unfaulted", "read-zero-page",
                             "selftest-mremap-correct-placed-faulted", "selftest-mprotect-unfaulted-left",
                             "mprotect-account", "dontunmap-whole", "selftest-mremap-faulted-to-unfaulted-prev",
                             "selftest-mremap-faulted-to-unfaulted-prev-forked"],
    "5 fork": ["fork-cow", "fork-chain", "fork-child-sticky"],
    "6 remap_pfn_range": ["remap-pfn-private", "remap-pfn-shared"],
}

for chapter, names in CHAPTERS.items():
    print(f"chapter {chapter}: {', '.join(names)}")

# %%
# NBVAL_IGNORE_OUTPUT
from rmapkit.scenarios import run_live_many

if LIVE:
    names = [n for ns in CHAPTERS.values() for n in ns]
    kernels = dict(zip(names, run_live_many([load(n) for n in names])))
    for chapter, ns in CHAPTERS.items():
        print(f"chapter {chapter}")
        for n in ns:
            k_res, m_res = kernels[n], run_model(load(n))
            if k_res.skipped:
                verdict = f"not run: {k_res.skipped}"
            elif k_res.error:
                verdict = f"live run failed: {k_res.error}"
            else:
                d = compare_runs(m_res, k_res)
                verdict = "agree" if not d else f"DIFFER after op {d.step + 1}: {d.op}"
            print(f"  {n:52s} {verdict}")

# %% [markdown]
# ## What a `write()` changes
#
# The chapters map files whose page cache starts empty, so every page enters it through a
# fault. Real programs mostly `write()` a file first and map it afterwards, and that changes
# what the first fault sees: `pwrite()` puts the written pages into the page cache
# (`folio->index` = file offset >> `PAGE_SHIFT`), and a read fault then maps, besides its own
# page, every cached neighbour in the same aligned block of 16 pages (`do_fault_around()` →
# `filemap_map_pages()`, clipped to the VMA and to the end of the file). The shipped
# scenario `file-write-then-map` writes one 4-page file, `ftruncate()`s another to 4 pages
# of holes, maps both privately and reads page 1 of each:

# %%
print(load("file-write-then-map").text())

# %%
def present(snap, proc, first, n):
    """One letter per window page: P page cache, C private copy, . no PTE."""
    pages = {(pv.addr - BASE) // PAGE_SIZE: pv for pv in snap.process(proc).pages}
    return "".join("." if i not in pages or not pages[i].present
                   else "C" if pages[i].anon else "P" for i in range(first, first + n))


written = run_model(load("file-write-then-map"))
print("written file, pages 0-3:", present(written.snapshot, "P0", 0, 4))
print("file of holes, pages 8-11:", present(written.snapshot, "P0", 8, 4))
for space in written.snapshot.address_spaces:
    print(f"page cache of {space.name}: indices {[i for i, _ in space.pages]}")

# %% [markdown]
# The address view draws the same (`f`: a file page mapped, `-`: no PTE):

# %%
show(written.snapshot, view="address")

# %% [markdown]
# One fault, four pages mapped for the written file; one for the file of holes, whose page
# cache holds only the page the fault allocated (tmpfs allocates a page for the faulting
# hole only; reading holes with `pread()` allocates nothing at all). The other file
# operations follow the kernel too: a private mapping sees a later `pwrite()` on every page
# it has not copied (its PTEs map the very page-cache folios the write changes); shrinking a
# file with `ftruncate()` removes the pages past the new end from every mapping in every
# process, private copies included; punching a hole with
# `fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)` removes the page-cache pages but
# leaves private copies alone. Each has a scenario, and the kernel agrees:

# %%
# NBVAL_IGNORE_OUTPUT
from rmapkit.scenarios.library import names as shipped

FILE_SCENARIOS = [n for n in shipped() if n.startswith("file-")]
if LIVE:
    for n, k_res in zip(FILE_SCENARIOS, run_live_many([load(n) for n in FILE_SCENARIOS])):
        if k_res.error:
            verdict = f"live run failed: {k_res.error}"
        else:
            d = compare_runs(run_model(load(n)), k_res)
            verdict = "agree" if not d else f"DIFFER after op {d.step + 1}: {d.op}"
        print(f"  {n:30s} {verdict}")

# %% [markdown]
# A file on a disk file system (`file NAME PAGES disk` in a scenario, ext4 here) behaves the
# same only when nothing reads ahead: the scenario `file-write-then-map-disk` maps its file
# with `madvise(MADV_RANDOM)`. Without it, one read fault in a file that was never read
# makes the kernel read the pages around it as well, and fault-around then maps all of
# them; the model has no readahead (the README's "Not modelled" says exactly what differs).

# %% [markdown]
# ## Large folios under your own THP settings
#
# Chapter 8's scenarios set the THP sizes they need. Here the same scenarios run with **your
# kernel's** settings instead: the model is configured like the kernel in front of it
# (`Kernel(thp=read_settings())`, every fault-relevant file of
# `/sys/kernel/mm/transparent_hugepage/`), and the kernel is left as it is. With the stock
# settings (`enabled=madvise`, only the 2 MiB size on) the mTHP scenarios get 4 KiB pages in
# both; on a kernel with more sizes enabled both get those folios.

# %%
# NBVAL_IGNORE_OUTPUT
from dataclasses import replace

from rmapkit.live.thp import read_settings
from rmapkit.uapi import THP_ANON_KEYS

mine = read_settings()
yours = tuple((key, mine[key]) for key in THP_ANON_KEYS if key in mine)
print("your THP settings:", {k: v for k, v in yours
                             if k in ("enabled", "use_zero_page") or v != "never"})
THP_SCENARIOS = [n for n in shipped() if n.startswith(("thp-", "mthp-"))]
if LIVE:
    scs = [replace(load(n), thp=yours) for n in THP_SCENARIOS]
    for sc, k_res in zip(scs, run_live_many(scs)):
        if k_res.skipped or k_res.error:
            verdict = k_res.skipped or f"live run failed: {k_res.error}"
        else:
            d = compare_runs(run_model(sc, strict=False), k_res)
            verdict = "agree" if not d else f"DIFFER after op {d.step + 1}: {d.op}"
        print(f"  {sc.name:28s} {verdict}")

# %% [markdown]
# ## Reading a difference
#
# When they differ, `Diff.text()` (or the `Diff` object itself, displayed as a table in
# Jupyter) lists each difference in a sentence and puts the VMAs side by side, with `!`
# marking the rows that differ, and ends with what was **not compared**, and why. To see one
# without a broken kernel, compare snapshots from different steps on purpose: the model
# after the writes (one VMA) with the kernel after the `munmap()` (two):

# %%
# NBVAL_IGNORE_OUTPUT
from rmapkit.scenarios import compare

if LIVE and not kernel.error:
    print(compare(model.steps[1][1], kernel.steps[2][1]).text())

# %% [markdown]
# A real difference means one of three things: the model is wrong (please report it with
# the scenario), your kernel is older or newer than 6.18.y and behaves differently (the
# forked `mremap()` scenario, for example, merges on 6.16–6.18.0, which lack the
# `copied_from` check), or the scenario depends on something the model does not model
# (chapter 0 lists what). The command line does the same:
# `python -m rmapkit diff split` (exit status 1 if they differ), `python -m rmapkit live
# split` for the kernel's side alone.
#
# ## Your own scenario
#
# Build one in the playground (or edit the text below), look at the model's answer, then run
# the same ops on the kernel. The playground's `scenario()` is a scenario like the shipped
# ones.

# %%
from rmapkit.widgets import Playground

pg = Playground(window_pages=12)
for op in ("P0: mmap 0 3 rw private anon", "P0: write 0 3", "P0: mmap 3 2 rw private anon",
           "P0: mprotect 3 2 r", "P0: mprotect 3 2 rw"):
    print(f"{op:32s}", pg.apply(op), pg.error or "")
print(pg.scenario_text())
print(pg.text("address"))

# %% tags=["nbval-ignore-output"]
pg

# %% [markdown]
# After changing things in the widget, run this cell: it replays the playground's history
# on your kernel and compares.

# %%
# NBVAL_IGNORE_OUTPUT
if LIVE:
    sc = pg.scenario()
    d = compare_runs(run_model(sc, strict=False), run_live(sc, strict=False))
    print(pg.scenario_text())
    print(d.text())

# %% [markdown]
# ## Exercises: predict, then ask your kernel
#
# Every seeded exercise is a scenario too, so the kernel can check it. Predict the answer
# from the chapters, check it with the model, and then run the same ops in a real process:
# the last cell tells you whether your kernel agrees with *your* answer (it prints the
# kernel's count only after you have answered).

# %%
from rmapkit.exercises import check, question
from rmapkit.scenarios import parse

q = question("vma-count", 20)
print(q.text)

# %%
answer = None
check("vma-count", 20, answer)

# %%
# NBVAL_IGNORE_OUTPUT
if answer is None:
    print("Predict first: put your answer in the cell above, run it, then run this one.")
elif LIVE:
    res = run_live(parse(q.scenario, name="exercise"), strict=False)
    if res.error:
        print("the live run failed:", res.error)
    else:
        n = len(res.snapshot.process("P0").vmas)
        print("Your kernel agrees with you." if str(n) == str(answer).strip() else
              f"Your kernel disagrees: it has {n} VMA(s) in the window:")
        print(to_maps(res.snapshot), end="")

# %% [markdown]
# ### Why?
#
# Two questions about what the kernel shows and hides. Answer with a letter; a wrong
# letter first tells you why that option does not hold.

# %%
print(question('why', 14).text)

# %%
answer = None
check('why', 14, answer)

# %%
print(question('why', 15).text)

# %%
answer = None
check('why', 15, answer)

# %% [markdown]
# ## What you now know
#
# * `run_live()` runs a scenario in real processes and reads `/proc`; `compare_runs()` puts
#   it beside the model's run and stops at the first difference, saying what it could not see.
# * The kernel shows VMAs, flags and present pages to their owner; frame numbers and page
#   flags need root; anon_vmas, avcs, `folio->index` and anonymous `vm_pgoff` are never shown,
#   so the virtual anon file is checked through what merges and what splits.
# * Every exercise is a scenario: predict, check with the model, then ask your kernel.

# %% [markdown]
# That is the end of the book's chapters. Everything here is a model you can change: every
# scenario is a text file (`python -m rmapkit show split`), every figure is generated
# (`python -m rmapkit.figures figures/`), and the kernel is one `diff` away.

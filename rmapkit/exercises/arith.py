"""Exercise kinds of page-offset arithmetic: ``page-index`` (chapter 1), ``pfn`` and
``normal`` (chapter 6).

``page-index``: one VMA, anonymous or a private file mapping at some file offset, maybe
grown down by an mmap before it or cut by a munmap (no mremap: chapter 1 comes first).
Either "what is linear_page_index(vma, address of page k)?" or "which page does
vma_address(vma, pgoff) return (or -EFAULT)?"; include/linux/pagemap.h and mm/internal.h
arithmetic, answered from the model's VMA.

``pfn``: a device whose ->mmap calls remap_pfn_range() (PFNs from 0x80000, as in chapter 6),
mapped privately or shared at a file offset, maybe split or moved: what is vm_pgoff of the
VMA at a page?  ``normal``: a private device mapping, some pages written (copy-on-write),
maybe forked or cut: which pages does vm_normal_page() call normal?
"""

from __future__ import annotations

from rmapkit.exercises.core import (BASE_PGOFF, AnswerError, Builder, Case, layout_lines,
                                    letters, page_of, parse_int, parse_pages, pgoff_text,
                                    pick_target, register)

__all__ = ["page_index", "pfn", "normal", "PFN_BASE", "DEVICE"]

PFN_BASE = 0x80000                  # the device's first frame, the same in all of chapter 6
DEVICE = "mydev"                    # /tmp/rmapkit/mydev, as the scenario format names it
EFAULT = -14


def _story(res, window):
    names = letters(res.steps)
    lines = ["The ops, and P0's VMAs after each:"]
    for i, (op, snap) in enumerate(res.steps, 1):
        lines.append(f"{i}. {op}")
        lines += layout_lines(snap, window, names)
    return lines


def _vma_at(snap, page, proc="P0"):
    return next((v for v in snap.process(proc).vmas
                 if page_of(v.vm_start) <= page < page_of(v.vm_end)), None)


# -- page-index ------------------------------------------------------------------------------
@register("page-index", "linear_page_index() and vma_address() of one VMA", chapter=1,
          allow=("anon", "file"))
def page_index(rng, allow):
    window = 12
    source = rng.choice(allow)
    ask = rng.choice(["index", "index", "address"])
    b = Builder(rng, window)
    a, n = rng.randint(2, 5), rng.randint(3, 5)
    if source == "file":
        b.lines.insert(0, "file data 16")
        b.try_op("P0: open data r as F")
        off = rng.randint(0, 8)
        b.try_op(f"P0: mmap {a} {n} r private fd=F off={off}")
    else:
        b.try_op(f"P0: mmap {a} {n} rw private anon")
        twist = rng.random()
        if twist < 0.4:
            m = rng.randint(1, 2)
            b.try_op(f"P0: mmap {a - m} {m} rw private anon")      # merges: grows down
        elif twist < 0.7:
            b.try_op(f"P0: munmap {rng.randint(a + 1, a + n - 2)} 1")
    sc, res = b.run()
    snap = res.snapshot
    vmas = snap.process("P0").vmas
    v = rng.choice(vmas)
    lo, hi = page_of(v.vm_start), page_of(v.vm_end)
    rel = source == "anon"
    lines = _story(res, window)
    lines.append("")
    desc = (f"the VMA at pages [{lo}, {hi}) has vm_pgoff {pgoff_text(v.vm_pgoff)}"
            + (" (its file offset in pages)" if not rel else
               " (vm_start >> PAGE_SHIFT: p + its first page)"))
    lines.append(f"After the last op {desc}.")
    if ask == "index":
        page = rng.randint(lo, hi - 1)
        answer = v.vm_pgoff + (page - lo)
        lines.append(f"linear_page_index(vma, page {page}) = ((addr - vm_start) >> PAGE_SHIFT) "
                     f"+ vm_pgoff = ({page} - {lo}) + {pgoff_text(v.vm_pgoff)} = "
                     f"{pgoff_text(answer)}.")
        prompt = (f"What is linear_page_index(vma, addr) for the address of page {page}, "
                  f"in the VMA that contains it?" + (
                      f"  (Page 0 of the window has pgoff p = {BASE_PGOFF:#x}; answer k "
                      "for p+k.)" if rel else "  (A file page number.)"))
        text = pgoff_text(answer) if rel else f"file page {answer}"
        hint = ("linear_page_index() counts pages from vm_start and adds vm_pgoff.  Which VMA "
                "holds the page after the last op, where does it start, and what is its "
                "vm_pgoff" + (" (for private anonymous memory: vm_start >> PAGE_SHIFT)?"
                              if rel else " (for a file mapping: mmap's offset in pages)?"))
        how = "a number k (for p+k), e.g. 5" if rel else "a file page number, e.g. 5"
    else:
        j = rng.randint(v.vm_pgoff - 2, v.vm_pgoff + v.pages + 1)
        inside = v.vm_pgoff <= j < v.vm_pgoff + v.pages
        answer = lo + (j - v.vm_pgoff) if inside else EFAULT
        if inside:
            lines.append(f"vma_address(vma, {pgoff_text(j)}) = vm_start + ((pgoff - vm_pgoff) "
                         f"<< PAGE_SHIFT): page {lo} + ({pgoff_text(j)} - "
                         f"{pgoff_text(v.vm_pgoff)}) = page {answer}, inside [{lo}, {hi}).")
        else:
            lines.append(f"vma_address(vma, {pgoff_text(j)}): the VMA covers pgoffs "
                         f"[{pgoff_text(v.vm_pgoff)}, {pgoff_text(v.vm_pgoff + v.pages - 1)}]"
                         f"; {pgoff_text(j)} is outside, so it returns -EFAULT (-14).")
        prompt = (f"For the VMA at pages [{lo}, {hi}) after the last op: which page of the "
                  f"window does vma_address(vma, {pgoff_text(j)}, 1) return?  (-14 if it "
                  "returns -EFAULT.)")
        text = f"page {answer}" if inside else "-14 (-EFAULT)"
        hint = ("vma_address() inverts linear_page_index(): vm_start plus (pgoff - vm_pgoff) "
                "pages, and -EFAULT when that falls outside [vm_start, vm_end) or pgoff is "
                "below vm_pgoff.  What is this VMA's vm_pgoff?")
        how = "a page number, or -14 for -EFAULT"

    def read(raw):
        if isinstance(raw, str) and raw.strip().upper().lstrip("-") == "EFAULT":
            return EFAULT
        return parse_int(raw, "a number")

    def same(value):
        return value == answer or (rel and ask == "index" and value + BASE_PGOFF == answer)

    return Case(kind="", seed=0, prompt=prompt, scenario_text=sc.text(), answer=answer,
                answer_text=text, derivation=lines, read=read, how_to_answer=how,
                same=same, hint=hint, figure=(snap, "address", "P0"))


# -- pfn ---------------------------------------------------------------------------------------
def _device_lines(shared_ok=True):
    return ["model-only remap_pfn_range() needs a device",
            f"device {DEVICE} 16 pfn={PFN_BASE:#x}"]


@register("pfn", "vm_pgoff of a remap_pfn_range() mapping", chapter=6,
          allow=("private", "shared"))
def pfn(rng, allow):
    window = 12
    want = pick_target(rng, ["pfn-whole", "pfn-split", "pfn-moved", "offset"])
    if "shared" not in allow:
        want = want if want != "offset" else "pfn-split"
    if "private" not in allow:
        want = "offset"
    b = Builder(rng, window)
    b.lines[:0] = _device_lines()
    b.try_op(f"P0: open {DEVICE} rw as D")
    a, n, off = rng.randint(0, 3), rng.randint(3, 5), rng.randint(0, 6)
    kind = "shared" if want == "offset" else "private"
    b.try_op(f"P0: mmap {a} {n} rw {kind} fd=D off={off}")
    if want in ("pfn-split", "offset") and rng.random() < 0.8:
        b.try_op(f"P0: munmap {rng.randint(a + 1, a + n - 2)} 1")
    if want == "pfn-moved":
        m = rng.randint(1, 2)
        s = a + n - m
        b.try_op(f"P0: mremap {s} {m} {m} to {window - m}")
    sc, res = b.run()
    vmas = res.snapshot.process("P0").vmas
    upper = [v for v in vmas if page_of(v.vm_start) != a]
    v = rng.choice(upper or list(vmas))
    page = rng.randint(page_of(v.vm_start), page_of(v.vm_end) - 1)
    lines = _story(res, window)
    lines.append("")
    if kind == "private":
        lines.append(f"mmap of the private (COW) mapping at file page {off}: the device's "
                     f"->mmap calls remap_pfn_range(vma, vm_start, {PFN_BASE:#x} + {off}, "
                     f"size), which sets vm_pgoff = the first PFN = {PFN_BASE + off:#x} "
                     "(is_cow_mapping()).")
    else:
        lines.append(f"mmap of the shared mapping at file page {off}: no COW mapping, so "
                     f"remap_pfn_range() leaves vm_pgoff = the file offset = {off}.")
    lines.append(f"Splits give the upper piece vm_pgoff + offset (__split_vma()) and mremap "
                 f"keeps the range's own pgoff, so the VMA now at pages "
                 f"[{page_of(v.vm_start)}, {page_of(v.vm_end)}) has vm_pgoff "
                 f"{v.vm_pgoff:#x}.")
    return Case(kind="", seed=0,
                prompt=(f"What is vm_pgoff of the VMA that contains page {page} of P0 after "
                        f"the last op?  (The device's frames start at PFN {PFN_BASE:#x}.)"),
                scenario_text=sc.text(), answer=v.vm_pgoff, answer_text=f"{v.vm_pgoff:#x}",
                derivation=lines, read=lambda raw: parse_int(raw, "vm_pgoff"),
                how_to_answer="a number, e.g. 0x80010",
                hint=("Is the mapping a COW mapping (private and may be written)?  Then "
                      "remap_pfn_range() stored the first PFN in vm_pgoff; a shared one keeps "
                      "the file offset.  After that, splits and moves keep the line: the "
                      "upper piece of a split gets vm_pgoff + offset."),
                figure=(res.snapshot, "address", "P0"))


# -- normal ------------------------------------------------------------------------------------
@register("normal", "Which pages of a PFN mapping are normal pages?", chapter=6,
          ops=(1, 3))
def normal(rng, ops):
    window = 8
    size = pick_target(rng, [0, 1, 1, 2, 2, 3])
    for attempt in range(60):
        b = Builder(rng, window)
        b.lines[:0] = _device_lines()
        b.try_op(f"P0: open {DEVICE} rw as D")
        a, n = rng.randint(0, 2), 4
        b.try_op(f"P0: mmap {a} {n} rw private fd=D off={rng.randint(0, 4)}")
        for _ in range(ops if isinstance(ops, int) else rng.randint(*ops)):
            what = rng.choice(["write", "write", "read", "munmap", "fork"])
            pg = rng.randint(a, a + n - 1)
            if what == "fork" and len(b.result.snapshot.processes) == 1:
                b.try_op("P0: fork P1")
                b.try_op(f"P1: write {pg}")
            elif what in ("write", "read"):
                b.try_op(f"P0: {what} {pg}")
            elif what == "munmap":
                b.try_op(f"P0: munmap {pg} 1")
        snap = b.result.snapshot
        found = [page_of(pg.addr) for pg in snap.process("P0").pages
                 if pg.present and not pg.pfnmap and a <= page_of(pg.addr) < a + n]
        if len(found) == size or attempt >= 50:
            break
    sc, res = b.run()
    snap = res.snapshot
    answer = tuple(sorted(page_of(pg.addr) for pg in snap.process("P0").pages
                          if pg.present and not pg.pfnmap and a <= page_of(pg.addr) < a + n))
    lines = _story(res, window)
    lines.append("")
    lines.append("remap_pfn_range() installed a special PTE for every page at mmap time: raw "
                 "frames, no struct page.  A write to a private mapping is a copy-on-write "
                 "fault: wp_page_copy() puts a new anonymous folio there, with a normal PTE.")
    for pg in snap.process("P0").pages:
        p = page_of(pg.addr)
        if not a <= p < a + n:
            continue
        v = _vma_at(snap, p)
        if not pg.present:
            lines.append(f"page {p}: no PTE (unmapped)")
        elif pg.pfnmap:
            off = p - page_of(v.vm_start)
            lines.append(f"page {p}: pfn {pg.pfn:#x} == vm_pgoff + {off} = "
                         f"{v.vm_pgoff + off:#x}: the original frame, no page")
        else:
            lines.append(f"page {p}: {pg.folio}, a CoW copy (pfn != vm_pgoff + offset): a "
                         "normal page")
    lines.append("Normal pages: " + (", ".join(map(str, answer)) if answer else "none") + ".")

    def read(raw):
        got = parse_pages(raw)
        bad = [x for x in got if not a <= x < a + n]
        if bad:
            raise AnswerError(f"page {bad[0]} is not in the device mapping [{a}, {a + n})")
        return got

    return Case(kind="", seed=0,
                prompt=(f"After the last op, which pages in [{a}, {a + n}) of P0 map a normal "
                        "page, one for which vm_normal_page() returns a struct page?"),
                scenario_text=sc.text(), answer=answer,
                answer_text="[" + ", ".join(map(str, answer)) + "]",
                derivation=lines, read=read,
                how_to_answer="a list of page numbers, e.g. [1, 3], or [] for none",
                hint=("A remapped frame sits at pfn == vm_pgoff + offset and is never normal; "
                      "only a copy-on-write copy is.  Which ops wrote to P0's pages (a read "
                      "faults nothing in: the PTEs are there from mmap), and which pages did "
                      "a munmap take away?"),
                figure=(snap, "address", "P0"))

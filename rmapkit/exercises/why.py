"""Conceptual "why" questions: multiple choice, with an explanation for every option.

Kind ``why``: seed ``2*c`` and ``2*c + 1`` are chapter ``c``'s two questions (seeds past 17
cycle through them with the options in another order).  The option that is right is put
at a stratified position (:func:`rmapkit.exercises.core.pick_target`), so over any run of
seeds each letter is right equally often.  A wrong answer first gets the explanation of
the option chosen (why it does not hold: a hint, not the answer); asking again, or
:func:`rmapkit.exercises.solution`, explains every option.

>>> from rmapkit.exercises import question
>>> "vm_pgoff = 0" in question("why", 4).prompt
True
"""

from __future__ import annotations

import textwrap

from rmapkit.exercises.core import AnswerError, Case, pick_target, register

__all__ = ["WHY", "why"]

# (chapter, question, right option and why, [(wrong option, why not)] * 3)
WHY = [
    (0, "An anonymous folio points at its anon_vma.  Why does it also need folio->index?",
     ("The anon_vma's tree only names candidate VMAs; the index picks the avcs whose pgoff "
      "range covers it, and vma_address() turns it into the address in each VMA.",
      "Right: rmap_walk_anon() queries the tree with [index, index + nr - 1] and calls "
      "vma_address(vma, index, nr) for each avc it visits."),
     [("It is the folio's place on the LRU list.",
       "The LRU is a linked list; nothing about it is stored in index, which is a page "
       "offset in the (virtual) file."),
      ("It is the physical frame number.",
       "The frame number follows from where the struct page sits (folio_pfn()); index is a "
       "page offset, a position in a file."),
      ("Only file folios use it; for anonymous folios it is left 0.",
       "folio_add_new_anon_rmap() sets it to linear_page_index(vma, addr), and "
       "rmap_walk_anon() depends on it.")]),
    (0, "A write fault on private anonymous memory attaches an anon_vma to the VMA; a read "
        "fault does not.  Why?",
     ("A read of never-written memory maps the shared zero page, which belongs to no "
      "anon_vma; only a new anonymous folio needs an rmap home.",
      "Right: do_anonymous_page() maps the zero page for a read and calls "
      "vmf_anon_prepare() only on the write path."),
     [("The page table does not record reads.",
       "A read fault does install a PTE: to the zero page, read-only."),
      ("mmap() already allocated the anon_vma; a read just does not use it.",
       "mmap() allocates none: vmf_anon_prepare() -> __anon_vma_prepare() does, on the "
       "first fault that needs one."),
      ("A read allocates a folio but leaves folio->mapping NULL until it is written.",
       "No folio is allocated for a read of unwritten anonymous memory: the zero page is "
       "mapped instead.")]),
    (1, "Why must folio->index equal linear_page_index(vma, addr) in every VMA that maps "
        "the folio?",
     ("The index is all rmap has: the tree query and vma_address() turn it into an address "
      "in each VMA, so a mismatch sends the walk to the wrong place or nowhere.",
      "Right: and __page_check_anon_rmap() asserts exactly this on debug kernels."),
     [("So that /proc/PID/maps can print the offset column.",
       "maps prints 0 for anonymous memory and never reads a folio."),
      ("Because the page allocator hands out frames in index order.",
       "The allocator knows nothing of indexes; the fault chooses the index from the VMA."),
      ("It need not: the kernel rewrites folio->index whenever a VMA moves.",
       "Nothing rewrites it: mremap() keeps vm_pgoff instead (a proposal to relocate "
       "indexes, MREMAP_RELOCATE_ANON, was not merged as of 6.18).")]),
    (1, "linear_page_index() never fails, but vma_address() can return -EFAULT.  Why?",
     ("linear_page_index() is called with an address already inside the VMA; vma_address() "
      "runs for a candidate VMA from the tree, where the page may lie outside.",
      "Right: e.g. a large folio that straddles the VMA's end, or an avc whose key overlaps "
      "only part of the folio."),
     [("linear_page_index() checks too, but returns -1 instead.",
       "It has no range check at all: it extrapolates outside the VMA."),
      ("-EFAULT means the page is not present in the page table.",
       "vma_address() does no page-table lookup; page_vma_mapped_walk() checks the PTE "
       "afterwards."),
      ("vma_address() fails for every file mapping.",
       "The arithmetic is the same for file and anonymous VMAs.")]),
    (2, "What would break if private anonymous VMAs got vm_pgoff = 0, as shared anonymous "
        "memory does?",
     ("Adjacent anonymous mappings would not continue each other's offsets (0 + pages != "
      "0), so merging them would mean rewriting folio->index of every folio on one side.",
      "Right: with vm_pgoff = vm_start >> PAGE_SHIFT the file rule 'offsets must continue' "
      "merges anonymous memory with no special case and no folio touched."),
     [("rmap could no longer find anonymous folios at all.",
       "Not by itself: indexes counted from each VMA's start would still match its own "
       "avc keys.  Merging is what could not work."),
      ("mmap() would have to fail with EINVAL.",
       "Shared anonymous memory has vm_pgoff 0 and maps fine."),
      ("/proc/PID/maps would show wrong offsets.",
       "maps shows 0 for anonymous memory whatever vm_pgoff is.")]),
    (2, "In [anon0][fd][anon1] with anon0 and anon1 both written, mapping anonymous memory "
        "over fd does not make one VMA.  Why?",
     ("Each side got its own anon_vma and a VMA has exactly one: the merged VMA could not "
      "be in both, and one side's folios would point at an anon_vma it is not in.",
      "Right: is_mergeable_anon_vma() refuses two different non-NULL anon_vmas, so the new "
      "range joins one side only."),
     [("Their vm_pgoff do not continue.",
       "They do: all three offsets come from the addresses, so the line is straight."),
      ("MAP_FIXED never merges.",
       "It does: the new range merges with the left side here."),
      ("Writing changed the written VMAs' vm_flags.",
       "A write fault does not change vm_flags; the flags of all three agree.")]),
    (3, "After munmap() of the middle of three written pages, why need no folio change?",
     ("__split_vma() gives the upper piece vm_pgoff + offset, so both pieces still map the "
      "virtual file linearly and stay in the same anon_vma.",
      "Right: every folio's index still equals linear_page_index() where it is mapped, and "
      "its anon_vma's tree now holds one avc per piece."),
     [("The split rewrites the folios' index.",
       "__split_vma() touches the VMAs and their avcs, never a folio."),
      ("Each piece gets a new anon_vma, and the folios are copied into it.",
       "Both pieces keep the anon_vma; anon_vma_clone() only adds an avc for the new one."),
      ("The remaining folios are moved into the freed page's place.",
       "Folios do not move: the PTEs of the remaining pages stay as they were.")]),
    (3, "Why must a VMA's avcs be re-keyed in the interval tree when its range changes?",
     ("The tree is keyed by [vm_pgoff, vm_pgoff + pages - 1]: a stale key would hide the "
      "VMA from the query for pages it now maps, or offer it for pages it no longer maps.",
      "Right: hence anon_vma_interval_tree_pre_update_vma()/_post_update_vma() around "
      "every change of vm_start, vm_end or vm_pgoff."),
     [("To keep the maple tree of VMAs sorted.",
       "That is another tree, keyed by address; the interval tree holds avcs."),
      ("Because avcs store the VMA's addresses.",
       "Their keys are page offsets (from vm_pgoff and the size), which a range change "
       "alters: right idea, wrong quantity."),
      ("They need not be: the tree is rebuilt on every rmap walk.",
       "Nothing is rebuilt: the walk is O(log n + k) because the tree is kept up to date.")]),
    (4, "Why does mremap() keep vm_pgoff when it moves written anonymous memory?",
     ("The folios keep their index, so the moved VMA must keep the pgoff that makes "
      "linear_page_index() at the new address equal those indexes.",
      "Right: copy_vma() passes the range's own pgoff; move_page_tables() moves the PTEs "
      "and no folio is touched."),
     [("To keep /proc/PID/maps stable.",
       "maps shows 0 for anonymous memory, moved or not."),
      ("Because the destination may not be page aligned.",
       "mremap() requires page-aligned addresses (EINVAL otherwise)."),
      ("It does so only with MREMAP_DONTUNMAP.",
       "Every move of faulted anonymous memory keeps it, with or without DONTUNMAP.")]),
    (4, "Memory that was never written merges wherever mremap() puts it.  Why?",
     ("It has no anon_vma and no folios, so no index must be kept: copy_vma() gives it "
      "new_addr >> PAGE_SHIFT, which continues any anonymous neighbour's line.",
      "Right: the vma_is_anonymous(vma) && !vma->anon_vma case of copy_vma()."),
     [("Unwritten memory has no vm_flags to compare.",
       "It has the same vm_flags as any mapping; they are compared as usual."),
      ("The merge code ignores vm_pgoff for anonymous memory.",
       "The offset test applies to anonymous VMAs as to files: that is the virtual file."),
      ("It does not: moved memory never merges.",
       "Written memory moved back to its own place merges too; unwritten merges anywhere "
       "the flags allow.")]),
    (5, "A child's copy-on-write copy goes into the child's own anon_vma, not the parent's. "
        "Why?",
     ("Only the child maps the copy; in the child's anon_vma only the child (and its "
      "descendants) have avcs, so rmap walks for it never visit the parent.",
      "Right: wp_page_copy() -> folio_add_new_anon_rmap() uses the faulting VMA's own "
      "anon_vma."),
     [("The parent's anon_vma is read-only after fork().",
       "Nothing makes an anon_vma read-only; the parent keeps adding folios to it."),
      ("Because folio->index differs in the child.",
       "The index is the same: fork() copied vm_pgoff."),
      ("So that the parent's rmap walks can find it.",
       "The opposite: the parent's walks need not visit a copy only the child maps.")]),
    (5, "Why does anon_vma_fork() reuse an idle ancestor anon_vma instead of always "
        "allocating one?",
     ("Without it, forking a child and exiting, generation after generation, would grow "
      "the hierarchy and every chain without bound.",
      "Right: an ancestor with no VMA left (num_active_vmas 0) and fewer than two children "
      "is taken over, so fork chains stop growing."),
     [("Only to save one allocation per fork.",
       "An allocation is cheap; the unbounded chains (longer fork, longer walks) are the "
       "problem."),
      ("Because a child must always share its parent's anon_vma.",
       "Usually the child gets a new anon_vma of its own; reuse is the exception."),
      ("So that the child's VMA can merge with its neighbours.",
       "Fork children are refused such merges anyway (vma_is_fork_child()).")]),
    (6, "Why does remap_pfn_range() store the first PFN in vm_pgoff of a private mapping?",
     ("Without pte_special, vm_normal_page() can tell a remapped frame (pfn == vm_pgoff + "
      "offset) from a copy-on-write copy only through vm_pgoff.",
      "Right: and on x86-64, which has pte_special, the answer is the same either way."),
     [("So that rmap can find the device's frames.",
       "Raw frames have no struct page; rmap never sees them."),
      ("Because a file offset means nothing for a device.",
       "Shared mappings keep the file offset; only COW mappings get the PFN."),
      ("So that such mappings can merge with neighbours.",
       "VM_PFNMAP and VM_IO are in VM_SPECIAL: these VMAs never merge.")]),
    (6, "Why must a private remap_pfn_range() cover the whole VMA (else -EINVAL)?",
     ("The test pfn == vm_pgoff + offset works only if every original frame sits linearly "
      "from vm_start; a partial remap would leave pages the test misjudges.",
      "Right: one VMA, one straight line of frames, as for pgoffs."),
     [("Because the device has only one frame.",
       "The device has as many frames as it says; the rule is about the VMA."),
      ("Because special PTEs cannot be split.",
       "The VMA can be split later: __split_vma() keeps the line with vm_pgoff + offset."),
      ("To keep the mapping's VM_ACCOUNT charge.",
       "Accounting has nothing to do with it.")]),
    (7, "Why does the live comparison check VMAs and merges but not anonymous vm_pgoff?",
     ("/proc/PID/maps prints the offset only for file mappings; anonymous vm_pgoff, "
      "anon_vmas and folio->index are kernel-internal.",
      "Right: show_map_vma() prints 0 for anonymous memory, so the virtual file is checked "
      "through its consequences (what merges, what splits)."),
     [("Anonymous vm_pgoff is always 0 in the kernel.",
       "It is vm_start >> PAGE_SHIFT (do_mmap()); maps just does not show it."),
      ("Reading it needs root.",
       "Root sees the same 0 in maps: the value is not exported at all."),
      ("The model does not compute it.",
       "The model computes it; only the kernel does not show it.")]),
    (7, "Without root, pagemap shows PFN 0 for every page.  What can the comparison still "
        "check?",
     ("Which VMAs exist with which flags, and which pages are present and mapped once; not "
      "which frame a page maps, so not whether parent and child share one.",
      "Right: the live snapshot says which fields it could not see instead of guessing."),
     [("Nothing: without PFNs the live run is skipped.",
       "It runs: VMAs, VmFlags and the present bits need no privilege."),
      ("Everything: the PFN is never needed.",
       "Frame identity (sharing after fork) needs it."),
      ("Only the VmFlags.",
       "Ranges, merges, splits and the present/exclusive bits are visible too.")]),
    (8, "A 64 KiB folio is moved by mremap() to an address that is not a multiple of 64 KiB. "
        "Why may it keep its folio->index?",
     ("For anonymous memory only the page offsets must agree: the moved VMA keeps its "
      "vm_pgoff, so page i is still found at index + i, whatever the alignment of the "
      "address.",
      "Right: thp_vma_suitable_order() skips the pgoff alignment test for anonymous VMAs, "
      "and move_ptes() moves the 16 PTEs without touching the folio."),
     [("mremap() splits the folio into 16 order-0 folios, each with its own index.",
       "move_ptes() never splits a folio: the moved folio is the same order-4 folio."),
      ("The kernel copies the folio to a new, aligned one at the destination.",
       "Nothing is copied: the PTEs move and keep their frames (the PFNs stay)."),
      ("It does not: mremap() gives it the index of its new address.",
       "The index stays: a faulted anonymous VMA keeps its vm_pgoff when it moves "
       "(chapter 4), so linear_page_index() still matches.")]),
    (8, "munmap() of one page inside a PMD-mapped 2 MiB THP.  What happens to the folio?",
     ("The PMD is split into 512 PTEs and one is removed; the folio stays one order-9 "
      "folio, partially mapped, queued for a split that only memory pressure carries out.",
      "Right: vma_adjust_trans_huge() splits the PMD, and __folio_remove_rmap() calls "
      "deferred_split_folio() (split_deferred counts it once)."),
     [("The folio is split at once into 512 order-0 folios.",
       "munmap() never splits the folio itself: only split_folio() does, and munmap does "
       "not call it."),
      ("munmap() fails with EINVAL: a THP cannot be partly unmapped.",
       "It succeeds: the VMA splits at the page like any other."),
      ("The whole 2 MiB folio is freed, the other 511 pages are refaulted later.",
       "The other 511 pages stay mapped, by PTEs, with their contents.")]),
]
LETTERS = "abcd"


@register("why", "Why? A conceptual question, multiple choice", chapter=None)
def why(rng):
    """Build the multiple-choice Case for the rng's seed (see the module docstring)."""
    seed = rng.stratum[1] if getattr(rng, "stratum", None) else rng.randrange(len(WHY))
    chapter, prompt, (right, right_why), wrong = WHY[seed % len(WHY)]
    others = list(wrong)
    rng.shuffle(others)
    pos = pick_target(rng, range(4))
    options = others[:pos] + [(right, right_why)] + others[pos:]
    answer = LETTERS[pos]
    text = "\n".join(textwrap.wrap(prompt, 88)) + "\n" + "\n".join(
        textwrap.fill(o, 88, initial_indent=f"  ({LETTERS[i]}) ", subsequent_indent="      ")
        for i, (o, _) in enumerate(options))
    lines = [f"({LETTERS[i]}) {o}\n    " + ("RIGHT: " + w.removeprefix("Right: ") if i == pos else "Not so: " + w)
             for i, (o, w) in enumerate(options)]

    def read(raw):
        s = str(raw).strip().lower().strip("()")
        if s not in LETTERS:
            raise AnswerError(f"{raw!r} is not one of the options a, b, c, d")
        return s

    def hint_for(value):
        i = LETTERS.index(value)
        return f"({value}) does not hold: {options[i][1]}"

    return Case(kind="", seed=0, prompt=text, scenario_text="", answer=answer,
                answer_text=f"({answer}) {right}", derivation=lines, read=read,
                how_to_answer="a letter, e.g. 'b'", hint_for=hint_for,
                hint="Read each option against the chapter; which one names the mechanism?",
                extra={"chapter": chapter})

"""Bad input to every syscall: the errno the kernel returns (v6.18: mm/mmap.c: do_mmap(),
mm/vma.c: do_vmi_munmap(), mm/mprotect.c: do_mprotect_pkey(), mm/mremap.c:
check_mremap_params(), mm/madvise.c: madvise_behavior_valid()) and the state it leaves: exactly unchanged (the whole model fingerprint: snapshot, maps,
PTEs, folios, anon_vmas, page caches, file tables) except in the partial cases the kernel
itself has, which are tested for what they keep.  Every errno here was checked against this
machine's Linux 6.18.44 (same calls at the same addresses) unless the case says otherwise.

Each case builds a small layout first, drawn in vma.c's ruler notation::

    0123456789
    AA.BBB.CC.    A faulted RW, B read-only unfaulted, C faulted RW and forked
"""

import errno

import pytest

from modelhelpers import (PA, PAF, PS, RW, SAF, W, anon, assert_unchanged_after, expect_errno,
                          expect_segv, layout, pg, vma_at)
from rmapkit import BusError, Kernel
from rmapkit.model.mm import TASK_SIZE
from rmapkit.uapi import (MADV_DONTFORK, MADV_DONTNEED, MADV_FREE, MADV_WIPEONFORK,
                          MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_LOCKED,
                          MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MREMAP_DONTUNMAP,
                          MREMAP_FIXED, MREMAP_MAYMOVE, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY,
                          PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_NONE, PROT_READ)

MOVE = MREMAP_MAYMOVE | MREMAP_FIXED


@pytest.fixture
def world(k, p):
    """::

        0123456789
        AA.BBB.CC.    A faulted, B RO unfaulted, C faulted; a child forked after all that;
                      /f (8 pages) open RDWR (fd_rw), RDONLY (fd_ro), WRONLY (fd_wo)
    """
    anon(p, 0, 2)
    anon(p, 3, 3, prot=PROT_READ)
    anon(p, 7, 2)
    p.write(pg(0), 2 * PS)
    p.write(pg(7), 2 * PS)
    k.create_file("/f", 8 * PS)
    fds = {"rw": p.open("/f", O_RDWR), "ro": p.open("/f", O_RDONLY),
           "wo": p.open("/f", O_WRONLY)}
    child = p.fork()
    assert layout(p) == "AA.BBB.CC"
    return p, child, fds


# --------------------------------------------------------------------------------------
# mmap
# --------------------------------------------------------------------------------------

MMAP_CASES = [
    # id, args (addr, length, prot, flags, fd-key or -1, offset), errno
    ("offset not page aligned", (pg(10), PS, RW, PAF, -1, 100), errno.EINVAL),
    ("file offset not page aligned", (pg(10), PS, RW, MAP_PRIVATE | MAP_FIXED, "rw", 1),
     errno.EINVAL),
    ("bad fd", (pg(10), PS, RW, MAP_PRIVATE | MAP_FIXED, 99, 0), errno.EBADF),
    ("length 0", (pg(10), 0, RW, PAF, -1, 0), errno.EINVAL),
    ("length 0 without MAP_FIXED", (0, 0, RW, PA, -1, 0), errno.EINVAL),
    ("PAGE_ALIGN(length) wraps to 0", (0, 2**64 - 1, RW, PA, -1, 0), errno.ENOMEM),
    ("length > TASK_SIZE", (0, 1 << 48, RW, PA, -1, 0), errno.ENOMEM),
    ("MAP_FIXED range past TASK_SIZE", (TASK_SIZE - PS, 2 * PS, RW, PAF, -1, 0), errno.ENOMEM),
    ("MAP_FIXED address not aligned", (pg(10) + 1, PS, RW, PAF, -1, 0), errno.EINVAL),
    ("MAP_FIXED_NOREPLACE address not aligned",
     (pg(10) + 1, PS, RW, PA | MAP_FIXED_NOREPLACE, -1, 0), errno.EINVAL),
    ("MAP_FIXED_NOREPLACE over a VMA", (pg(1), 2 * PS, RW, PA | MAP_FIXED_NOREPLACE, -1, 0),
     errno.EEXIST),
    ("MAP_FIXED_NOREPLACE over the end of a VMA",
     (pg(9) - PS, 2 * PS, RW, PA | MAP_FIXED_NOREPLACE, -1, 0), errno.EEXIST),
    ("no map type", (pg(10), PS, RW, MAP_ANONYMOUS | MAP_FIXED, -1, 0), errno.EINVAL),
    ("anon MAP_SHARED_VALIDATE", (pg(10), PS, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS
                                  | MAP_FIXED, -1, 0), errno.EINVAL),
    ("map type 0xf", (pg(10), PS, RW, 0xf | MAP_ANONYMOUS | MAP_FIXED, -1, 0), errno.EINVAL),
    ("file opened write-only", (pg(10), PS, PROT_READ, MAP_SHARED | MAP_FIXED, "wo", 0),
     errno.EACCES),
    ("file opened write-only, private", (pg(10), PS, PROT_READ, MAP_PRIVATE | MAP_FIXED, "wo",
                                         0), errno.EACCES),
    ("MAP_SHARED|PROT_WRITE of a read-only fd", (pg(10), PS, RW, MAP_SHARED | MAP_FIXED, "ro",
                                                 0), errno.EACCES),
    ("MAP_SHARED_VALIDATE|PROT_WRITE of a read-only fd",
     (pg(10), PS, RW, MAP_SHARED_VALIDATE | MAP_FIXED, "ro", 0), errno.EACCES),
    ("file offset beyond what a file can hold", (pg(10), PS, PROT_READ,
                                                 MAP_SHARED | MAP_FIXED, "rw",
                                                 0xF000000000000000), errno.EOVERFLOW),
    ("file offset + length past MAX_LFS_FILESIZE", (pg(10), PS, PROT_READ,
                                                    MAP_SHARED | MAP_FIXED, "rw",
                                                    0x7ffffffffffff000), errno.EOVERFLOW),
]
# Cases the model got wrong once, fixed since; kept for an xfail
# entry if a case regresses: {(call, case id): reason}.
XFAIL = {}


def _cases(call, table):
    """pytest params of a table, with a strict xfail on the cases the model still gets
    wrong (each with its reason)."""
    out = []
    for c in table:
        why = XFAIL.get((call, c[0]))
        marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
        out.append(pytest.param(*c[1:], id=c[0], marks=marks))
    return out


@pytest.mark.parametrize("args,err", _cases("mmap", MMAP_CASES))
def test_mmap_errors_leave_everything_unchanged(k, world, args, err):
    p, _, fds = world
    addr, length, prot, flags, fd, off = args
    fd = fds.get(fd, fd) if isinstance(fd, str) else fd
    expect_errno(k, err, p.mmap, addr, length, prot, flags, fd, off)


def test_mmap_private_mapping_of_read_only_fd_may_be_written(k, world):
    """The contrast of the EACCES cases: MAP_PRIVATE|PROT_WRITE of an O_RDONLY fd is fine
    (the writes go to private copies)."""
    p, _, fds = world
    p.mmap(pg(10), PS, RW, MAP_PRIVATE | MAP_FIXED, fds["ro"], 0)
    p.write(pg(10))
    assert p.folio_at(pg(10)).anon


def test_mmap_shared_read_only_fd_without_write_may_not_become_writable(k, world):
    """MAP_SHARED of an O_RDONLY fd with PROT_READ works but clears VM_MAYWRITE."""
    p, _, fds = world
    p.mmap(pg(10), PS, PROT_READ, MAP_SHARED | MAP_FIXED, fds["ro"], 0)
    expect_errno(k, errno.EACCES, p.mprotect, pg(10), PS, RW)


def test_mmap_anon_with_huge_offset_is_fine(k, world):
    """For anonymous memory the offset only has to be page aligned and not wrap
    (``pgoff + pages < pgoff``): it is then replaced by ``addr >> PAGE_SHIFT``."""
    p, _, _ = world
    assert p.mmap(pg(10), PS, RW, PAF, -1, 0xFFFFFFFFFFFFE000) == pg(10)
    assert vma_at(p, 10).vm_pgoff == pg(10) // PS


def test_mmap_anon_with_the_last_page_offset_is_fine(k, world):
    """``pgoff = 2**52 - 1``, one page: ``pgoff + pages`` does not wrap an unsigned long,
    so the kernel maps it (observed live)."""
    p, _, _ = world
    assert p.mmap(pg(10), PS, RW, PAF, -1, 0xFFFFFFFFFFFFF000) == pg(10)


def test_mmap_file_offset_just_below_the_lfs_limit_is_fine(k, world):
    """file_mmap_ok(): a regular file may be mapped up to MAX_LFS_FILESIZE (2**63 - 1):
    the last whole page below it works (observed live; SIGBUS on access)."""
    p, _, fds = world
    assert p.mmap(pg(10), PS, PROT_READ, MAP_SHARED | MAP_FIXED, fds["rw"],
                  0x7fffffffffffe000) == pg(10)


def test_mmap_map_count_limit(k):
    """do_mmap(): ``mm->map_count > sysctl_max_map_count`` -> ENOMEM (not checked live:
    vm.max_map_count is machine-wide).  At exactly the limit one more VMA is allowed."""
    k = Kernel(max_map_count=3)
    p = k.spawn()
    for i in range(4):
        anon(p, 2 * i, 1)                  # 4 separate VMAs: map_count 3 -> 4 allowed
    assert p.mm.map_count == 4
    expect_errno(k, errno.ENOMEM, p.mmap, pg(20), PS, RW, PAF)
    expect_errno(k, errno.ENOMEM, p.mmap, 0, PS, RW, PA)


def test_mmap_fixed_split_at_map_count_limit(k):
    """MAP_FIXED into the middle of a VMA needs a split: refused at the limit, unchanged."""
    k = Kernel(max_map_count=1)
    p = k.spawn()
    anon(p, 0, 4)
    p.write(pg(0), 4 * PS)
    expect_errno(k, errno.ENOMEM, p.mmap, pg(1), PS, PROT_READ, PAF)


def test_mmap_pfn_device_beyond_its_end(k, p):
    """The modelled PFN device refuses a mapping past its last page (EINVAL from its
    ->mmap, like drivers that check the size); the VMA it started is gone again.  Not
    checkable live (no such device here)."""
    k.create_device("/dev/pfn", 0x80000, 4)
    fd = p.open("/dev/pfn", O_RDWR)
    expect_errno(k, errno.EINVAL, p.mmap, pg(0), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd,
                 3 * PS)


def test_mmap_unmodelled_flags_say_so(k, p):
    """Valid but unmodelled requests raise NotImplementedError naming them, and change
    nothing."""
    from rmapkit.uapi import MAP_GROWSDOWN, MAP_HUGETLB
    for flags in (PAF | MAP_HUGETLB, PAF | MAP_GROWSDOWN):
        with pytest.raises(NotImplementedError, match="MAP_"):
            assert_unchanged_after(k, p.mmap, pg(0), 2 * PS, RW, flags)


# --------------------------------------------------------------------------------------
# munmap
# --------------------------------------------------------------------------------------

MUNMAP_CASES = [
    ("start not aligned", (pg(0) + 8, PS), errno.EINVAL),
    ("length 0", (pg(0), 0), errno.EINVAL),
    ("start beyond TASK_SIZE", (TASK_SIZE + PS, PS), errno.EINVAL),
    ("length beyond TASK_SIZE - start", (pg(0), TASK_SIZE), errno.EINVAL),
    ("length 2**64 - 1", (pg(0), 2**64 - 1), errno.EINVAL),
]


@pytest.mark.parametrize("args,err", [c[1:] for c in MUNMAP_CASES],
                         ids=[c[0] for c in MUNMAP_CASES])
def test_munmap_errors_leave_everything_unchanged(k, world, args, err):
    p, _, _ = world
    expect_errno(k, err, p.munmap, *args)


def test_munmap_of_a_hole_succeeds_unchanged(k, world):
    p, _, _ = world
    assert assert_unchanged_after(k, p.munmap, pg(2), PS) == 0
    assert assert_unchanged_after(k, p.munmap, pg(9), 100 * PS) == 0


def test_munmap_split_at_map_count_limit(k):
    """vms_gather_munmap_vmas(): punching a hole in the middle of a VMA at the
    map_count limit is ENOMEM, nothing changed; unmapping at an edge needs no extra VMA."""
    k = Kernel(max_map_count=1)
    p = k.spawn()
    anon(p, 0, 4)
    p.write(pg(0), 4 * PS)
    expect_errno(k, errno.ENOMEM, p.munmap, pg(1), PS)
    assert p.munmap(pg(3), PS) == 0 and layout(p) == "AAA"


# --------------------------------------------------------------------------------------
# mprotect
# --------------------------------------------------------------------------------------

MPROTECT_CASES = [
    ("start not aligned", (pg(0) + 1, PS, PROT_READ), errno.EINVAL),
    ("GROWSDOWN and GROWSUP", (pg(0), PS, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP),
     errno.EINVAL),
    ("unknown prot bit", (pg(0), PS, PROT_READ | 0x10), errno.EINVAL),
    ("range wraps", (2**64 - 2 * PS, 4 * PS, PROT_READ), errno.ENOMEM),
    ("start in a hole", (pg(2), PS, PROT_READ), errno.ENOMEM),
    ("start before every VMA", (W - 3 * PS, 4 * PS, PROT_READ), errno.ENOMEM),
    ("start after every VMA", (pg(20), PS, PROT_READ), errno.ENOMEM),
    ("start in a hole, range over VMAs", (pg(2), 4 * PS, PROT_READ), errno.ENOMEM),
]


@pytest.mark.parametrize("args,err", [c[1:] for c in MPROTECT_CASES],
                         ids=[c[0] for c in MPROTECT_CASES])
def test_mprotect_errors_leave_everything_unchanged(k, world, args, err):
    p, _, _ = world
    expect_errno(k, err, p.mprotect, *args)


def test_mprotect_eacces_on_a_single_vma_changes_nothing(k, world):
    """PROT_WRITE on MAP_SHARED of an O_RDONLY fd: VM_MAYWRITE is clear -> EACCES."""
    p, _, fds = world
    p.mmap(pg(10), 2 * PS, PROT_READ, MAP_SHARED | MAP_FIXED, fds["ro"], 0)
    expect_errno(k, errno.EACCES, p.mprotect, pg(10), 2 * PS, RW)
    expect_errno(k, errno.EACCES, p.mprotect, pg(11), PS, PROT_READ | PROT_EXEC | 2)


def test_mprotect_eacces_after_an_earlier_vma_was_changed(k, world):
    """mprotect walks VMAs in order: those before the forbidden one keep their new
    protection (the kernel's partial case)::

        0123456789ab
        ..........DE   D private anon RW, E shared RO file (no VM_MAYWRITE)
        mprotect(D+E, RW|EXEC): D becomes rwx, E refused -> EACCES
    """
    p, _, fds = world
    anon(p, 10, 1)
    p.mmap(pg(11), PS, PROT_READ, MAP_SHARED | MAP_FIXED, fds["ro"], 0)
    expect_errno(k, errno.EACCES, p.mprotect, pg(10), 2 * PS, RW | PROT_EXEC, unchanged=False)
    assert [ln.split()[1] for ln in p.maps().splitlines()][-2:] == ["rwxp", "r--s"]


def test_mprotect_enomem_after_an_earlier_vma_was_changed(k, world):
    """The hole case (do_mprotect_pkey() keeps what it changed): A and B changed... A only: the walk stops at the
    hole after A::

        0123456
        AA.BBB.    mprotect(0, 6 pages, NONE): A ---p, then ENOMEM at page 2
    """
    p, _, _ = world
    expect_errno(k, errno.ENOMEM, p.mprotect, pg(0), 6 * PS, PROT_NONE, unchanged=False)
    perms = [ln.split()[1] for ln in p.maps().splitlines()]
    assert perms[:2] == ["---p", "r--p"]


def test_mprotect_zero_length_anywhere_is_success(k, world):
    p, _, _ = world
    assert assert_unchanged_after(k, p.mprotect, pg(2), 0, PROT_NONE) == 0


def test_mprotect_split_at_map_count_limit(k):
    """split_vma() refuses at the limit: ENOMEM, nothing changed."""
    k = Kernel(max_map_count=1)
    p = k.spawn()
    anon(p, 0, 4)
    expect_errno(k, errno.ENOMEM, p.mprotect, pg(1), PS, PROT_READ)


# --------------------------------------------------------------------------------------
# mremap
# --------------------------------------------------------------------------------------

MREMAP_CASES = [
    ("unknown flag", (pg(0), PS, PS, 8, 0), errno.EINVAL),
    ("old address not aligned", (pg(0) + 1, PS, PS, 0, 0), errno.EINVAL),
    ("new length 0", (pg(0), PS, 0, MREMAP_MAYMOVE, 0), errno.EINVAL),
    ("new length > TASK_SIZE", (pg(0), PS, TASK_SIZE + PS, MREMAP_MAYMOVE, 0), errno.EINVAL),
    ("FIXED without MAYMOVE", (pg(0), PS, PS, MREMAP_FIXED, pg(20)), errno.EINVAL),
    ("DONTUNMAP without MAYMOVE", (pg(0), PS, PS, MREMAP_DONTUNMAP, pg(20)), errno.EINVAL),
    ("DONTUNMAP resizing", (pg(0), PS, 2 * PS, MOVE | MREMAP_DONTUNMAP, pg(20)),
     errno.EINVAL),
    ("new address not aligned", (pg(0), PS, PS, MOVE, pg(20) + 1), errno.EINVAL),
    ("new range past TASK_SIZE", (pg(0), PS, 2 * PS, MOVE, TASK_SIZE - PS), errno.EINVAL),
    ("ranges overlap", (pg(0), 2 * PS, 2 * PS, MOVE, pg(1)), errno.EINVAL),
    ("ranges overlap, growing", (pg(3), PS, 3 * PS, MOVE, pg(1)), errno.EINVAL),
    ("old address unmapped", (pg(2), PS, 2 * PS, MREMAP_MAYMOVE, 0), errno.EFAULT),
    ("old address unmapped, FIXED move", (pg(2), PS, PS, MOVE, pg(20)), errno.EFAULT),
    ("old range runs past its VMA", (pg(0), 3 * PS, 4 * PS, MREMAP_MAYMOVE, 0), errno.EFAULT),
    ("old range past its VMA, FIXED growing", (pg(0), 3 * PS, 4 * PS, MOVE, pg(20)),
     errno.EFAULT),
    ("old_len 0 of a private mapping", (pg(0), 0, PS, MREMAP_MAYMOVE, 0), errno.EINVAL),
    ("grow without room nor MAYMOVE", (pg(0), 2 * PS, 4 * PS, 0, 0), errno.ENOMEM),
    ("grow a middle part without MAYMOVE", (pg(3), PS, 2 * PS, 0, 0), errno.ENOMEM),
]


@pytest.mark.parametrize("args,err", [c[1:] for c in MREMAP_CASES],
                         ids=[c[0] for c in MREMAP_CASES])
def test_mremap_errors_leave_everything_unchanged(k, world, args, err):
    p, _, _ = world
    expect_errno(k, err, p.mremap, *args)


def test_mremap_special_mappings(k, p):
    """VM_PFNMAP|VM_DONTEXPAND: growth EFAULT, DONTUNMAP EINVAL (not checkable live)."""
    k.create_device("/dev/pfn", 0x80000, 8)
    fd = p.open("/dev/pfn", O_RDWR)
    p.mmap(pg(0), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 0)
    expect_errno(k, errno.EFAULT, p.mremap, pg(0), 2 * PS, 3 * PS, MREMAP_MAYMOVE)
    expect_errno(k, errno.EFAULT, p.mremap, pg(0), 2 * PS, 3 * PS, MOVE, pg(10))
    expect_errno(k, errno.EINVAL, p.mremap, pg(0), 2 * PS, 2 * PS,
                 MOVE | MREMAP_DONTUNMAP, pg(10))


def test_mremap_map_count_headroom(k):
    """A move needs map_count headroom (check_mremap_params() / move_vma()): at the limit
    a FIXED move fails with ENOMEM before anything is unmapped."""
    k = Kernel(max_map_count=2)
    p = k.spawn()
    anon(p, 0, 2)
    p.write(pg(0), 2 * PS)
    anon(p, 10, 2, prot=PROT_READ)
    expect_errno(k, errno.ENOMEM, p.mremap, pg(0), 2 * PS, 2 * PS, MOVE, pg(10))


# --------------------------------------------------------------------------------------
# madvise
# --------------------------------------------------------------------------------------

MADVISE_CASES = [
    ("unknown advice", (pg(0), PS, 999), errno.EINVAL),
    # 5-7 fall between MADV_DONTNEED and MADV_FREE: madvise_behavior_valid() has no case.
    ("advice 5 (no MADV_ has it)", (pg(0), PS, 5), errno.EINVAL),
    ("start not aligned", (pg(0) + 1, PS, MADV_DONTNEED), errno.EINVAL),
    ("nothing mapped", (pg(20), PS, MADV_DONTNEED), errno.ENOMEM),
    ("nothing mapped, flag advice", (pg(20), PS, MADV_DONTFORK), errno.ENOMEM),
    ("range wraps", (2**64 - 2 * PS, 4 * PS, MADV_DONTNEED), errno.EINVAL),
]


@pytest.mark.parametrize("args,err", _cases("madvise", MADVISE_CASES))
def test_madvise_errors_leave_everything_unchanged(k, world, args, err):
    p, _, _ = world
    expect_errno(k, err, p.madvise, *args)


def test_madvise_per_vma_refusals(k, world):
    """Advice a VMA refuses: EINVAL, nothing changed::

        0123456789abcdef
        AA.BBB.CC.DDEEFF   D shared anon, E private file, F locked anon
    """
    p, _, fds = world
    p.mmap(pg(10), 2 * PS, RW, SAF)
    p.mmap(pg(12), 2 * PS, RW, MAP_PRIVATE | MAP_FIXED, fds["rw"], 0)
    anon(p, 14, 2, flags=MAP_LOCKED)
    expect_errno(k, errno.EINVAL, p.madvise, pg(10), 2 * PS, MADV_WIPEONFORK)
    expect_errno(k, errno.EINVAL, p.madvise, pg(12), 2 * PS, MADV_WIPEONFORK)
    expect_errno(k, errno.EINVAL, p.madvise, pg(14), 2 * PS, MADV_DONTNEED)
    expect_errno(k, errno.EINVAL, p.madvise, pg(12), 2 * PS, MADV_FREE)


def test_madvise_refused_by_a_later_vma_keeps_the_earlier_advice(k, world):
    """The walk applies the advice VMA by VMA: a later VMA refusing it (EINVAL) does not
    undo the earlier ones (observed live)::

        0123456789ab
        AA.BBB.CC.DD    D shared anon; MADV_WIPEONFORK over C+D: C gets it, D refuses
    """
    p, _, _ = world
    p.mmap(pg(9), 2 * PS, RW, SAF)
    expect_errno(k, errno.EINVAL, p.madvise, pg(7), 4 * PS, MADV_WIPEONFORK, unchanged=False)
    assert vma_at(p, 7).vm_flags & 0x02000000 and not vma_at(p, 9).vm_flags & 0x02000000


def test_madvise_over_a_hole_advises_every_vma_then_enomem(k, world):
    """madvise_walk_vmas(): holes are remembered, every mapped VMA in the range is
    advised, then -ENOMEM (partial by design)::

        0123456789
        AA.BBB.CC.   MADV_DONTFORK over [0, 9): A, B and C all get VM_DONTCOPY
    """
    p, _, _ = world
    expect_errno(k, errno.ENOMEM, p.madvise, pg(0), 9 * PS, MADV_DONTFORK, unchanged=False)
    vf = [v.vm_flags & 0x20000 for v in p.mm.vmas]
    assert all(vf) and len(vf) == 3


def test_madvise_dontneed_over_a_hole_zaps_then_enomem(k, world):
    p, _, _ = world
    expect_errno(k, errno.ENOMEM, p.madvise, pg(0), 9 * PS, MADV_DONTNEED, unchanged=False)
    assert p.folio_at(pg(0)) is None and p.folio_at(pg(8)) is None


def test_madvise_zero_length_is_success_anywhere(k, world):
    p, _, _ = world
    assert assert_unchanged_after(k, p.madvise, pg(20), 0, MADV_DONTNEED) == 0


# --------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------

def test_file_call_errors(k, world):
    p, _, fds = world
    expect_errno(k, errno.ENOENT, p.open, "/nope", O_RDWR)
    expect_errno(k, errno.EBADF, p.close, 99)
    expect_errno(k, errno.EBADF, p.ftruncate, 99, PS)
    expect_errno(k, errno.EINVAL, p.ftruncate, fds["rw"], -1)
    expect_errno(k, errno.EINVAL, p.ftruncate, fds["ro"], PS)
    fd = p.open("/new", O_RDWR | O_CREAT)
    assert p.ftruncate(fd, PS) == 0


def test_ftruncate_negative_length_is_einval_before_the_fd_is_looked_up(k, world):
    """do_sys_ftruncate() checks ``length < 0`` first: EINVAL even for a bad fd."""
    p, _, _ = world
    expect_errno(k, errno.EINVAL, p.ftruncate, 99, -1)


# --------------------------------------------------------------------------------------
# memory accesses
# --------------------------------------------------------------------------------------

def test_access_errors_are_segfaults_and_change_nothing(k, world):
    """SIGSEGV for an unmapped page, a PROT_NONE page, a write to a read-only page."""
    p, child, _ = world
    anon(p, 10, 1, prot=PROT_NONE)
    for fn, addr in ((p.read, pg(2)), (p.write, pg(2)), (p.read, pg(10)), (p.write, pg(10)),
                     (p.write, pg(3)), (child.write, pg(3))):
        assert_unchanged_after(k, expect_segv, k, fn, addr)


def test_access_beyond_the_end_of_a_file_is_sigbus(k, world):
    p, _, fds = world
    p.mmap(pg(10), 4 * PS, RW, MAP_SHARED | MAP_FIXED, fds["rw"], 6 * PS)
    p.read(pg(11))
    e = expect_segv(k, p.read, pg(12))
    assert isinstance(e, BusError)


def test_a_touch_stops_at_the_faulting_page(k, world):
    """Like a real process, the pages before the faulting one stay touched (documented
    partial case)::

        0123
        AA.B   write(0, 4 pages) -> pages 0-1 written, SIGSEGV at page 2
    """
    p, _, _ = world
    p.munmap(pg(0), 2 * PS)
    anon(p, 0, 2)
    e = expect_segv(k, p.write, pg(0), 4 * PS)
    assert e.addr == pg(2)
    assert p.folio_at(pg(0)).anon and p.folio_at(pg(1)).anon


def test_calls_on_an_exited_process_are_refused(k, world):
    _, child, _ = world
    child.exit()
    with pytest.raises(ProcessLookupError):
        child.mmap(pg(0), PS, RW, PAF)
    k.validate()

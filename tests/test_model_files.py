"""Files through their descriptors: pwrite/pread/fallocate/fsync/ftruncate and the page
cache they fill, checked against what this machine's Linux 6.18 showed for the same calls
(tmpfs in /dev/shm, memfd and ext4; see also the shipped file-*.scn scenarios, which the
differential tests replay in real processes).

Layouts in the ruler notation: one character per page of the window, ``P`` a present
page-cache page, ``C`` a private (anon) copy, ``.`` no PTE.  Every syscall of ``p`` is
followed by k.validate().
"""

import errno

import pytest

from modelhelpers import PS, RW, assert_unchanged_after, expect_errno, pg
from rmapkit import BusError
from rmapkit.uapi import (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
                          FALLOC_FL_ZERO_RANGE, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, O_RDONLY,
                          O_RDWR, O_WRONLY, PROT_READ)

PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
FS = ["tmpfs", "ext4", "memfd"]


def new_file(k, p, fs, pages, **kw):
    """An fd of a ``pages``-page file on ``fs`` ("memfd": memfd_create + ftruncate)."""
    if fs == "memfd":
        fd = p.memfd_create("m")
        p.ftruncate(fd, pages * PS)
        return fd
    k.create_file("/f", pages * PS, fs=fs, **kw)
    return p.open("/f", O_RDWR)


def mapped(p, first, n):
    """The window pages ``[first, first+n)``: P page cache, C anon copy, . none."""
    out = ""
    for i in range(first, first + n):
        f = p.folio_at(pg(i))
        out += "." if f is None else ("C" if f.anon else "P")
        # a mapped file page is always the page cache's folio at its index (validate())
    return out


def cached(fd_owner, fd):
    """The page-cache indices of the file behind ``fd``."""
    return list(fd_owner.fds[fd].inode.mapping.pages)


def mmap_file(p, fd, first, n, flags, prot=PROT_READ, off=0):
    return p.mmap(pg(first), n * PS, prot, flags | MAP_FIXED, fd, off * PS)


# -- pwrite / pread ------------------------------------------------------------------------
@pytest.mark.parametrize("fs", FS)
def test_written_file_faults_around_every_cached_page(k, p, fs):
    """The issue's new user: ``write()`` 4 pages, map privately, read one page: all 4 are
    mapped (do_fault_around() over the page cache), where a file of holes maps 1::

        0123
        PPPP   after pwrite(fd, 0, 4 pages) and read(page 1)
    """
    fd = new_file(k, p, fs, 0)
    assert p.pwrite(fd, 0, 4 * PS) == 4 * PS
    assert p.fds[fd].inode.size == 4 * PS and cached(p, fd) == [0, 1, 2, 3]
    mmap_file(p, fd, 0, 4, MAP_PRIVATE)
    p.read(pg(1))
    assert mapped(p, 0, 4) == "PPPP"
    fd2 = p.open("/g", O_RDWR | 0o100) if fs != "memfd" else p.memfd_create("n")
    p.ftruncate(fd2, 4 * PS)
    mmap_file(p, fd2, 8, 4, MAP_PRIVATE)
    p.read(pg(9))
    assert mapped(p, 8, 4) == ".P.."


def test_written_pages_are_uptodate_dirty_and_indexed_by_offset(k, p):
    """filemap_add_folio(): folio->index is the file offset >> PAGE_SHIFT; a write that
    straddles a page boundary touches both pages; i_size grows to the last byte."""
    fd = new_file(k, p, "tmpfs", 0)
    assert p.pwrite(fd, 3 * PS - 10, 20) == 20
    m = p.fds[fd].inode.mapping
    assert [(i, f.index, f.uptodate, f.dirty) for i, f in m.pages.items()] == \
        [(2, 2, True, True), (3, 3, True, True)]
    assert p.fds[fd].inode.size == 3 * PS + 10


@pytest.mark.parametrize("fs", ["tmpfs", "memfd"])
def test_pread_of_tmpfs_holes_allocates_nothing(k, p, fs):
    """shmem_file_read_iter() serves a hole with zeros: no page-cache page; past EOF it
    returns 0; a read that crosses EOF is cut there."""
    fd = new_file(k, p, fs, 4)
    assert p.pread(fd, PS, 2 * PS) == 2 * PS
    assert cached(p, fd) == [] and k.physmem.nr_allocated == 0
    assert p.pread(fd, 10 * PS, 5) == 0
    assert p.pread(fd, 3 * PS + 100, PS) == PS - 100


def test_pread_of_a_disk_file_reads_the_pages_into_the_cache(k, p):
    """filemap_read() on ext4 reads the missing pages into the page cache (exactly those:
    readahead is not modelled, as for a file opened with POSIX_FADV_RANDOM)."""
    fd = new_file(k, p, "ext4", 8)
    assert p.pread(fd, int(6.5 * PS), PS) == PS
    assert cached(p, fd) == [6, 7]
    assert p.pread(fd, 9 * PS, PS) == 0 and cached(p, fd) == [6, 7]


@pytest.mark.parametrize("fs", FS)
def test_private_mapping_sees_pwrite_on_pages_it_has_not_copied(k, p, fs):
    """A pwrite() lands in the page-cache folio, which an uncopied private PTE maps (same
    PFN); a CoW copy is the process's own page and does not change::

        0123
        PCPP   read all, write page 1 (CoW), then pwrite pages 0-3: PTEs unchanged
    """
    fd = new_file(k, p, fs, 4)
    p.pwrite(fd, 0, 4 * PS)
    mmap_file(p, fd, 0, 4, MAP_PRIVATE, RW)
    p.read(pg(0), 4 * PS)
    p.write(pg(1))
    before = {i: p.folio_at(pg(i)) for i in range(4)}
    p.pwrite(fd, 0, 4 * PS)
    assert mapped(p, 0, 4) == "PCPP"
    assert all(p.folio_at(pg(i)) is before[i] for i in range(4))
    assert p.folio_at(pg(0)) is p.fds[fd].inode.mapping.pages[0]


def test_cow_fault_copies_a_cached_page_and_leaves_it_cached(k, p):
    """do_cow_fault() on a written file copies the page-cache page; the cache keeps it."""
    fd = new_file(k, p, "tmpfs", 0)
    p.pwrite(fd, 0, 2 * PS)
    mmap_file(p, fd, 0, 2, MAP_PRIVATE, RW)
    p.write(pg(0))
    assert mapped(p, 0, 2) == "C." and cached(p, fd) == [0, 1]


def test_shared_write_fault_dirties_and_fsync_cleans_a_disk_file(k, p):
    """fault_dirty_shared_page() marks the folio dirty; fsync() writes an ext4 file back
    (clean); on tmpfs fsync is noop_fsync()."""
    for fs, clean_after in (("ext4", True), ("tmpfs", False)):
        k.create_file(f"/{fs}", 2 * PS, fs=fs)
        fd = p.open(f"/{fs}", O_RDWR)
        a = p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
        p.write(a)
        folio = p.folio_at(a)
        assert folio.dirty
        assert p.fsync(fd) == 0
        assert folio.dirty is not clean_after


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("fs", ["tmpfs", "ext4"])
def test_file_io_errnos_as_the_kernel_returns_them(k, p, fs):
    """Observed on this machine: pwrite/fallocate on O_RDONLY EBADF, ftruncate on it
    EINVAL, fsync succeeds; pread on O_WRONLY EBADF; negative offsets, ftruncate(-1),
    fallocate of length 0 EINVAL; PUNCH_HOLE without KEEP_SIZE EOPNOTSUPP; a closed fd
    EBADF.  Each failure leaves the model unchanged."""
    k.create_file("/f", 4 * PS, fs=fs)
    ro, wo, rw = (p.open("/f", m) for m in (O_RDONLY, O_WRONLY, O_RDWR))
    expect_errno(k, errno.EBADF, p.pwrite, ro, 0, 1)
    expect_errno(k, errno.EBADF, p.fallocate, ro, 0, 0, PS)
    expect_errno(k, errno.EBADF, p.fallocate, ro, PUNCH, 0, PS)
    expect_errno(k, errno.EINVAL, p.ftruncate, ro, 0)
    assert assert_unchanged_after(k, p.fsync, ro) == 0
    expect_errno(k, errno.EBADF, p.pread, wo, 0, 1)
    expect_errno(k, errno.EINVAL, p.pwrite, rw, -1, 1)
    expect_errno(k, errno.EINVAL, p.pread, rw, -1, 1)
    expect_errno(k, errno.EINVAL, p.ftruncate, rw, -1)
    expect_errno(k, errno.EINVAL, p.fallocate, rw, 0, 0, 0)
    expect_errno(k, errno.EINVAL, p.fallocate, rw, 0, -1, PS)
    expect_errno(k, errno.EOPNOTSUPP, p.fallocate, rw, FALLOC_FL_PUNCH_HOLE, 0, PS)
    expect_errno(k, errno.EOPNOTSUPP, p.fallocate, rw, 0x1000, 0, PS)
    expect_errno(k, errno.EOPNOTSUPP, p.fallocate, rw,
                 FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, PS)
    for call, args in (("pwrite", (0, 1)), ("pread", (0, 1)), ("fsync", ()),
                       ("fallocate", (0, 0, PS))):
        expect_errno(k, errno.EBADF, getattr(p, call), 99, *args)
    assert p.pwrite(rw, 100 * PS, 0) == 0 and p.fds[rw].inode.size == 4 * PS
    # a size_t count no buffer can have (observed with ctypes: (size_t)-1, 2^47): EFAULT
    expect_errno(k, errno.EFAULT, p.pwrite, rw, 0, -1)
    expect_errno(k, errno.EFAULT, p.pread, rw, 0, 1 << 47)


def test_limits_einval_past_loff_t_efbig_past_s_maxbytes(k, p):
    """rw_verify_area(): offset + count past 2^63 - 1 is EINVAL (tmpfs: pwrite at
    2^63 - 2 of 3 bytes); ext4's s_maxbytes is 0xffffffff000: a write there is EFBIG, one
    that crosses it is cut short, ftruncate() past it EFBIG, pread there returns 0."""
    big = (1 << 63) - 1
    k.create_file("/t", 0)
    t = p.open("/t", O_RDWR)
    expect_errno(k, errno.EINVAL, p.pwrite, t, big - 1, 3)
    expect_errno(k, errno.EINVAL, p.pread, t, big, 1)
    assert p.pwrite(t, big, 0) == 0
    expect_errno(k, errno.EFBIG, p.fallocate, t, FALLOC_FL_KEEP_SIZE, big - PS, PS + 1)
    k.create_file("/e", 0, fs="ext4")
    e = p.open("/e", O_RDWR)
    mx = 0xffffffff000
    expect_errno(k, errno.EFBIG, p.pwrite, e, mx, 1)
    expect_errno(k, errno.EFBIG, p.ftruncate, e, mx + 1)
    assert p.pwrite(e, mx - 1, 3) == 1 and p.fds[e].inode.size == mx
    assert p.pread(e, mx, 1) == 0


def test_dev_zero_reads_and_swallows_but_has_no_fsync_or_fallocate(k, p):
    """/dev/zero (observed): pread and pwrite return the count, fsync EINVAL, fallocate
    ENODEV, fallocate of length 0 EINVAL first."""
    z = p.open("/dev/zero", O_RDWR)
    assert p.pread(z, 0, 10) == 10 and p.pwrite(z, 0, 2) == 2
    expect_errno(k, errno.EINVAL, p.fsync, z)
    expect_errno(k, errno.ENODEV, p.fallocate, z, 0, 0, PS)
    expect_errno(k, errno.EINVAL, p.fallocate, z, 0, 0, 0)


def test_modes_tmpfs_does_not_support_are_eopnotsupp(k, p):
    """shmem_fallocate() knows only KEEP_SIZE and PUNCH_HOLE (observed: ZERO_RANGE
    EOPNOTSUPP on tmpfs); the model does not model the other modes on ext4."""
    fd = new_file(k, p, "tmpfs", 4)
    expect_errno(k, errno.EOPNOTSUPP, p.fallocate, fd, FALLOC_FL_ZERO_RANGE, 0, PS)
    k.create_file("/e", 4 * PS, fs="ext4")
    e = p.open("/e", O_RDWR)
    with pytest.raises(NotImplementedError):
        p.fallocate(e, FALLOC_FL_ZERO_RANGE, 0, PS)


# -- fallocate -----------------------------------------------------------------------------
@pytest.mark.parametrize("fs", ["tmpfs", "memfd"])
def test_tmpfs_fallocate_pages_are_skipped_by_fault_around_until_faulted(k, p, fs):
    """shmem_fallocate() allocates folios that are not uptodate; filemap_map_pages()
    skips them, a fault (shmem_fault()) fills and maps them (observed)::

        01234567
        P....P..   fallocate(KEEP_SIZE, pages 4-7), read page 0, then read page 5
    """
    fd = new_file(k, p, fs, 20)
    assert p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 4 * PS, 4 * PS) == 0
    assert cached(p, fd) == [4, 5, 6, 7] and p.fds[fd].inode.size == 20 * PS
    mmap_file(p, fd, 0, 8, MAP_PRIVATE)
    p.read(pg(0))
    assert mapped(p, 0, 8) == "P......."
    p.read(pg(5))
    assert mapped(p, 0, 8) == "P....P.."
    p.pread(fd, 6 * PS, PS)                      # SGP_READ leaves it !uptodate
    assert not p.fds[fd].inode.mapping.pages[6].uptodate
    p.pwrite(fd, 7 * PS + 5, 1)                  # shmem_write_end() marks it uptodate
    p.munmap(pg(0), 8 * PS)
    mmap_file(p, fd, 0, 8, MAP_PRIVATE)
    p.read(pg(0))
    assert mapped(p, 0, 8) == "P....P.P"


def test_a_second_fallocate_fills_what_the_first_left_not_uptodate(k, p):
    """shmem_get_folio_gfp(SGP_FALLOC) on a folio an earlier fallocate() made zeroes it and
    marks it uptodate; new folios of this call stay !uptodate (observed with mincore())."""
    fd = p.memfd_create("m")
    p.fallocate(fd, 0, 0, 4 * PS)
    assert p.fds[fd].inode.size == 4 * PS
    p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 2 * PS, 4 * PS)
    m = p.fds[fd].inode.mapping
    assert [int(f.uptodate) for f in m.pages.values()] == [0, 0, 1, 1, 0, 0]
    assert p.fds[fd].inode.size == 4 * PS


def test_ext4_fallocate_allocates_blocks_not_page_cache(k, p):
    fd = new_file(k, p, "ext4", 4)
    p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8 * PS)
    assert cached(p, fd) == [] and p.fds[fd].inode.size == 4 * PS
    p.fallocate(fd, 0, 0, 8 * PS)
    assert cached(p, fd) == [] and p.fds[fd].inode.size == 8 * PS


# -- truncation and punching -----------------------------------------------------------------
@pytest.mark.parametrize("fs", FS)
def test_truncate_unmaps_everywhere_even_cow_copies_and_keeps_a_partial_page(k, p, fs):
    """truncate_pagecache(): unmap_mapping_range(even_cows=1) in every process, then the
    cache past EOF goes; the page holding a mid-page EOF stays (observed)::

        01234567
        PPCPPPCP   P0 private: read all, CoW pages 2 and 6;  P1 shared: all read
        PPCPPP..   ftruncate(5.x pages): page 6's copy goes too, page 5 stays
    """
    fd = new_file(k, p, fs, 0)
    p.pwrite(fd, 0, 8 * PS)
    q = p.fork()
    mmap_file(p, fd, 0, 8, MAP_PRIVATE, RW)
    p.read(pg(0), 8 * PS)
    p.write(pg(2))
    p.write(pg(6))
    mmap_file(q, fd, 0, 8, MAP_SHARED, RW)
    q.read(pg(0))
    assert mapped(p, 0, 8) == "PPCPPPCP" and mapped(q, 0, 8) == "PPPPPPPP"
    av = p.mm.vma_lookup(pg(0)).anon_vma
    p.ftruncate(fd, 5 * PS + 100)
    assert mapped(p, 0, 8) == "PPCPPP.." and mapped(q, 0, 8) == "PPPPPP.."
    assert cached(p, fd) == [0, 1, 2, 3, 4, 5]
    assert p.mm.vma_lookup(pg(0)).anon_vma is av
    with pytest.raises(BusError):
        p.read(pg(6))
    with pytest.raises(BusError):
        q.write(pg(7))


@pytest.mark.parametrize("fs", FS)
def test_punch_hole_unmaps_page_cache_everywhere_but_cow_copies_survive(k, p, fs):
    """shmem_fallocate(PUNCH_HOLE) / truncate_pagecache_range(): unmap_mapping_range(
    even_cows=0) of the whole pages, then they leave the cache; the partly punched page
    stays (observed: punching [1.5, 3.5) pages removes page 2 only)::

        01234567
        PPCPPPPP   private: read all, CoW page 2;  shared (pages 8-15): all read
        P.CPPPPP   punch [0.5 pages, 3.5 pages): pages 1 and 2 leave the page cache and
                   every mapping; the private copy of page 2 survives, 0 and 3 stay
    """
    fd = new_file(k, p, fs, 0)
    p.pwrite(fd, 0, 8 * PS)
    mmap_file(p, fd, 0, 8, MAP_PRIVATE, RW)
    mmap_file(p, fd, 8, 8, MAP_SHARED, RW)
    p.read(pg(0), 16 * PS)
    p.write(pg(2))
    assert p.fallocate(fd, PUNCH, PS // 2, 3 * PS) == 0
    assert mapped(p, 0, 8) == "P.CPPPPP" and mapped(p, 8, 8) == "P..PPPPP"
    assert cached(p, fd) == [0, 3, 4, 5, 6, 7]
    assert p.fds[fd].inode.size == 8 * PS
    p.read(pg(10))                               # a hole again: a new page
    assert mapped(p, 8, 8) == "P.PPPPPP" and cached(p, fd) == [0, 2, 3, 4, 5, 6, 7]


def test_punch_within_one_page_keeps_it_mapped(k, p):
    fd = new_file(k, p, "tmpfs", 0)
    p.pwrite(fd, 0, 2 * PS)
    mmap_file(p, fd, 0, 2, MAP_SHARED)
    p.read(pg(0))
    p.fallocate(fd, PUNCH, 10, PS - 20)
    assert mapped(p, 0, 2) == "PP" and cached(p, fd) == [0, 1]


def test_punch_beyond_eof_drops_fallocated_tmpfs_pages(k, p):
    """shmem_fallocate(PUNCH_HOLE) does not stop at i_size: pages a KEEP_SIZE fallocate()
    put past EOF go too."""
    fd = new_file(k, p, "tmpfs", 2)
    p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 6 * PS)
    p.fallocate(fd, PUNCH, 3 * PS, 2 * PS)
    assert cached(p, fd) == [0, 1, 2, 5]


def test_failed_file_calls_change_nothing(k, p):
    """Hostile input leaves the model exactly as it was (assert_unchanged_after)."""
    fd = new_file(k, p, "tmpfs", 4)
    p.pwrite(fd, 0, PS)
    for call, args in (("pwrite", (fd, -5, 1)), ("pread", (fd, 0, -1)),
                       ("fallocate", (fd, 0x7, 0, PS)), ("ftruncate", (fd, -1)),
                       ("fallocate", (fd, 0, (1 << 63) - PS, 2 * PS))):
        r = assert_unchanged_after(k, getattr(p.proc, call), *args)
        assert isinstance(r, OSError), (call, args, r)


def test_create_file_cached_stands_for_a_file_read_before(k, p):
    """``create_file(..., cached=True)``: every page already in the page cache, as after an
    earlier read or write by someone else; a read fault then maps its neighbours."""
    k.create_file("/c", 4 * PS + 1, cached=True)
    fd = p.open("/c", O_RDONLY)
    assert cached(p, fd) == [0, 1, 2, 3, 4]
    mmap_file(p, fd, 0, 8, MAP_PRIVATE)
    p.read(pg(2))
    assert mapped(p, 0, 8) == "PPPPP..."
    with pytest.raises(ValueError):
        k.create_file("/d", PS, fs="btrfs")

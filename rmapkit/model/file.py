"""Files, their page cache and i_mmap: what file-backed and shmem VMAs point at.

Mirrors include/linux/fs.h (struct inode, struct address_space, struct file,
struct super_block's ``s_maxbytes``), mm/shmem.c (tmpfs, memfd_create(),
shmem_zero_setup(): MAP_SHARED|MAP_ANONYMOUS is a shmem object called
"/dev/zero (deleted)"), fs/ext4 (a disk file system), drivers/char/mem.c (/dev/zero) and
a device whose ->mmap calls remap_pfn_range().  Reading, writing, truncating and punching
files is rmapkit.model.filemap.  Not modelled: writeback I/O, readahead, large folios.
"""

from dataclasses import dataclass

from sortedcontainers import SortedDict

from .interval_tree import IntervalTree
from .ops import file_operations

__all__ = ["Inode", "AddressSpace", "File", "FileSystemType", "TMPFS", "EXT4", "FILESYSTEMS",
           "FMODE_READ", "FMODE_WRITE", "MAX_LFS_FILESIZE"]

FMODE_READ = 0x1
FMODE_WRITE = 0x2
MAX_LFS_FILESIZE = (1 << 63) - 1         # include/linux/fs.h, 64-bit


@dataclass(frozen=True)
class FileSystemType:
    """What the model needs to know of a file system (struct file_system_type and the
    super_block it mounts).

    ``shmem``: the page cache *is* the file (mm/shmem.c): reading a hole allocates
    nothing, fallocate() allocates page-cache folios; otherwise (a disk file system) a
    read fills the page cache from disk and fallocate() allocates only disk blocks.
    ``thp_get_unmapped_area``: mmap() places file mappings THP-aligned (ext4's
    ->get_unmapped_area is thp_get_unmapped_area(); tmpfs's shmem_get_unmapped_area()
    aligns only when shmem huge pages are enabled, which they are not here).
    """

    name: str
    s_maxbytes: int
    shmem: bool
    thp_get_unmapped_area: bool


# s_maxbytes as this machine's kernel reports them (the largest size ftruncate() accepts):
# tmpfs MAX_LFS_FILESIZE; ext4 with 4 KiB blocks and extents: EXT_MAX_BLOCKS blocks, less
# one page.
TMPFS = FileSystemType("tmpfs", MAX_LFS_FILESIZE, shmem=True, thp_get_unmapped_area=False)
EXT4 = FileSystemType("ext4", 0xffffffff000, shmem=False, thp_get_unmapped_area=True)
FILESYSTEMS = {"tmpfs": TMPFS, "ext4": EXT4}


class AddressSpace:
    """struct address_space: ``i_mmap`` (VMAs by pgoff range) and the page cache."""

    def __init__(self, host, label):
        self.host = host
        self.label = label
        self.i_mmap = IntervalTree()
        self.pages = SortedDict()        # index -> Folio (the page cache, i_pages xarray)

    @property
    def kernel(self):
        return self.host.kernel

    def __repr__(self):
        return f"<address_space {self.label} of {self.host.path!r}>"


class Inode:
    """struct inode of a regular file, a shmem object, /dev/zero or a PFN device.

    ``fs`` is the FileSystemType of a regular file or shmem object (None for devices).
    """

    def __init__(self, kernel, path, size, kind, ino, dev, pfn_base=None, fs=None):
        self.kernel = kernel
        self.path = path
        self.size = size                 # i_size in bytes
        self.kind = kind                 # "file", "shmem", "zero", "pfn"
        self.f_op = file_operations(kind, fs)   # i_fop: what mmap(), placement, I/O use
        self.ino = ino
        self.dev = dev                   # (major, minor) as maps shows it
        self.pfn_base = pfn_base         # first PFN a "pfn" device remaps
        self.fs = fs                     # FileSystemType, or None for a device
        self.mapping = AddressSpace(self, f"as{ino}")

    def __repr__(self):
        on = f" on {self.fs.name}" if self.fs is not None else ""
        return f"<inode {self.path!r} {self.kind}{on} size={self.size:#x}>"


class File:
    """struct file: one open(); two opens of one path are two files (they never merge)."""

    def __init__(self, kernel, inode, f_mode, name):
        self.kernel = kernel
        self.inode = inode
        self.f_mode = f_mode
        self.name = name                 # the maps pathname column
        self.label = f"file{kernel._next_file}"
        kernel._next_file += 1

    @property
    def f_mapping(self):
        return self.inode.mapping

    @property
    def f_op(self):
        """struct file_operations of the file (rmapkit.model.ops). O(1)."""
        return self.inode.f_op

    def __repr__(self):
        return f"<file {self.label} {self.name!r}>"

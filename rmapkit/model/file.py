"""Files, their page cache and i_mmap: what file-backed and shmem VMAs point at.

Mirrors include/linux/fs.h (struct inode, struct address_space, struct file),
mm/shmem.c (memfd_create(), shmem_zero_setup(): MAP_SHARED|MAP_ANONYMOUS is a shmem
object called "/dev/zero (deleted)"), drivers/char/mem.c (/dev/zero) and a device whose
->mmap calls remap_pfn_range().  Not modelled: writeback, truncation of mapped ranges.
"""

from .interval_tree import IntervalTree

__all__ = ["Inode", "AddressSpace", "File", "FMODE_READ", "FMODE_WRITE"]

FMODE_READ = 0x1
FMODE_WRITE = 0x2


class AddressSpace:
    """struct address_space: ``i_mmap`` (VMAs by pgoff range) and the page cache."""

    def __init__(self, host, label):
        self.host = host
        self.label = label
        self.i_mmap = IntervalTree()
        self.pages = {}                  # index -> Folio (the page cache, xarray)

    @property
    def kernel(self):
        return self.host.kernel

    def __repr__(self):
        return f"<address_space {self.label} of {self.host.path!r}>"


class Inode:
    """struct inode of a regular file, a shmem object, /dev/zero or a PFN device."""

    def __init__(self, kernel, path, size, kind, ino, dev, pfn_base=None):
        self.kernel = kernel
        self.path = path
        self.size = size                 # i_size in bytes
        self.kind = kind                 # "file", "shmem", "zero", "pfn"
        self.ino = ino
        self.dev = dev                   # (major, minor) as maps shows it
        self.pfn_base = pfn_base         # first PFN a "pfn" device remaps
        self.mapping = AddressSpace(self, f"as{ino}")

    def __repr__(self):
        return f"<inode {self.path!r} {self.kind} size={self.size:#x}>"


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

    def __repr__(self):
        return f"<file {self.label} {self.name!r}>"

"""vm_operations_struct and file_operations: what each kind of mapping does differently.

Mirrors include/linux/mm.h: struct vm_operations_struct and include/linux/fs.h: struct
file_operations (v6.18), reduced to the hooks the model consults.  A VMA's ``vm_ops`` is one
of the VMOperations below (None: anonymous memory, vma_is_anonymous()); an inode's ``f_op``
is one of the FileOperations, chosen by the kind of file.  Behaviour that varies by mapping
kind reads these attributes instead of testing a name, so a new kind (hugetlbfs, a driver
whose ->close forbids merging it away, as mm/vma.c: can_merge_remove_vma() checks) is one
more object here.  O(1) everything.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VMOperations", "FileOperations", "generic_file_vm_ops", "shmem_vm_ops",
           "mmap_mem_ops", "ext4_file_operations", "shmem_file_operations", "zero_fops",
           "pfn_device_fops", "file_operations"]


@dataclass(frozen=True, eq=False)
class VMOperations:
    """struct vm_operations_struct: the hooks of one kind of file-backed mapping.

    ``fault``: the kind has ->fault and ->map_pages (filemap_fault(), shmem_fault(),
    filemap_map_pages()), so a missing page is read from the page cache; without it,
    mm/memory.c: do_fault() answers VM_FAULT_SIGBUS (a remap_pfn_range() driver).
    """

    name: str
    fault: bool = True

    def __repr__(self):
        return self.name


generic_file_vm_ops = VMOperations("generic_file_vm_ops")      # mm/filemap.c
shmem_vm_ops = VMOperations("shmem_vm_ops")                    # mm/shmem.c
mmap_mem_ops = VMOperations("mmap_mem_ops", fault=False)       # drivers/char/mem.c


@dataclass(frozen=True, eq=False)
class FileOperations:
    """struct file_operations, as far as mmap(), placement, mremap and truncate look at it.

    ``vm_ops``: what ->mmap installs in the VMA.  ``thp_get_unmapped_area``: its
    ->get_unmapped_area aligns to 2 MiB (thp_get_unmapped_area(); /dev/zero's
    get_unmapped_area_zero() does so for private mappings only).  ``own_get_unmapped_area``:
    it has a ->get_unmapped_area other than thp_get_unmapped_area(), so mm/mremap.c:
    vma_multi_allowed() refuses to move it with other VMAs.  ``unsigned_offset``:
    FOP_UNSIGNED_OFFSET (any 64-bit offset, mm/mmap.c: file_mmap_ok()).  ``regular``: a
    regular file or shmem object (S_ISREG): ftruncate(), fallocate() and the page cache
    apply.  ``mmap_zero``: drivers/char/mem.c: mmap_zero(): MAP_SHARED gets a new shmem
    object, MAP_PRIVATE stays anonymous memory.  ``remap_pfn``: ->mmap calls
    remap_pfn_range() over the whole VMA.  ``can_read_write``: it has ->read_iter and
    ->write_iter (FMODE_CAN_READ/WRITE).  ``null_io``: read_iter_zero() / write_iter_null():
    reads give zeros and writes are swallowed without touching any page cache.
    ``mmap_sync``: FOP_MMAP_SYNC: MAP_SHARED_VALIDATE may ask for MAP_SYNC, and ->mmap_prepare
    refuses VM_SYNC unless the file is DAX (daxdev_mapping_supported(); no file here is).
    """

    name: str
    vm_ops: VMOperations | None
    thp_get_unmapped_area: bool = False
    own_get_unmapped_area: bool = False
    unsigned_offset: bool = False
    regular: bool = False
    mmap_zero: bool = False
    remap_pfn: bool = False
    can_read_write: bool = True
    null_io: bool = False
    mmap_sync: bool = False

    def __repr__(self):
        return self.name


# fs/ext4/file.c (its ->get_unmapped_area is thp_get_unmapped_area(); FOP_MMAP_SYNC, and
# ext4_file_mmap_prepare() refuses VM_SYNC on a file that is not DAX); tmpfs regular files,
# memfds and shmem objects share mm/shmem.c's (not aligned: shmem huge pages are "never" here).
ext4_file_operations = FileOperations("ext4_file_operations", generic_file_vm_ops,
                                      thp_get_unmapped_area=True, regular=True, mmap_sync=True)
shmem_file_operations = FileOperations("shmem_file_operations", shmem_vm_ops, regular=True)
zero_fops = FileOperations("zero_fops", None, thp_get_unmapped_area=True,          # /dev/zero
                           own_get_unmapped_area=True, unsigned_offset=True, mmap_zero=True,
                           null_io=True)
pfn_device_fops = FileOperations("pfn_device_fops", mmap_mem_ops, own_get_unmapped_area=True,
                                 unsigned_offset=True, remap_pfn=True, can_read_write=False)


def file_operations(kind, fs):
    """The file_operations of an inode of ``kind`` ("file", "shmem", "zero", "pfn") on
    file system ``fs`` (a FileSystemType, None for devices), as the kernel picks i_fop when
    the inode is made.  O(1)."""
    if kind == "zero":
        return zero_fops
    if kind == "pfn":
        return pfn_device_fops
    if kind == "file" and fs is not None and fs.thp_get_unmapped_area:
        return ext4_file_operations
    return shmem_file_operations

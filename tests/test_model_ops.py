"""What varies by mapping kind hangs on vm_operations_struct / file_operations objects
(rmapkit.model.ops), and a merge attempt leaves its outcome in ``vmg.state`` as in the
kernel's tools/testing/vma harness (mm/vma.h: enum vma_merge_state)."""

import pytest

from modelhelpers import PS, RW, anon, layout, pg, vma_at
from rmapkit import BusError
from rmapkit.model.fault import handle_mm_fault
from rmapkit.model.merge import (VMA_MERGE_NOMERGE, VMA_MERGE_SUCCESS, VMG,
                                 vma_merge_new_range)
from rmapkit.model.ops import (ext4_file_operations, generic_file_vm_ops, mmap_mem_ops,
                               shmem_file_operations, shmem_vm_ops, zero_fops)
from rmapkit.uapi import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, O_RDWR


def test_each_mapping_gets_the_vm_ops_its_file_installs(k, p):
    k.create_file("/f", 4 * PS, fs="ext4")
    k.create_device("/dev/pfn", 0x100000, 4)
    fd, zero, dev = p.open("/f"), p.open("/dev/zero"), p.open("/dev/pfn", O_RDWR)
    memfd = p.memfd_create("m")
    p.ftruncate(memfd, 4 * PS)
    anon(p, 0, 1)
    p.mmap(pg(2), PS, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
    p.mmap(pg(4), PS, RW, MAP_SHARED | MAP_FIXED, memfd, 0)
    p.mmap(pg(6), PS, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)
    p.mmap(pg(8), PS, RW, MAP_PRIVATE | MAP_FIXED, zero, 0)
    p.mmap(pg(10), PS, RW, MAP_SHARED | MAP_FIXED, zero, 0)
    p.mmap(pg(12), PS, RW, MAP_SHARED | MAP_FIXED, dev, 0)
    assert [vma_at(p, i).vm_ops for i in (0, 2, 4, 6, 8, 10, 12)] == [
        None, generic_file_vm_ops, shmem_vm_ops, shmem_vm_ops, None, shmem_vm_ops,
        mmap_mem_ops]
    assert [vma_at(p, i).is_anonymous() for i in (0, 8)] == [True, True]
    assert zero_fops.vm_ops is None and p.fdget(zero, "t").f_op is zero_fops
    assert p.fdget(fd, "t").f_op is ext4_file_operations
    assert p.fdget(memfd, "t").f_op is shmem_file_operations


def test_a_vm_ops_without_fault_is_sigbus(k, p):
    """mm/memory.c: do_fault(): a VMA whose vm_ops has no ->fault answers VM_FAULT_SIGBUS
    (a remap_pfn_range() driver's VMA where no PFN is installed)."""
    k.create_device("/dev/pfn", 0x100000, 2)
    dev = p.open("/dev/pfn", O_RDWR)
    p.mmap(pg(0), 2 * PS, RW, MAP_SHARED | MAP_FIXED, dev, 0)
    vma = vma_at(p, 0)
    assert vma.vm_ops is mmap_mem_ops and not mmap_mem_ops.fault
    del p.mm.pgtable[pg(1)]              # as if the driver had installed only page 0
    with pytest.raises(BusError):
        handle_mm_fault(vma, pg(1), 0)


def test_vmg_state_success_and_nomerge(k, p):
    """A new range after a compatible prev expands it (VMA_MERGE_SUCCESS); one that does
    not touch prev is refused (VMA_MERGE_NOMERGE)::

        0123456
        AAA....   vmg [3,5): AAAAA..
    """
    anon(p, 0, 3)
    prev = vma_at(p, 0)
    vmg = VMG(p.mm, pg(3), pg(5), prev.vm_pgoff + 3, prev.vm_flags, prev=prev)
    assert vma_merge_new_range(vmg) is prev and vmg.state == VMA_MERGE_SUCCESS
    assert (prev.vm_start, prev.vm_end) == (pg(0), pg(5))
    p.mm.sync_gaps()
    k.validate()
    assert layout(p, 7) == "AAAAA"
    far = VMG(p.mm, pg(6), pg(7), prev.vm_pgoff + 6, prev.vm_flags, prev=prev)
    assert vma_merge_new_range(far) is None and far.state == VMA_MERGE_NOMERGE

"""Device frames and RAM never share a PFN, so vm_normal_page()'s rule stays exact.

Without pte_special, mm/memory.c: vm_normal_page() calls a PFN in a COW VM_PFNMAP VMA
"special" when ``pfn == vm_pgoff + page offset``.  A CoWed page that happened to get that
very PFN would be mistaken for the device frame; real hardware never hands out device
memory as RAM, and neither does the model (PhysMem.reserve()).
"""

import pytest

from rmapkit import Kernel, vm_normal_page
from rmapkit.uapi import MAP_FIXED, MAP_PRIVATE, O_RDWR, PROT_READ, PROT_WRITE

W, PS = 0x200000000000, 4096


def test_cow_page_never_gets_the_device_frame_it_replaces():
    k = Kernel()
    p = k.spawn()
    k.create_device("/dev/mydev", 0x2000, 4)          # where the model's RAM starts
    fd = p.open("/dev/mydev", O_RDWR)
    p.mmap(W, 4 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0)
    vma = p.mm.vmas[0]
    assert vma.vm_pgoff == 0x2000                      # COW mapping: vm_pgoff = pfn
    p.write(W)
    folio = p.folio_at(W)
    assert folio is not None and folio.anon and not 0x2000 <= folio.pfn < 0x2004
    pte = p.mm.pgtable[W]
    assert vm_normal_page(vma, W, pte) is folio        # a normal (CoWed) page
    assert vm_normal_page(vma, W + PS, p.mm.pgtable[W + PS]) is None   # the device frame
    k.validate()
    p.munmap(W, 4 * PS)
    assert k.physmem.nr_allocated == 0                 # the CoW copy was freed


@pytest.mark.parametrize("base, n", [(0x10, 1), (0x8, 16)])
def test_device_frames_may_not_include_the_zero_page(base, n):
    with pytest.raises(ValueError, match="zero page"):
        Kernel().create_device("/dev/bad", base, n)


def test_device_frames_may_not_overlap_ram_in_use_or_another_device():
    k = Kernel()
    p = k.spawn()
    p.mmap(W, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | 0x20)
    p.write(W)                                         # RAM frame 0x2000 now in use
    with pytest.raises(ValueError, match="RAM"):
        k.create_device("/dev/bad", 0x2000, 1)
    k.create_device("/dev/a", 0x80000, 8)
    with pytest.raises(ValueError, match="another device"):
        k.create_device("/dev/b", 0x80004, 8)
    assert "/dev/bad" not in k.inodes and "/dev/b" not in k.inodes

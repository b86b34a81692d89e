"""/proc/PID/maps text from a snapshot, as fs/proc/task_mmu.c: show_map_vma() prints it.

Device and inode are not in a snapshot and print as ``00:00 0``.  As in the kernel, the
prefix ends with a space, and a pathname is padded (``seq_pad()``) to start at column 73;
lines of anonymous memory therefore end with that space.  Model-only facts (the VMA id,
vm_pgoff of anonymous memory, anon_vma) can be appended with ``extra=True``, after the
pathname column, where no parser of real maps looks.

>>> from rmapkit.render.samples import file_and_zero
>>> lines = to_maps(file_and_zero()).splitlines()
>>> lines[0]
'00010000-00012000 rw-p 00000000 00:00 0 '
>>> lines[1].index("/tmp/data")
73
"""

from __future__ import annotations

from rmapkit.render.common import hx, vma_key, vma_pgoff
from rmapkit.snapshot import Snapshot

__all__ = ["to_maps"]


def to_maps(snap: Snapshot, process: str | None = None, extra: bool = False) -> str:
    """The maps lines of ``process`` (default: the first).  O(V)."""
    proc = snap.process(process) if process else snap.processes[0]
    out = []
    for v in proc.vmas:
        line = f"{v.vm_start:08x}-{v.vm_end:08x} {v.perms} {v.offset:08x} 00:00 0 "
        if v.name or extra:
            line = line.ljust(72) + " " + v.name
        if extra:
            line += (f"  # {vma_key(proc.name, v)} vm_pgoff {hx(vma_pgoff(v))}"
                     + (f" anon_vma {v.anon_vma}" if v.anon_vma else ""))
        out.append(line)
    return "\n".join(out) + "\n"

"""The public API is annotated and says what it returns and raises.

Every public function of rmapkit.model's modules (their ``__all__``) and every public
method of Kernel, Process, MM, VMA, AnonVMA, AnonVMAChain and Folio annotates each
parameter and its return, and the annotations name real types.
"""

import inspect
import typing
from collections.abc import Iterable

import pytest

import rmapkit.model as model
from rmapkit.model import anon_vma, fault, file, filemap, folio, fork, kernel, merge, mm, \
    mmap, mremap, ops, pfnmap, rmap, snap, validate, vma, vmflags
from rmapkit.snapshot import Snapshot

MODULES = [anon_vma, fault, filemap, fork, kernel, merge, mm, mmap, mremap, pfnmap, rmap,
           snap, validate, vma, vmflags]
CLASSES = [model.Kernel, model.Process, model.MM, model.VMA, model.AnonVMA,
           model.AnonVMAChain, model.Folio, folio.PhysMem, mm.PTE]
NAMES = {**{n: getattr(model, n) for n in model.__all__}, "PTE": mm.PTE, "File": file.File,
         "AddressSpace": file.AddressSpace, "Snapshot": Snapshot, "Iterable": Iterable,
         "VMG": merge.VMG, "PhysMem": folio.PhysMem, "VMOperations": ops.VMOperations,
         "Inode": file.Inode}


def _callables():
    for m in MODULES:
        for name in m.__all__:
            obj = getattr(m, name)
            if inspect.isfunction(obj):
                yield f"{m.__name__}.{name}", obj
    for cls in CLASSES:
        for name, obj in vars(cls).items():
            if isinstance(obj, property):
                obj = obj.fget
            if inspect.isfunction(obj) and (not name.startswith("_") or name == "__init__"):
                yield f"{cls.__name__}.{name}", obj


@pytest.mark.parametrize("name, fn", list(_callables()), ids=lambda x: x if isinstance(x, str) else "")
def test_public_callable_is_annotated(name, fn):
    sig = inspect.signature(fn)
    missing = [p for p in sig.parameters.values()
               if p.name != "self" and p.annotation is inspect.Parameter.empty]
    assert not missing, f"{name}: {missing} have no annotation"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return type"
    typing.get_type_hints(fn, globalns=vars(inspect.getmodule(fn)), localns=NAMES)


def test_syscalls_state_what_they_return_and_raise():
    for name in ("mmap", "munmap", "mprotect", "mremap", "madvise", "open", "ftruncate",
                 "pread", "pwrite", "fallocate", "fsync"):
        doc = getattr(model.Process, name).__doc__
        assert ":returns:" in doc and ":raises OSError:" in doc, name
    assert ":raises SegmentationFault:" in model.Process.read.__doc__
    assert "raises as read()" in model.Process.write.__doc__

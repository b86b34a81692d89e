"""How syscall arguments reach the kernel: the C conversions, in one place.

Mirrors the x86-64 syscall ABI and include/linux/syscalls.h: SYSCALL_DEFINEn() (v6.18).
Every argument arrives in a 64-bit register and the wrapper casts it to the parameter's C
type (``__SC_CAST``): ``unsigned long`` and ``size_t`` keep the 64 bits, so a negative
Python int becomes the huge unsigned value the kernel sees (``-4096`` is
``0xfffffffffffff000``) and ``2**64 + 5`` is ``5``; ``int`` keeps the low 32 bits, signed
(``2**32 + 4`` is ``4``); ``unsigned int`` the low 32 bits; ``off_t``/``loff_t`` are
signed 64-bit.  Every ``Process`` syscall goes through :func:`syscall`, so every model
function below it sees only in-range C values.

What is not an integer (None, float, str, and also bool) is refused with ``TypeError``
before anything happens: C would not compile ``mmap(NULL, 4096.0, ...)``, and Python
code that passes ``True`` as a length or ``4.0`` as advice has a bug the model should
show, not hide.  (``operator.index()`` accepts int subclasses and numpy integers.)
String parameters (``const char *``) take ``str``.

Also here: the 64-bit page arithmetic (``PAGE_ALIGN()`` wraps modulo 2**64 as in C).
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable

from ..uapi import PAGE_MASK, PAGE_SIZE

__all__ = ["syscall", "convert", "c_value", "PAGE_ALIGN", "ULONG_MAX", "CTYPES"]

ULONG_MAX = (1 << 64) - 1
_PAGE_MASK = PAGE_MASK & ULONG_MAX


# The C parameter types the model's syscalls use and how __SC_CAST converts a register:
# keep the low ``mask`` bits, and for a signed type move the top half below zero (``half``
# is 2**(bits-1), 0 for an unsigned type).  One table serves c_value() and the generated
# fast entries of syscall().
_CASTS = {ctype: ((1 << bits) - 1, (1 << (bits - 1)) if signed else 0)
          for ctype, bits, signed in [
              ("unsigned long", 64, False), ("size_t", 64, False), ("int", 32, True),
              ("unsigned int", 32, False), ("off_t", 64, True), ("loff_t", 64, True),
              ("long", 64, True), ("umode_t", 16, False)]}
CTYPES = {ctype: (lambda v, mask=mask, half=half: ((v + half) & mask) - half)
          for ctype, (mask, half) in _CASTS.items()}


def _fast_entry(fn, sig, params, call, slow):
    """The entry of a syscall, generated once: with the syscall's own parameters (so a
    missing or unexpected argument is Python's TypeError), and when every converted
    argument is a plain int (``a.__class__ is int``) the __SC_CAST arithmetic inline, e.g.
    ``self._alive(call); return fn(self, a & 0xffffffffffffffff, ...)``.  Anything else
    (bool, int subclasses, floats, str) goes to ``slow``, the bound path with c_value()'s
    checks and messages.  Binding the signature on every call cost more than most
    syscalls' own work (bench/bench.py --profile)."""
    after_self = list(sig.parameters.values())[1:]
    ctype_of = {name: ctype for ctype, name in params}
    if not all(p.kind is p.POSITIONAL_OR_KEYWORD for p in after_self) or \
            not all(c in _CASTS for c in ctype_of.values()):
        return functools.wraps(fn)(slow)
    names = [p.name for p in after_self]
    env = {"fn": fn, "slow": slow, "call": call}
    sig_src, checks, args = [], [], []
    for i, p in enumerate(after_self):
        if p.default is p.empty:
            sig_src.append(p.name)
        else:
            env[f"_d{i}"] = p.default
            sig_src.append(f"{p.name}=_d{i}")
        ctype = ctype_of.get(p.name)
        if ctype is None:
            args.append(p.name)
            continue
        mask, half = _CASTS[ctype]
        checks.append(f"{p.name}.__class__ is int")
        args.append(f"(({p.name} + {half}) & {mask}) - {half}" if half else f"{p.name} & {mask}")
    src = (f"def entry(self, {', '.join(sig_src)}):\n"
           f"    if {' and '.join(checks) or 'True'}:\n"
           f"        self._alive(call)\n"
           f"        return fn(self, {', '.join(args)})\n"
           f"    return slow(self, {', '.join(names)})\n")
    exec(src, env)
    return functools.wraps(fn)(env["entry"])


def PAGE_ALIGN(n: int) -> int:
    """include/linux/mm.h: PAGE_ALIGN() on an unsigned long: wraps to 0 near 2**64. O(1)."""
    return (n + PAGE_SIZE - 1) & _PAGE_MASK


def c_value(value: object, ctype: str, call: str = "syscall",
            name: str = "argument") -> int | str:
    """``value`` converted to C type ``ctype`` as a syscall receives it.

    :raises TypeError: if ``value`` is not an integer (or not a str for ``const char *``).

    >>> hex(c_value(-4096, "unsigned long"))
    '0xfffffffffffff000'
    >>> c_value(2**32 + 4, "int"), c_value(2**63, "off_t")
    (4, -9223372036854775808)
    """
    if ctype == "const char *":
        if not isinstance(value, str):
            raise TypeError(f"{call}: {name} must be a str, not {type(value).__name__}")
        return value
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{call}: {name} must be an integer (C {ctype}), "
                        f"not {type(value).__name__} {value!r}")
    return CTYPES[ctype](operator.index(value))


def convert(call: str, params: list[tuple[str, str]], args: dict) -> dict:
    """Convert ``args`` (a dict name -> value) for the C ``params`` [(ctype, name)]."""
    return {name: c_value(args[name], ctype, call, name) for ctype, name in params
            if name in args}


def syscall(*decls: str) -> Callable[[Callable], Callable]:
    """Decorate a ``Process`` method: convert its arguments as the C prototype ``decls``
    (e.g. ``"unsigned long addr"``, ``"int advice"``, ``"const char *name"``) says, check
    that the process is alive (ESRCH), then run the body with the converted values.

    Type errors come first, then ESRCH, then the syscall's own checks: nothing in the
    model changes before all three pass.  O(number of arguments).
    """
    params = []
    for d in decls:
        ctype, _, name = d.rpartition(" ")
        if name.startswith("*"):
            ctype, name = ctype + " *", name[1:]
        if ctype not in CTYPES and ctype != "const char *":
            raise ValueError(f"unknown C type in {d!r}")
        params.append((ctype, name))

    def wrap(fn):
        sig = inspect.signature(fn)
        names = set(sig.parameters)
        missing = [n for _, n in params if n not in names]
        if missing:
            raise ValueError(f"{fn.__name__}: no parameter {missing}")
        call = fn.__name__

        def convert_bound(self, *args, **kwargs):
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            a.update(convert(call, params, a))
            self._alive(call)
            return fn(**a)

        entry = _fast_entry(fn, sig, params, call, convert_bound)

        entry.__c_params__ = tuple(params)
        return entry

    return wrap

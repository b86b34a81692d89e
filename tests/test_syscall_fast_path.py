"""syscall()'s generated entry converts positional plain ints exactly as c_value() does;
anything else (bool, float, int subclasses, keywords with odd values) takes the bound path
with the same results and errors."""

import random

import pytest

from rmapkit.model.args import c_value, syscall

TYPES = ("unsigned long", "int", "off_t", "size_t", "unsigned int")
VALUES = [0, 1, -1, 4096, -4096, 2**31 - 1, 2**31, -2**31, 2**32 + 4, 2**63 - 1, 2**63,
          -2**63, -2**63 - 1, 2**64 - 1, 2**64 + 5, -2**64 - 5, 2**100]


class Proc:
    alive = True

    def _alive(self, call):
        if not self.alive:
            raise ProcessLookupError(call)

    @syscall("unsigned long a", "int b", "off_t c", "size_t d", "unsigned int e")
    def f(self, a, b, c=0, d=7, e=1):
        return (a, b, c, d, e)


class MyInt(int):
    pass


def expected(args):
    full = list(args) + [0, 7, 1][len(args) - 2:]
    return tuple(c_value(v, t) for v, t in zip(full, TYPES))


def test_fast_path_converts_as_c_value():
    rng = random.Random(1)
    p = Proc()
    for _ in range(400):
        args = [rng.choice(VALUES) for _ in range(rng.randint(2, 5))]
        assert p.f(*args) == expected(args), args
        assert p.f(**dict(zip("abcde", args))) == expected(args), args
        odd = [MyInt(v) for v in args]                 # int subclasses: the bound path
        assert p.f(*odd) == expected(args), args


@pytest.mark.parametrize("bad", [True, 1.0, "1", None])
def test_non_ints_are_refused_before_esrch(bad):
    p = Proc()
    p.alive = False
    with pytest.raises(TypeError):
        p.f(1, bad)
    with pytest.raises(ProcessLookupError):
        p.f(1, 2)

"""``python -m rmapkit.exercises KIND -s SEED [-c] [-a ANSWER] [-n OPS] [-p PROCS] [-o OPS]``.

The OSTEP-style front end.  Without ``-c`` it prints the question; ``-c`` adds the answer
and how the model derives it; ``-a ANSWER`` checks an answer (exit status 0 if right, 1 if
not; a first wrong answer gets a hint, as in the notebooks).  The knobs make other
problems from the same seed: ``-n`` how many random ops, ``-p`` how many processes at most,
``-o`` which ops (or variants) to draw from.  ``-l`` lists the kinds and their knobs.
"""

from __future__ import annotations

import argparse
import sys

from rmapkit.exercises import KINDS, check, question, solution
from rmapkit.exercises.core import CHAPTER, KNOBS


def _knob_help(kind):
    knobs = KNOBS[kind]
    if not knobs:
        return ""
    return "  [" + ", ".join(
        f"-o {'|'.join(v)}" if k == "allow" else f"{'-n' if k == 'ops' else '-p'} "
        f"(default {v if not isinstance(v, tuple) else f'{v[0]}-{v[1]}'})"
        for k, v in knobs.items()) + "]"


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m rmapkit.exercises",
        description="Seeded exercises on VMAs, anon_vmas, folios and rmap, answered by "
                    "the rmapkit model.")
    ap.add_argument("kind", nargs="?", help="exercise kind: " + ", ".join(KINDS))
    ap.add_argument("-s", "--seed", type=lambda s: int(s, 0), default=0,
                    help="random seed (default 0)")
    ap.add_argument("-c", "--compute", action="store_true",
                    help="print the answer and its derivation")
    ap.add_argument("-a", "--answer", help="check this answer")
    ap.add_argument("-n", "--ops", help="knob: how many random ops")
    ap.add_argument("-p", "--procs", help="knob: at most this many processes")
    ap.add_argument("-o", "--allow", help="knob: the ops (or variants) to draw from, "
                                          "comma-separated")
    ap.add_argument("-l", "--list", action="store_true", help="list the exercise kinds")
    args = ap.parse_args(argv)
    if args.list or not args.kind:
        for name, (title, _) in KINDS.items():
            ch = CHAPTER.get(name)
            print(f"{name:<12} {'ch' + str(ch) if ch is not None else '   '}  {title}"
                  f"{_knob_help(name)}")
        return 0
    if args.kind not in KINDS:
        ap.error(f"unknown kind {args.kind!r}; kinds: {', '.join(KINDS)}")
    knobs = {k: getattr(args, k) for k in ("ops", "procs", "allow")
             if getattr(args, k) is not None}
    try:
        q = question(args.kind, args.seed, **knobs)
    except ValueError as e:
        ap.error(str(e))
    print(q.text)
    if args.compute:
        print(solution(args.kind, args.seed, **knobs))
    if args.answer is not None:
        r = check(args.kind, args.seed, args.answer, **knobs)
        print(r)
        return 0 if r.correct else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

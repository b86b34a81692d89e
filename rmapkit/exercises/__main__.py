"""``python -m rmapkit.exercises KIND -s SEED [-c] [-a ANSWER]``: the OSTEP-style front end.

Without ``-c`` it prints the question; ``-c`` adds the answer and how the model derives it;
``-a ANSWER`` checks an answer (exit status 0 if right, 1 if not).  ``-l`` lists the kinds.
"""

from __future__ import annotations

import argparse
import sys

from rmapkit.exercises import KINDS, check, question, solution


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
    ap.add_argument("-l", "--list", action="store_true", help="list the exercise kinds")
    args = ap.parse_args(argv)
    if args.list or not args.kind:
        for name, (title, _) in KINDS.items():
            print(f"{name:<12} {title}")
        return 0
    if args.kind not in KINDS:
        ap.error(f"unknown kind {args.kind!r}; kinds: {', '.join(KINDS)}")
    print(question(args.kind, args.seed).text)
    if args.compute:
        print(solution(args.kind, args.seed))
    if args.answer is not None:
        r = check(args.kind, args.seed, args.answer)
        print(r)
        return 0 if r.correct else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

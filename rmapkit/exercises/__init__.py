"""Seeded exercises in the OSTEP style: a question from a seed, a checker that teaches, a solution.

>>> from rmapkit.exercises import KINDS, question, check, solution
>>> sorted(KINDS)[:6]
['chain', 'cow', 'folio-index', 'merge', 'move-back', 'normal']
>>> q = question("rmap-split", seed=1)
>>> q.kind, q.seed
('rmap-split', 1)
>>> check("rmap-split", 1, solution("rmap-split", 1).answer).correct
True
>>> r = check("rmap-split", 1, "[0, 1)")          # a first wrong answer: a hint
>>> r.correct, r.message.startswith("Not yet"), r.explanation
(False, True, '')
>>> r = check("rmap-split", 1, "[0, 1)")          # again: the worked explanation
>>> print(r.message)
Not right: you said '[0, 1)', the model says [2, 4).
>>> check("rmap-split", 1, "many").message.startswith("Cannot check this answer")
True
>>> question("rmap", 3, ops=1, procs=2).text.splitlines()[0]   # knobs: other problems
'[rmap, seed 3, ops=1, procs=2]'

Every answer is computed by running the question's ops in the model (never written by
hand); the explanation is the model's state after each op.  Each (kind, seed, knobs) draws
from a private ``random.Random``, so a seed means the same question everywhere: in a
notebook, in the tests and on the command line (``python -m rmapkit.exercises KIND -s SEED
[-c] [-n OPS] [-p PROCS] [-o OPS]``).  Kinds by chapter: page-index (1), merge (2),
rmap-split (3), vma-pgoff, move-back, folio-index (4), cow, chain, rmap (5), pfn, normal (6),
vma-count (7), and the multiple-choice ``why`` (two per chapter: seeds 2c and 2c+1).
"""

from rmapkit.exercises import arith, folios, forks, layout, pages, why  # noqa: F401 (register kinds)
from rmapkit.exercises.core import (KINDS, Question, Result, Solution, check, question,
                                    reset_tries, solution)

__all__ = ["KINDS", "question", "check", "solution", "Question", "Result", "Solution",
           "reset_tries"]

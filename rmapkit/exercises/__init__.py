"""Seeded exercises in the OSTEP style: a question from a seed, a checker, a solution.

>>> from rmapkit.exercises import KINDS, question, check, solution
>>> sorted(KINDS)
['folio-index', 'merge', 'rmap', 'vma-count', 'vma-pgoff']
>>> q = question("vma-count", seed=1)
>>> q.kind, q.seed
('vma-count', 1)
>>> check("vma-count", 1, solution("vma-count", 1).answer).correct
True
>>> r = check("vma-count", 1, "many")
>>> r.correct, r.message.startswith("Cannot check this answer")
(False, True)

Every answer is computed by running the question's ops in the model (never written by
hand); the explanation is the model's state after each op.  Each (kind, seed) draws from
a private ``random.Random``, so a seed means the same question everywhere: in a notebook,
in the tests and on the command line (``python -m rmapkit.exercises KIND -s SEED [-c]``).
"""

from rmapkit.exercises import arith, forks, layout, pages, why  # noqa: F401 (register kinds)
from rmapkit.exercises.core import (KINDS, Question, Result, Solution, check, question,
                                    solution)

__all__ = ["KINDS", "question", "check", "solution", "Question", "Result", "Solution"]

"""Scenarios: hand-written syscall sequences that run the same in the model and the kernel.

>>> from rmapkit.scenarios import load, names, parse
>>> sc = load("split")
>>> [op.text for op in sc.ops]
['P0: mmap 0 3 rw private anon', 'P0: write 0 3', 'P0: munmap 1 1']
>>> parse("P0: mmap 0 3 rw privte anon")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rmapkit.scenarios.format.ScenarioError: <scenario>:1: unknown mmap word 'privte' (expected ...)
    P0: mmap 0 3 rw privte anon

The format is described in rmapkit.scenarios.format; run_model() / run_live() run a
scenario, compare() / compare_runs() put model and kernel side by side, and
compare_with_kernel("fork-cow") does all of it in one call.
"""

from rmapkit.scenarios.diff import Diff, compare, compare_runs
from rmapkit.scenarios.differential import compare_with_kernel
from rmapkit.scenarios.format import Op, Scenario, ScenarioError
from rmapkit.scenarios.library import load, names, library_dir
from rmapkit.scenarios.parser import parse
from rmapkit.scenarios.run import (LiveResult, ModelResult, RunResult, run_live, run_live_many,
                                   run_model)

__all__ = ["load", "names", "parse", "run_model", "run_live", "run_live_many", "compare",
           "compare_runs", "compare_with_kernel", "Diff", "Scenario", "Op", "ScenarioError", "RunResult",
           "ModelResult", "LiveResult", "library_dir"]

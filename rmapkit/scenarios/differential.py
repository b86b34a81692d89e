"""Differential testing: run scenarios in the model and the kernel, shrink disagreements.

agree(scenarios) runs every scenario in the model (in this process) and in the live kernel
(in ``jobs`` driver processes at once, while the model runs), and returns the
disagreements; minimal_failure() shrinks one to the smallest failing scenario and renders
it as a scenario file that replays against the kernel (its ``expect`` lines are the
kernel's outcomes).  Cost: the scenario runs; shrinking is O(ops^2) runs at worst.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rmapkit.scenarios.diff import Diff, compare_runs
from rmapkit.scenarios.generate import shrink
from rmapkit.scenarios.run import run_live_many, run_model

__all__ = ["Disagreement", "agree", "minimal_failure", "report", "compare_with_kernel"]


@dataclass
class Disagreement:
    """One scenario on which model and kernel differ, cut at the first differing op."""

    scenario: object        # the failing prefix, with the kernel's outcomes as expects
    diff: object


def _run_live_parallel(scenarios, jobs, steps=True):
    """run_live_many() over ``jobs`` slices at once (threads only wait on subprocesses)."""
    slices = [scenarios[i::jobs] for i in range(jobs)]
    out = [None] * jobs

    def work(i):
        out[i] = run_live_many(slices[i], strict=False, steps=steps)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(jobs) if slices[i]]
    for t in threads:
        t.start()
    return threads, slices, out


def _join(threads, slices, out, n):
    for t in threads:
        t.join()
    res = [None] * n
    for i, part in enumerate(out):
        for j, r in enumerate(part or ()):
            res[i + j * len(out)] = r
    return res


def _disagreement(m, lv):
    d = compare_runs(m, lv)
    if not d:
        return None
    n = d.step + 1 if d.step is not None else len(m.scenario.ops)
    sc = m.scenario.prefix(n).with_expects(lv.outcomes[:n])
    return Disagreement(sc, d)


def agree(scenarios, jobs=2, validate=True, steps=True):
    """Run ``scenarios`` in both worlds; return the list of Disagreements (empty: all agree).

    ``steps=False`` compares every op's outcome but the state only after the last op
    (much cheaper for big windows); a disagreement is then reported at the last op.
    """
    scenarios = list(scenarios)
    threads, slices, out = _run_live_parallel(scenarios, jobs, steps)
    models = [run_model(sc, strict=False, validate=validate, steps=steps)
              for sc in scenarios]
    lives = _join(threads, slices, out, len(scenarios))
    found = []
    for m, lv in zip(models, lives):
        d = _disagreement(m, lv)
        if d is not None:
            found.append(d)
    return found


def _still_fails(candidates):
    """The first candidate on which model and kernel still differ, or None."""
    lives = run_live_many(candidates, strict=False)
    for sc, lv in zip(candidates, lives):
        d = _disagreement(run_model(sc, strict=False, validate=True), lv)
        if d is not None:
            return d.scenario
    return None


def minimal_failure(dis):
    """Shrink a Disagreement to a smallest failing scenario; return a new Disagreement."""
    small = shrink(dis.scenario, _still_fails)
    m = run_model(small, strict=False, validate=True)
    lv = run_live_many([small], strict=False)[0]
    return _disagreement(m, lv) or dis


def report(dis):
    """The disagreement as a scenario file: the diff as comments, then the ops."""
    lines = [f"# {line}" if line else "#" for line in dis.diff.text().splitlines()]
    return "\n".join(lines) + "\n" + dis.scenario.text()


def compare_with_kernel(scenario):
    """"Does my kernel really do that?": run ``scenario`` (a name, path, text or Scenario)
    in the model and in the live kernel; return the Diff (it renders as HTML in Jupyter).

    Where the live kernel cannot be observed the Diff is empty and its note says why.
    """
    from rmapkit import live
    from rmapkit.scenarios.library import load
    from rmapkit.scenarios.parser import parse
    if isinstance(scenario, str) and "\n" in scenario:
        scenario = parse(scenario)
    sc = load(scenario)
    m = run_model(sc, strict=False)
    ok, why = live.available()
    if not ok and not sc.model_only:
        return Diff(m.snapshot, None, note=f"not compared: the live kernel cannot be "
                                           f"observed here ({why})")
    return compare_runs(m, run_live_many([sc], strict=False)[0])

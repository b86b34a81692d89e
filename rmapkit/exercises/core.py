"""The machinery every exercise kind shares: seeded building, questions, answers, checking.

An exercise kind is a function ``make(rng) -> Case``; it builds a scenario op by op with a
:class:`Builder` (every op is run in the model before it is kept, so each question's ops
succeed), picks what to ask, and lets the model compute the answer.  The same Case backs
:func:`question`, :func:`check`, :func:`solution` and the command line, so they cannot
disagree.  Each (kind, seed) uses a private ``random.Random`` seeded from both, so seeds
stay stable whatever else runs.

Cost: a question replays its scenario once per op tried (O(ops^2) small model runs, a few
ms); Cases are cached per (kind, seed).
"""

from __future__ import annotations

import functools
import html
import random
import re
from dataclasses import dataclass, field

from rmapkit.scenarios import ScenarioError, parse, run_model
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SIZE

__all__ = ["Case", "Question", "Result", "Solution", "Builder", "register", "KINDS",
           "get_case", "question", "check", "solution", "BASE_PGOFF", "pgoff_text",
           "AnswerError", "letters", "layout_lines", "parse_int", "parse_bool",
           "parse_names"]

_NEAR_PAGES = 4096             # a pgoff this close above page 0's is shown relative to it
BASE_PGOFF = BASE // PAGE_SIZE           # pgoff of window page 0 in the virtual anon file
KINDS = {}                          # name -> (title, make)


class AnswerError(ValueError):
    """An answer that cannot be read; the message says how to write one."""


def register(name, title):
    """Decorator: register ``make(rng) -> Case`` as exercise kind ``name``."""
    def deco(make):
        KINDS[name] = (title, make)
        return make
    return deco


def pgoff_text(pgoff):
    """``0x200000002 (window pgoff + 2)``: a pgoff and where it sits in the window."""
    if pgoff is None:
        return "none"
    rel = pgoff - BASE_PGOFF
    if 0 <= rel < _NEAR_PAGES:
        return f"{pgoff:#x} (page-0 pgoff + {rel})"
    return f"{pgoff:#x}"


# -- building scenarios ------------------------------------------------------------------
class Builder:
    """A scenario grown one op at a time; an op is kept only if the model runs it cleanly."""

    def __init__(self, rng, window, description=""):
        self.rng, self.window, self.description = rng, window, description
        self.lines = []
        self.result = None

    def text(self, lines=None):
        head = "".join(f"# {d}\n" for d in self.description.splitlines())
        return head + f"window {self.window}\n" + "".join(
            line + "\n" for line in (self.lines if lines is None else lines))

    def try_op(self, line):
        """Run the scenario plus ``line``; keep it if the op succeeds (True), else False."""
        try:
            sc = parse(self.text(self.lines + [line]), name="exercise")
        except ScenarioError:
            return False
        res = run_model(sc, strict=False, steps=False)
        if not res.ok or len(res.outcomes) != len(sc.ops):
            return False
        self.lines.append(line)
        self.result = res
        return True

    def first(self, candidates):
        """Keep the first candidate op that succeeds; return it (None if none did)."""
        for line in candidates:
            if self.try_op(line):
                return line
        return None

    def free_runs(self, proc="P0"):
        """[(first page, pages)] of the free stretches of the window in ``proc``."""
        used = set()
        snap = self.result.snapshot if self.result else None
        if snap is not None and any(p.name == proc for p in snap.processes):
            for v in snap.process(proc).vmas:
                used.update(range((v.vm_start - BASE) // PAGE_SIZE,
                                  (v.vm_end - BASE) // PAGE_SIZE))
        runs, start = [], None
        for pg in range(self.window + 1):
            if pg < self.window and pg not in used:
                start = pg if start is None else start
            elif start is not None:
                runs.append((start, pg - start))
                start = None
        return runs

    def run(self):
        """The final scenario, run with a snapshot after every op."""
        sc = parse(self.text(), name="exercise")
        return sc, run_model(sc, strict=True, steps=True)


# -- describing states -------------------------------------------------------------------
def page_of(addr):
    return (addr - BASE) // PAGE_SIZE


def letters(steps):
    """A stable letter per VMA id across all steps, in order of first appearance."""
    out = {}
    for _, snap in steps:
        for p in snap.processes:
            for v in p.vmas:
                if v.id not in out:
                    out[v.id] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(out) % 26]
    return out


def layout_lines(snap, window, names, procs=None, indent="    "):
    """The kernel-test ruler for each process: ``0123...`` then one letter per page, then
    one line per VMA (range, prot, vm_pgoff, anon_vma)."""
    out = []
    for p in snap.processes:
        if procs is not None and p.name not in procs:
            continue
        row = ["."] * window
        for v in p.vmas:
            for pg in range(page_of(v.vm_start), page_of(v.vm_end)):
                if 0 <= pg < window:
                    row[pg] = names.get(v.id, "?")
        ruler = "".join(str(i % 10) for i in range(window))
        out.append(f"{indent}{p.name:<4}{ruler}")
        out.append(f"{indent}{'':<4}{''.join(row)}")
        for v in p.vmas:
            out.append(f"{indent}  {names.get(v.id, '?')} = {v.id} pages "
                       f"[{page_of(v.vm_start)}, {page_of(v.vm_end)}) {v.perms[:3]} "
                       f"vm_pgoff {pgoff_text(v.vm_pgoff)}, anon_vma {v.anon_vma or 'none'}")
    return out


def step_story(steps, window, procs=None):
    """For every op: the op line and the layout after it."""
    names = letters(steps)
    out = []
    for i, (op, snap) in enumerate(steps, 1):
        out.append(f"{i}. {op}")
        out += layout_lines(snap, window, names, procs)
    return out


# -- answers -------------------------------------------------------------------------------
def parse_int(raw, what="a number"):
    """int, ``"0x1f"``, ``"31"``, ``" 31 "`` -> int; AnswerError otherwise."""
    if isinstance(raw, bool):
        raise AnswerError(f"{what} is a number, not {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        s = raw.strip().replace("_", "")
        try:
            return int(s, 0)
        except ValueError:
            pass
    raise AnswerError(f"could not read {raw!r} as {what}: write it like 3 or 0x200000002")


_YES = {"yes", "y", "true", "t", "1", "merge", "merges", "merged"}
_NO = {"no", "n", "false", "f", "0", "none", "split", "separate", "nomerge", "no merge",
       "doesn't merge", "does not merge", "not merged"}


def parse_bool(raw, what="yes or no"):
    """True/False, 1/0, "yes"/"no"/"y"/"n"/"merges" -> bool; AnswerError otherwise."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        s = " ".join(raw.strip().lower().replace("'", "'").split()).rstrip(".!")
        if s in _YES:
            return True
        if s in _NO:
            return False
    raise AnswerError(f"could not read {raw!r} as {what}: answer True/False or 'yes'/'no'")


def parse_names(raw, what="a list of process names"):
    """``["P0", "P1"]``, ``"P0 P1"``, ``"P0, P1"``, ``"P0"``, ``[]``/``"none"`` -> tuple of
    names, in the given order (duplicates dropped); AnswerError otherwise."""
    if raw is None:
        raise AnswerError(f"no answer: give {what}, e.g. ['P0', 'P1'] or [] for none")
    if isinstance(raw, str):
        s = raw.strip()
        if s.lower() in ("", "none", "nobody", "[]", "nothing"):
            return ()
        items = re.split(r"[\s,;/]+|\band\b", s.strip("[](){}"))
    elif isinstance(raw, (list, tuple, set, frozenset)):
        items = []
        for x in raw:
            if isinstance(x, (tuple, list)) and x:      # (process, page) pairs: the names
                x = x[0]
            if not isinstance(x, str):
                raise AnswerError(f"{x!r} is not a process name: give {what}, "
                                  "e.g. ['P0', 'P1']")
            items.append(x)
        if isinstance(raw, (set, frozenset)):
            items.sort()
    else:
        raise AnswerError(f"could not read {raw!r} as {what}: give e.g. ['P0', 'P1'] "
                          "or 'P0 P1'")
    out = []
    for x in items:
        x = x.strip().strip("'\"").upper()
        if not x:
            continue
        if not re.fullmatch(r"[A-Z_][A-Z0-9_.-]*", x):
            raise AnswerError(f"{x!r} is not a process name: give {what}, e.g. ['P0', 'P1']")
        if x not in out:
            out.append(x)
    return tuple(out)


# -- cases, questions, results -------------------------------------------------------------
@dataclass
class Case:
    """One generated exercise: the scenario, what is asked, the answer and how it follows.

    ``read(raw) -> value`` parses a reader's answer (raising AnswerError); ``same(value)``
    says whether it is right; ``answer_text`` is the answer as a teacher would write it;
    ``derivation`` the step-by-step lines from the model.
    """

    kind: str
    seed: int
    prompt: str
    scenario_text: str
    answer: object
    answer_text: str
    derivation: list
    read: object
    how_to_answer: str
    same: object = None
    extra: dict = field(default_factory=dict)

    def is_right(self, value):
        return self.same(value) if self.same else value == self.answer


def pgoff_case(what, page, answer, lines, sc, name):
    """A question whose answer is a page offset (``what`` the page at ``page`` of P0 has),
    accepted as the full pgoff or relative to page 0 of the window."""

    def same(value):
        return value == answer or value + BASE_PGOFF == answer

    return Case(kind="", seed=0,
                prompt=(f"What is {what} page {page} of P0 after the last op?  (Page 0 of "
                        f"the window has pgoff {BASE_PGOFF:#x}; you may answer "
                        f"{BASE_PGOFF:#x} + k or just k.)"),
                scenario_text=sc.text(), answer=answer,
                answer_text=f"{answer:#x} (= {BASE_PGOFF:#x} + {answer - BASE_PGOFF})",
                derivation=lines, read=lambda raw: parse_int(raw, name),
                how_to_answer=f"a number, e.g. {BASE_PGOFF + 2:#x} or 2", same=same)


def _rng(kind, seed):
    return random.Random(f"rmapkit-exercise:{kind}:{seed}")


def _kind(kind):
    if kind not in KINDS:
        raise ValueError(f"unknown exercise kind {kind!r}; kinds: {', '.join(KINDS)}")
    return KINDS[kind]


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int):
        try:
            return int(str(seed).strip(), 0)
        except ValueError:
            raise ValueError(f"a seed is a whole number, not {seed!r}") from None
    return seed


@functools.lru_cache(maxsize=256)
def _case(kind, seed):
    _, make = _kind(kind)
    case = make(_rng(kind, seed))
    case.kind, case.seed = kind, seed
    return case


def get_case(kind, seed):
    """The Case for (kind, seed), built once and cached."""
    return _case(kind, _seed(seed))


class Question:
    """A question: ``text`` (prompt plus the ops as a scenario listing), ``kind``, ``seed``;
    also ``scenario`` (the listing alone: ``Playground(q.scenario)`` replays it), ``ops``,
    ``prompt`` and ``how_to_answer``."""

    def __init__(self, case):
        self.kind, self.seed = case.kind, case.seed
        self.scenario = case.scenario_text
        self.ops = [line for line in case.scenario_text.splitlines()
                    if ":" in line and not line.startswith("#")]
        self.prompt = case.prompt
        self.how_to_answer = case.how_to_answer
        ops = "\n".join("    " + line for line in case.scenario_text.rstrip("\n").split("\n"))
        self.text = (f"[{case.kind}, seed {case.seed}]\n"
                     f"Run these ops (scenario format: pages of the window; the window "
                     f"is far from anything else, so each mmap hint is taken):\n\n{ops}\n\n"
                     f"{case.prompt}\n"
                     f"Answer with {case.how_to_answer}; then "
                     f"check({case.kind!r}, {case.seed}, answer).\n")

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"<Question {self.kind} seed={self.seed}>"

    def _repr_html_(self):
        return f"<pre>{html.escape(self.text)}</pre>"


class Result:
    """The verdict on an answer: ``correct`` and ``explanation`` (from the model)."""

    def __init__(self, case, answer, correct, message, explanation):
        self.kind, self.seed, self.answer = case.kind, case.seed, answer
        self.correct, self.message, self.explanation = correct, message, explanation

    def __bool__(self):
        return self.correct

    def __str__(self):
        return f"{self.message}\n\n{self.explanation}"

    def __repr__(self):
        return f"<Result {self.kind} seed={self.seed} correct={self.correct}>"

    def _repr_html_(self):
        colour = "#1e8449" if self.correct else "#c0392b"
        mark = "Right" if self.correct else "Not quite"
        return (f'<div><b style="color:{colour}">{mark}</b> '
                f"{html.escape(self.message.split(': ', 1)[-1] if ': ' in self.message else '')}"
                f"<details{' open' if not self.correct else ''}><summary>How it follows "
                f"from the model</summary><pre>{html.escape(self.explanation)}</pre>"
                f"</details></div>")


class Solution:
    """The answer and its derivation, for teachers: ``answer``, ``answer_text``,
    ``derivation`` (text)."""

    def __init__(self, case):
        self.kind, self.seed = case.kind, case.seed
        self.answer, self.answer_text = case.answer, case.answer_text
        self.derivation = "\n".join(case.derivation)
        self.question = Question(case).text

    def __str__(self):
        return f"Answer: {self.answer_text}\n\n{self.derivation}"

    def __repr__(self):
        return f"<Solution {self.kind} seed={self.seed} answer={self.answer_text}>"

    def _repr_html_(self):
        return f"<pre>{html.escape(str(self))}</pre>"


def question(kind, seed=0):
    """A fresh question of ``kind`` for ``seed`` (the same seed gives the same question)."""
    return Question(get_case(kind, seed))


def check(kind, seed, answer):
    """Check ``answer`` to question (kind, seed): a Result, never an exception for a bad
    answer (an unreadable one gets ``correct=False`` and a message saying how to answer)."""
    case = get_case(kind, seed)
    derivation = "\n".join(case.derivation)
    try:
        value = case.read(answer)
    except AnswerError as e:
        return Result(case, answer, False, f"Cannot check this answer: {e}.",
                      f"Answer with {case.how_to_answer}.")
    except Exception as e:                  # a reader's odd object must not raise
        return Result(case, answer, False,
                      f"Cannot check this answer ({type(e).__name__}: {e}).",
                      f"Answer with {case.how_to_answer}.")
    if case.is_right(value):
        return Result(case, answer, True, f"Right: {case.answer_text}.", derivation)
    return Result(case, answer, False,
                  f"Not right: you said {_show(answer)}, the model says {case.answer_text}.",
                  derivation)


def _show(answer):
    if isinstance(answer, str):
        return repr(answer.strip())
    return repr(answer)


def solution(kind, seed=0):
    """The answer to (kind, seed) and how the model derives it (for teachers)."""
    return Solution(get_case(kind, seed))

"""The machinery every exercise kind shares: seeded building, questions, answers, checking.

An exercise kind is a function ``make(rng, **knobs) -> Case``; it builds a scenario op by op
with a :class:`Builder` (every op is run in the model before it is kept, so each question's
ops succeed), picks what to ask, and lets the model compute the answer.  The same Case backs
:func:`question`, :func:`check`, :func:`solution` and the command line, so they cannot
disagree.  Each (kind, seed, knobs) uses a private ``random.Random`` seeded from all three,
so seeds stay stable whatever else runs.  Knobs are the OSTEP simulators' other switches:
``ops`` (how many random ops), ``procs`` (how many processes), ``allow`` (which ops or
variants); each kind declares the ones it takes.

The loop teaches rather than grades: a first wrong answer gets a *hint* that names the
concept or the step to look at, never the value; a second wrong answer (or
:func:`solution`) gets the worked explanation, with the diagram of the state it is about (``figure``: drawn
by rmapkit.render.display, which displays Results and Solutions in a notebook).

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
           "KNOBS", "CHAPTER", "get_case", "question", "check", "solution", "BASE_PGOFF",
           "pgoff_text", "AnswerError", "letters", "layout_lines", "parse_int", "parse_bool",
           "parse_names", "parse_range", "parse_pages", "reset_tries", "pick_target"]

_NEAR_PAGES = 4096             # a pgoff this close above page 0's is shown relative to it
BASE_PGOFF = BASE // PAGE_SIZE           # pgoff of window page 0 in the virtual anon file
KINDS = {}                          # name -> (title, make)
KNOBS = {}                          # name -> {knob: default}
CHAPTER = {}                        # name -> the chapter that teaches it
_KNOB_TYPES = {"ops": int, "procs": int, "allow": tuple}


class AnswerError(ValueError):
    """An answer that cannot be read; the message says how to write one."""


def register(name, title, chapter=None, **knobs):
    """Decorator: register ``make(rng, **knobs) -> Case`` as exercise kind ``name``.

    ``knobs`` are the knobs the kind takes, with their defaults (``ops=(3, 5)``: a random
    number of ops in that range unless the caller gives one).
    """
    def deco(make):
        KINDS[name] = (title, make)
        KNOBS[name] = dict(knobs)
        CHAPTER[name] = chapter
        return make
    return deco


def pick_target(rng, values):
    """The answer a question should have, chosen first so that answers spread evenly (the
    kind then builds scenarios until the model's answer is that value).

    Stratified: each run of ``len(values)`` consecutive seeds uses every value once, in an
    order shuffled per run, so no value dominates a range of seeds and none is predictable
    from the seed alone.
    """
    values = list(values)
    stratum = getattr(rng, "stratum", None)
    if stratum is None:
        return rng.choice(values)
    kind, seed, knobs = stratum
    order = list(values)
    random.Random(f"rmapkit-target:{kind}:{knobs}:{seed // len(values)}").shuffle(order)
    return order[seed % len(values)]


def pgoff_text(pgoff):
    """``p+2``: a pgoff in the window-relative notation (p = the pgoff of window page 0,
    :data:`BASE_PGOFF`); a pgoff outside the window (a file offset, a PFN) in hex."""
    if pgoff is None:
        return "none"
    rel = pgoff - BASE_PGOFF
    if 0 <= rel < _NEAR_PAGES:
        return f"p+{rel}"
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

    def grow(self, ops, make_line, tries=20):
        """Add ``ops`` random ops (a count, or a (lo, hi) range to draw it from): for each,
        up to ``tries`` lines from ``make_line()`` until one runs (None: no line this try)."""
        n = ops if isinstance(ops, int) else self.rng.randint(*ops)
        for _ in range(n):
            for _try in range(tries):
                line = make_line()
                if line is not None and self.try_op(line):
                    break

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


def parse_range(raw, what="a page range [first, end)"):
    """``"[2, 5)"``, ``"2 5"``, ``(2, 5)``, ``"2-5"`` -> (2, 5); AnswerError otherwise."""
    if isinstance(raw, str):
        nums = re.findall(r"0x[0-9a-fA-F]+|\d+", raw)
    elif isinstance(raw, (list, tuple)) and all(isinstance(x, (int, str)) for x in raw):
        nums = list(raw)
    else:
        raise AnswerError(f"could not read {raw!r} as {what}: write it like [2, 5)")
    if len(nums) != 2:
        raise AnswerError(f"could not read {raw!r} as {what}: write it like [2, 5)")
    a, b = (parse_int(x, what) for x in nums)
    return a, b


def parse_pages(raw, what="a list of page numbers"):
    """``[1, 3]``, ``"1 3"``, ``"1, 3"``, ``3``, ``[]``/``"none"`` -> sorted tuple of ints."""
    if raw is None:
        raise AnswerError(f"no answer: give {what}, e.g. [1, 3] or [] for none")
    if isinstance(raw, str):
        s = raw.strip()
        if s.lower() in ("", "none", "[]", "nothing"):
            return ()
        items = re.findall(r"0x[0-9a-fA-F]+|-?\d+|[^\s,;\[\](){}]+", s)
    elif isinstance(raw, (list, tuple, set, frozenset)):
        items = list(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        items = [raw]
    else:
        raise AnswerError(f"could not read {raw!r} as {what}: give e.g. [1, 3]")
    return tuple(sorted({parse_int(x, "a page number") for x in items}))


# -- cases, questions, results -------------------------------------------------------------
@dataclass
class Case:
    """One generated exercise: the scenario, what is asked, the answer and how it follows.

    ``read(raw) -> value`` parses a reader's answer (raising AnswerError); ``same(value)``
    says whether it is right; ``answer_text`` is the answer as a teacher would write it;
    ``derivation`` the step-by-step lines from the model; ``hint`` the concept or step to
    look at (never the value; ``hint_for(value)`` may tailor it to a wrong answer);
    ``figure`` is (snapshot, view, focus): the diagram the worked explanation shows.
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
    hint: str = ""
    hint_for: object = None
    figure: tuple | None = None
    knobs: tuple = ()
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        # the prose lines of a derivation wrap at 88 columns like the questions do (a
        # notebook's output area breaks a longer line in the middle of a word), each
        # continuation indented so a step still reads as one; layouts keep their columns
        self.derivation = _wrap("\n".join(self.derivation), indent="    ").split("\n")

    def is_right(self, value):
        return self.same(value) if self.same else value == self.answer

    def hint_text(self, value=None):
        if self.hint_for is not None and value is not None:
            tailored = self.hint_for(value)
            if tailored:
                return tailored
        return self.hint


def pgoff_case(what, page, answer, lines, sc, name, hint="", res=None, proc="P0",
               view="address"):
    """A question whose answer is a page offset (``what`` the page at ``page`` of P0 has),
    accepted as the full pgoff or relative to page 0 of the window."""

    def same(value):
        return value == answer or value + BASE_PGOFF == answer

    return Case(kind="", seed=0,
                prompt=(f"What is {what} page {page} of {proc} after the last op?  (Page 0 "
                        f"of the window has pgoff p = {BASE_PGOFF:#x}; answer k for p+k, or "
                        "the full number.)"),
                scenario_text=sc.text(), answer=answer,
                answer_text=f"p+{answer - BASE_PGOFF} (= {answer:#x})",
                derivation=lines, read=lambda raw: parse_int(raw, name),
                how_to_answer="a number k (for p+k), e.g. 2", same=same, hint=hint,
                figure=(res.snapshot, view, proc) if res is not None else None)


def _rng(kind, seed, knobs=()):
    tail = "".join(f":{k}={v}" for k, v in knobs)
    return random.Random(f"rmapkit-exercise:{kind}:{seed}{tail}")


def _knobs(kind, knobs):
    """Validate ``knobs`` for ``kind``: a sorted tuple of (name, value), defaults left out."""
    allowed = KNOBS[kind]
    out = []
    for k, v in knobs.items():
        if v is None:
            continue
        if k not in allowed:
            raise ValueError(f"{kind!r} takes no knob {k!r}"
                             + (f" (it takes {', '.join(allowed)})" if allowed else
                                " (it takes none)"))
        if _KNOB_TYPES[k] is int:
            if isinstance(v, bool) or not isinstance(v, int):
                try:
                    v = int(str(v), 0)
                except ValueError:
                    raise ValueError(f"knob {k} is a whole number, not {v!r}") from None
            lo = 2 if k == "procs" else 1
            if not lo <= v <= 8:
                raise ValueError(f"knob {k} must be between {lo} and 8, not {v}")
        else:
            items = v.replace(",", " ").split() if isinstance(v, str) else list(v)
            choices = allowed[k]
            bad = [x for x in items if x not in choices]
            if bad or not items:
                raise ValueError(f"knob allow takes some of {', '.join(choices)}, not "
                                 f"{v!r}")
            v = tuple(sorted(set(items), key=list(choices).index))
            if v == tuple(choices):
                continue
        out.append((k, v))
    return tuple(sorted(out))


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


@functools.lru_cache(maxsize=1024)
def _case(kind, seed, knobs=()):
    _, make = _kind(kind)
    given = dict(knobs)
    kw = {k: given.get(k, d) for k, d in KNOBS[kind].items()}
    rng = _rng(kind, seed, knobs)
    rng.stratum = (kind, seed, knobs)
    case = make(rng, **kw)
    case.kind, case.seed, case.knobs = kind, seed, knobs
    return case


def get_case(kind, seed, **knobs):
    """The Case for (kind, seed, knobs), built once and cached."""
    _kind(kind)
    return _case(kind, _seed(seed), _knobs(kind, knobs))


class Question:
    """A question: ``text`` (prompt plus the ops as a scenario listing), ``kind``, ``seed``;
    also ``scenario`` (the listing alone: ``Playground(q.scenario)`` replays it), ``ops``,
    ``prompt`` and ``how_to_answer``."""

    def __init__(self, case):
        self.kind, self.seed, self.knobs = case.kind, case.seed, case.knobs
        self.scenario = case.scenario_text
        self.ops = [line for line in case.scenario_text.splitlines()
                    if ":" in line and not line.startswith("#")]
        self.prompt = case.prompt
        self.how_to_answer = case.how_to_answer
        call = _call(case)
        if case.scenario_text:
            ops = "\n".join("    " + line
                            for line in case.scenario_text.rstrip("\n").split("\n"))
            body = (f"Run these ops (scenario format, chapter 0: pages of the window; the "
                    f"window is far from anything else, so each mmap hint is taken):\n\n"
                    f"{ops}\n\n")
        else:
            body = ""
        self.text = _wrap(f"[{case.kind}, seed {case.seed}{_knob_words(case.knobs)}]\n{body}"
                          f"{case.prompt}\n"
                          f"Answer with {case.how_to_answer}; then check({call}).\n")

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"<Question {self.kind} seed={self.seed}>"

    def _repr_html_(self):
        return f'<pre style="white-space:pre-wrap">{html.escape(self.text)}</pre>'


def _wrap(text, width=88, indent=""):
    """Wrap the long prose lines of a question or derivation (not the indented scenario,
    layouts or options); ``indent`` starts each continuation line."""
    import textwrap
    return "\n".join(textwrap.fill(line, width, subsequent_indent=indent)
                     if len(line) > width and not line.startswith(" ") else line
                     for line in text.split("\n"))


def _knob_words(knobs):
    return "".join(f", {k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in knobs)


def _call(case, answer="answer"):
    knobs = "".join(f", {k}={(','.join(v) if isinstance(v, tuple) else v)!r}"
                    for k, v in case.knobs)
    return f"{case.kind!r}, {case.seed}, {answer}{knobs}"


def _worked_html(case, title, figure_html=""):
    return (f"<details open><summary><b>{html.escape(title)}</b></summary>"
            f'<p>Answer: <b>{html.escape(case.answer_text)}</b></p>'
            f'<pre style="white-space:pre-wrap">{html.escape(chr(10).join(case.derivation))}'
            f"</pre>{figure_html}</details>")


_TRIES = {}                             # (kind, seed, knobs) -> wrong answers so far


def reset_tries():
    """Forget every wrong answer given so far (the next wrong answer gets a hint again)."""
    _TRIES.clear()


class Result:
    """The verdict on an answer: ``correct``, ``message``, ``hint`` and ``explanation``.

    ``explanation`` is the worked derivation once it is shown (a right answer, a second
    wrong one), else ``""``; ``revealed`` says which.
    """

    def __init__(self, case, answer, correct, message, explanation, hint="",
                 revealed=False):
        self.kind, self.seed, self.answer = case.kind, case.seed, answer
        self.correct, self.message, self.explanation = correct, message, explanation
        self.hint, self.revealed = hint, revealed
        self._case = case

    def __bool__(self):
        return self.correct

    def __str__(self):
        return self.message + (f"\n\n{self.explanation}" if self.explanation else "")

    def __repr__(self):
        return f"<Result {self.kind} seed={self.seed} correct={self.correct}>"

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))

    @property
    def figure(self):
        """(snapshot, view, focus) of the diagram that goes with the worked explanation, once
        it is shown (None before); rmapkit.render.display draws it beside the text."""
        return self._case.figure if self.revealed else None

    def _repr_html_(self):
        return self.html()

    def html(self, figure_html=""):
        """The verdict as HTML; ``figure_html`` (the diagram) goes under the explanation."""
        if self.correct:
            head = '<b style="color:#1e8449">Right.</b>'
        elif self.answer is None:
            head = "<b>No answer yet.</b>"
        elif self.revealed:
            head = '<b style="color:#c0392b">Not right.</b>'
        else:
            head = '<b style="color:#b9770e">Not yet.</b>'
        body = self.message
        for prefix in ("Right:", "Not yet:", "Not right:", "No answer yet:"):
            if body.startswith(prefix):
                body = body[len(prefix):].strip()
        body = html.escape(body)
        out = f"<div>{head} {body}"
        if self.revealed:
            out += _worked_html(self._case, "The worked explanation", figure_html)
        return out + "</div>"


class Solution:
    """The answer and its derivation, for teachers: ``answer``, ``answer_text``,
    ``derivation`` (text); displayed in a notebook with the diagram."""

    def __init__(self, case):
        self.kind, self.seed = case.kind, case.seed
        self.answer, self.answer_text = case.answer, case.answer_text
        self.derivation = "\n".join(case.derivation)
        self.question = Question(case).text
        self._case = case

    def __str__(self):
        return f"Answer: {self.answer_text}\n\n{self.derivation}"

    def __repr__(self):
        return f"<Solution {self.kind} seed={self.seed} answer={self.answer_text}>"

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))

    @property
    def figure(self):
        """(snapshot, view, focus) of the diagram that goes with the derivation."""
        return self._case.figure

    def _repr_html_(self):
        return self.html()

    def html(self, figure_html=""):
        """The answer and derivation as HTML, ``figure_html`` (the diagram) under them."""
        return _worked_html(self._case, f"Solution of {self.kind}, seed {self.seed}",
                            figure_html)


def question(kind, seed=0, **knobs):
    """A fresh question of ``kind`` for ``seed`` (the same seed and knobs give the same
    question).  Knobs: see :data:`KNOBS` (``ops``, ``procs``, ``allow``)."""
    return Question(get_case(kind, seed, **knobs))


def check(kind, seed, answer, **knobs):
    """Check ``answer`` to question (kind, seed): a Result, never an exception for a bad
    answer (an unreadable one gets ``correct=False`` and a message saying how to answer).

    The first wrong answer to a question gets a hint (the concept or the step to look
    at); the next one gets the worked explanation.  ``None`` means "not answered yet".
    """
    case = get_case(kind, seed, **knobs)
    key = (case.kind, case.seed, case.knobs)
    derivation = "\n".join(case.derivation)
    if answer is None:
        return Result(case, None, False, "No answer yet: put yours in place of None and run "
                      f"the cell again (answer with {case.how_to_answer}).", "")
    try:
        value = case.read(answer)
    except AnswerError as e:
        return Result(case, answer, False, f"Cannot check this answer: {e}.",
                      "", hint=f"Answer with {case.how_to_answer}.")
    except Exception as e:                  # a reader's odd object must not raise
        return Result(case, answer, False,
                      f"Cannot check this answer ({type(e).__name__}: {e}).",
                      "", hint=f"Answer with {case.how_to_answer}.")
    if case.is_right(value):
        return Result(case, answer, True, f"Right: {case.answer_text}.", derivation,
                      revealed=True)
    tries = _TRIES[key] = _TRIES.get(key, 0) + 1
    hint = case.hint_text(value)
    if tries == 1:
        return Result(case, answer, False,
                      f"Not yet: {hint} (Check again for the worked explanation.)", "",
                      hint=hint)
    return Result(case, answer, False,
                  f"Not right: you said {_show(answer)}, the model says "
                  f"{case.answer_text}.", derivation, hint=hint, revealed=True)


def _show(answer):
    if isinstance(answer, str):
        return repr(answer.strip())
    return repr(answer)


def solution(kind, seed=0, **knobs):
    """The answer to (kind, seed) and how the model derives it, with its diagram."""
    return Solution(get_case(kind, seed, **knobs))

"""The exercises: deterministic per seed, answered by the model, forgiving about answer forms.

Each kind is checked for several seeds: the question is the same every time, the solution
is accepted, a wrong answer is rejected with the model's derivation, an unreadable answer
gets a message (never an exception), and the answer agrees with an independent run of the
question's scenario.
"""

import random
from pathlib import Path
import subprocess
import sys

import pytest

from rmapkit.exercises import KINDS, check, question, solution
from rmapkit.exercises.core import BASE_PGOFF, CHAPTER, KNOBS, _case, _rng, get_case, reset_tries
from rmapkit.scenarios import parse, run_model
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SIZE

SEEDS = range(6)
CASES = [(k, s) for k in KINDS for s in SEEDS]


def test_kinds():
    assert {"vma-count", "vma-pgoff", "folio-index", "rmap", "merge", "page-index",
            "rmap-split", "move-back", "cow", "chain", "pfn", "normal", "why"} <= set(KINDS)


@pytest.fixture(autouse=True)
def _fresh_tries():
    reset_tries()
    yield
    reset_tries()


@pytest.mark.parametrize("kind,seed", CASES)
def test_question_is_deterministic(kind, seed):
    q = question(kind, seed)
    assert q.kind == kind and q.seed == seed
    assert q.text.startswith(f"[{kind}, seed {seed}]")
    assert all(line in q.text for line in q.scenario.splitlines())
    _case.cache_clear()                                 # built again from scratch
    assert question(kind, seed).text == q.text
    assert solution(kind, seed).derivation == solution(kind, seed).derivation


@pytest.mark.parametrize("kind,seed", CASES)
def test_solution_checks_and_wrong_answers_are_explained(kind, seed):
    sol = solution(kind, seed)
    r = check(kind, seed, sol.answer)
    assert r.correct and bool(r) and r.message.startswith("Right")
    assert str(sol).startswith(f"Answer: {sol.answer_text}")
    wrong = _wrong(kind, sol.answer, seed)
    # the first wrong answer: a hint, never the answer
    r = check(kind, seed, wrong)
    assert not r.correct and r.message.startswith("Not yet") and not r.revealed
    assert r.hint and r.hint in r.message and r.explanation == ""
    if not isinstance(sol.answer, bool):      # "yes"/"no" are words any hint may use
        assert not _reveals(r.message, sol.answer_text), (r.message, sol.answer_text)
    # asking again: the worked explanation, rendered with the answer
    r = check(kind, seed, wrong)
    assert not r.correct and r.message.startswith("Not right") and r.revealed
    assert sol.answer_text in r.message
    assert r.explanation == sol.derivation and len(r.explanation.splitlines()) >= 3
    assert "Not right" in r._repr_html_() and "worked explanation" in r._repr_html_()
    assert "Right" in check(kind, seed, sol.answer)._repr_html_()


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("junk", [None, object(), {"a": 1}, 2.5, "???", b"x", [object()]])
def test_unreadable_answers_never_raise(kind, junk):
    r = check(kind, 1, junk)
    assert r.correct is False
    assert (junk is None and r.message.startswith("No answer yet")) or \
        "Answer with" in r.hint or r.message.startswith(("Not yet", "Not right"))
    assert str(r) and not r.revealed


_PAGE_RE = __import__("re").compile(r"in \[(\d+), ")


def _wrong(kind, answer, seed=1):
    if isinstance(answer, bool):
        return not answer
    if kind == "rmap":
        return ["P0"] if tuple(answer) != ("P0",) else ["P1"]
    if kind == "rmap-split":
        return (answer[0], answer[1] + 1)
    if kind == "normal":          # one page fewer, or the mapping's first page
        prompt = get_case(kind, seed).prompt
        return list(answer[1:]) if answer else [int(_PAGE_RE.search(prompt).group(1))]
    if kind == "cow":
        return "av0" if answer != "av0" else "av1"
    if kind == "why":
        return "a" if answer != "a" else "b"
    return answer + 1


def _run(kind, seed):
    sc = parse(question(kind, seed).scenario)
    return sc, run_model(sc)


@pytest.mark.parametrize("seed", SEEDS)
def test_vma_count_agrees_with_a_fresh_run(seed):
    sc, res = _run("vma-count", seed)
    n = len(res.snapshot.process("P0").vmas)
    assert solution("vma-count", seed).answer == n
    assert check("vma-count", seed, str(n)).correct
    assert check("vma-count", seed, f" {n:#x} ").correct
    assert check("vma-count", seed, float(n)).correct
    assert not check("vma-count", seed, True).correct


@pytest.mark.parametrize("seed", SEEDS)
def test_vma_pgoff_agrees_with_a_fresh_run(seed):
    case = get_case("vma-pgoff", seed)
    page = int(case.prompt.split("page ")[1].split()[0])
    _, res = _run("vma-pgoff", seed)
    v = next(v for v in res.snapshot.process("P0").vmas
             if v.vm_start <= BASE + page * PAGE_SIZE < v.vm_end)
    assert case.answer == v.vm_pgoff
    assert check("vma-pgoff", seed, v.vm_pgoff - BASE_PGOFF).correct
    assert check("vma-pgoff", seed, hex(v.vm_pgoff)).correct


@pytest.mark.parametrize("seed", SEEDS)
def test_folio_index_forms(seed):
    sol = solution("folio-index", seed)
    idx = sol.answer
    assert idx >= BASE_PGOFF
    case = get_case("folio-index", seed)
    page = int(case.prompt.split("page ")[1].split()[0])
    _, res = _run("folio-index", seed)
    pg = next(p for p in res.snapshot.process("P0").pages if p.addr == BASE + page * PAGE_SIZE)
    assert pg.index == idx and pg.anon
    for form in (idx, hex(idx), str(idx), idx - BASE_PGOFF, str(idx - BASE_PGOFF),
                 f"0x{idx:X}"):
        assert check("folio-index", seed, form).correct, form
    assert not check("folio-index", seed, idx + 1).correct


def test_folio_index_asks_about_moved_pages():
    moved = 0
    for seed in range(10):
        case = get_case("folio-index", seed)
        page = int(case.prompt.split("page ")[1].split()[0])
        moved += case.answer != BASE_PGOFF + page
    assert moved >= 6                         # the interesting case: mremap kept the index


@pytest.mark.parametrize("seed", SEEDS)
def test_rmap_forms(seed):
    sol = solution("rmap", seed)
    names = list(sol.answer)
    assert names
    for form in (names, tuple(reversed(names)), set(names), " ".join(names),
                 ", ".join(names).lower(), [(n, 0) for n in names]):
        assert check("rmap", seed, form).correct, form
    r = check("rmap", seed, ["P7"])
    assert not r.correct and "no process P7" in r.message
    assert not check("rmap", seed, []).correct
    assert not check("rmap", seed, "none").correct


def test_rmap_answers_vary():
    answers = {solution("rmap", s).answer for s in range(12)}
    assert len(answers) >= 3


@pytest.mark.parametrize("seed", SEEDS)
def test_merge_forms(seed):
    sol = solution("merge", seed)
    yes = sol.answer
    for form in (yes, "yes" if yes else "no", "Y" if yes else "n", int(yes),
                 "True" if yes else "false"):
        assert check("merge", seed, form).correct, form
    assert not check("merge", seed, "maybe").correct


def _reveals(text, answer_text):
    """Does ``text`` state ``answer_text`` as a word (not as part of another number)?"""
    import re
    text = re.sub(r"\b(chapter|step) \d+", "", text)     # pointers, not values
    return re.search(rf"(?<![\w.#+]){re.escape(answer_text)}(?![\w])", text) is not None


def _value(answer):
    """An answer as the spread test counts it (a pgoff as its window page p+k)."""
    if isinstance(answer, int) and not isinstance(answer, bool) and answer >= BASE_PGOFF:
        return answer - BASE_PGOFF
    return answer


# The knob settings the chapters use, besides each kind's defaults.
CHAPTER_KNOBS = [("merge", {"allow": "mmap"}), ("vma-count", {"allow": "mmap,munmap,write"})]


@pytest.mark.parametrize("kind,knobs", [(k, {}) for k in KINDS] + CHAPTER_KNOBS,
                         ids=lambda x: x if isinstance(x, str) else ",".join(x.values()) or "-")
def test_answers_spread_over_seeds(kind, knobs):
    """Over seeds 0-99 no answer is more than a third of the answers (yes/no: neither is
    more than 65%), so guessing the usual answer does not work."""
    from collections import Counter
    counts = Counter(_value(solution(kind, s, **knobs).answer) for s in range(100))
    value, n = counts.most_common(1)[0]
    if set(counts) <= {True, False}:
        assert n <= 65, (kind, counts)
    else:
        assert n <= 33, (kind, value, counts)
    assert len(counts) >= 2


def test_knobs_on_the_api():
    q = question("rmap", 3)
    assert question("rmap", 3, ops=1, procs=2).text != q.text
    assert question("rmap", 3, ops=1, procs=2).text.startswith("[rmap, seed 3, ops=1, procs=2]")
    sc = parse(question("rmap", 5, procs=2).scenario)
    assert sc.processes() == ["P0", "P1"]
    only = question("vma-count", 7, allow="mmap,munmap").ops
    assert all(op.split()[1] in ("mmap", "munmap", "write") for op in only), only
    for bad, match in [({"procs": 1}, "between"), ({"nope": 1}, "takes no knob"),
                       ({"allow": "fork"}, "allow takes"), ({"ops": "x"}, "whole number")]:
        with pytest.raises(ValueError, match=match):
            question("vma-count" if "allow" in bad else "rmap", 1, **bad)
    with pytest.raises(ValueError, match="takes none"):
        question("move-back", 1, ops=2)
    # the default given by hand is the same question
    assert question("merge", 4, allow=",".join(KNOBS["merge"]["allow"])).text == \
        question("merge", 4).text


def test_why_questions():
    from rmapkit.exercises.why import WHY
    per_chapter = {}
    for ch, prompt, (right, rwhy), wrong in WHY:
        per_chapter[ch] = per_chapter.get(ch, 0) + 1
        assert len(wrong) == 3 and all(w and why for w, why in wrong) and rwhy
    assert all(per_chapter.get(c, 0) >= 2 for c in range(8)), per_chapter
    for seed in range(len(WHY)):
        sol = solution("why", seed)
        assert WHY[seed][0] == get_case("why", seed).extra["chapter"]
        # every option is explained in the worked answer
        assert sum(line.startswith(("(a)", "(b)", "(c)", "(d)"))
                   for line in sol.derivation.splitlines()) == 4
        wrong = "a" if sol.answer != "a" else "b"
        r = check("why", seed, wrong)
        assert r.message.startswith(f"Not yet: ({wrong}) does not hold")
        assert check("why", seed, f"({sol.answer.upper()})").correct


def test_a_diagram_comes_with_the_worked_explanation():
    from rmapkit.render.display import mimebundle_of, svg_backend
    if svg_backend() is None:
        pytest.skip("no Graphviz here: the worked explanation is text only")
    for kind in ("folio-index", "rmap-split", "cow", "normal"):
        html = mimebundle_of(solution(kind, 1))["text/html"]
        assert "<svg" in html and "<?xml" not in html, kind
        wrong = _wrong(kind, solution(kind, 1).answer)
        first = mimebundle_of(check(kind, 1, wrong))["text/html"]
        assert "<svg" not in first                  # a hint: no picture of the answer yet
        assert "<svg" in mimebundle_of(check(kind, 1, wrong))["text/html"]


def test_kinds_have_chapters():
    assert {CHAPTER[k] for k in KINDS} >= set(range(1, 8))


def test_private_rng():
    random.seed(1)
    a = question("vma-count", 4).text
    _case.cache_clear()
    random.seed(2)
    random.random()
    assert question("vma-count", 4).text == a
    assert _rng("rmap", 1).random() == _rng("rmap", 1).random()


def test_bad_kind_and_seed():
    with pytest.raises(ValueError, match="kinds:"):
        question("nope", 1)
    with pytest.raises(ValueError, match="seed"):
        question("rmap", "x")
    assert question("rmap", "3").text == question("rmap", 3).text


def test_cli():
    out = subprocess.run([sys.executable, "-m", "rmapkit.exercises", "folio-index", "-s", "3",
                          "-c"], capture_output=True, text=True, check=True).stdout
    assert out.startswith(question("folio-index", 3).text)
    assert f"Answer: {solution('folio-index', 3).answer_text}" in out
    out = subprocess.run([sys.executable, "-m", "rmapkit.exercises", "rmap", "-s", "3", "-n",
                          "1", "-p", "2"], capture_output=True, text=True, check=True).stdout
    assert out == question("rmap", 3, ops=1, procs=2).text + "\n"
    r = subprocess.run([sys.executable, "-m", "rmapkit.exercises", "rmap", "-s", "3", "-p",
                        "9"], capture_output=True, text=True)
    assert r.returncode == 2 and "between" in r.stderr
    r = subprocess.run([sys.executable, "-m", "rmapkit.exercises", "merge", "-s", "2", "-a",
                        "yes" if solution("merge", 2).answer else "no"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Right" in r.stdout
    r = subprocess.run([sys.executable, "-m", "rmapkit.exercises", "-l"],
                       capture_output=True, text=True, check=True)
    assert all(k in r.stdout for k in KINDS)


# -- the chapters' exercises ------------------------------------------------------------------
NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]-*.ipynb"))
CHECK_RE = __import__("re").compile(
    r"check\(\s*['\"]([\w-]+)['\"]\s*,\s*(\d+)\s*,\s*(answer|[^,()]+?)\s*((?:,\s*\w+=['\"][^'\"]*['\"])*)\s*\)")
# What each chapter must ask (the list): chapter -> kinds.
CHAPTER_KINDS = {1: {"page-index"}, 2: {"merge"}, 3: {"rmap-split"},
                 4: {"vma-pgoff", "move-back"}, 5: {"cow", "chain"}, 6: {"pfn", "normal"},
                 7: {"vma-count"}, 8: {"thp-order", "thp-mapcount"}}


def _exercise_cells(nb):
    """[(cell index, kind, seed, knobs, literal answer or None)] of every check() cell."""
    import re
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for m in CHECK_RE.finditer("".join(cell["source"])):
            knobs = dict(re.findall(r"(\w+)=['\"]([^'\"]*)['\"]", m.group(4)))
            out.append((i, m.group(1), int(m.group(2)), knobs,
                        None if m.group(3) == "answer" else m.group(3)))
    return out


def _outputs_text(cell):
    parts = []
    for o in cell.get("outputs", []):
        parts.append("".join(o.get("text", "")))
        for mime in ("text/plain", "text/html"):
            parts.append("".join(o.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def _comments(cell):
    return "\n".join(line.split("#", 1)[1] for line in "".join(cell["source"]).splitlines()
                     if "#" in line and "NBVAL" not in line)


def _answer_forms(sol):
    forms = [sol.answer_text]
    a = sol.answer
    if isinstance(a, int) and not isinstance(a, bool):
        forms += [hex(a), str(a)]
        if a >= BASE_PGOFF:
            forms += [f"p+{a - BASE_PGOFF}"]
    return [f for f in forms if f]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_chapters_never_give_an_exercise_away(path):
    """No stored output, comment or nearby code cell states a 'your turn' answer, and the
    chapter's questions of one kind have different answers."""
    import json
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    exercises = _exercise_cells(nb)
    yours = [e for e in exercises if e[4] is None]
    assert yours, f"{path.name} has no exercise for the reader"
    by_kind = {}
    for i, kind, seed, knobs, _ in yours:
        sol = solution(kind, seed, **knobs)
        by_kind.setdefault((kind, tuple(sorted(knobs.items()))), []).append(
            (seed, _value(sol.answer)))
        q = question(kind, seed, **knobs)
        qcell = next(j for j in range(i, -1, -1) if f"question({kind!r}, {seed}" in
                     "".join(cells[j]["source"]) or f'question("{kind}", {seed}' in
                     "".join(cells[j]["source"]))
        near = [j for j in range(max(0, qcell - 2), min(len(cells), i + 3))
                if cells[j]["cell_type"] == "code"]
        for j in near:
            texts = [_comments(cells[j])]
            if j != qcell:
                texts.append(_outputs_text(cells[j]))
            else:                       # the question itself may say anything but the answer
                texts.append(_outputs_text(cells[j]).replace(q.text, ""))
            if any(e[0] == j and e[4] is not None for e in exercises):
                continue                # a worked example: its answer is the point
            if j != qcell and "print(question(" in "".join(cells[j]["source"]):
                continue                # another question: its numbers are its own
            texts = [t.replace(q.how_to_answer, "") for t in texts]
            for text in texts:
                if isinstance(sol.answer, bool):
                    assert "Right" not in text and "the model says" not in text, (path.name, j)
                    continue
                for form in _answer_forms(sol):
                    if j < qcell and (form.isdigit() or len(form) < 3):
                        continue        # cells above: only a distinctive form gives it away
                    assert not _reveals(text, form), (
                        f"{path.name} cell {j} gives away {kind} seed {seed}: {form!r}")
    for (kind, _), seeds in by_kind.items():
        answers = [a for _, a in seeds]
        assert len(set(map(repr, answers))) == len(answers), (path.name, kind, seeds)


def test_chapters_ask_their_kinds_and_why():
    import json
    for path in NOTEBOOKS:
        ch = int(path.stem[:2])
        ex = _exercise_cells(json.loads(path.read_text()))
        kinds = {k for _, k, _, _, _ in ex}
        assert CHAPTER_KINDS.get(ch, set()) <= kinds, (path.name, kinds)
        whys = {s for _, k, s, _, lit in ex if k == "why" and lit is None}
        assert len(whys) >= 2 and all(
            get_case("why", s).extra["chapter"] == ch for s in whys), (path.name, whys)


@pytest.mark.parametrize("seed", range(20))
def test_thp_order_agrees_with_the_model_and_the_derivation(seed):
    """The answer is the order of the folio at the written page in a fresh model run, and
    the derivation ends on the same order (alloc_anon_folio(): highest order that fits)."""
    from rmapkit.scenarios import parse as parse_sc
    sol = solution("thp-order", seed)
    q = question("thp-order", seed)
    res = run_model(parse_sc(q.scenario, name="x"))
    page = int(q.text.split("The last op writes page ")[1].split(",")[0])
    pv = next(pg for pg in res.snapshot.process("P0").pages
              if (pg.addr - BASE) // PAGE_SIZE == page)
    assert sol.answer == pv.order
    assert f"order-{pv.order} folio" in sol.derivation


@pytest.mark.parametrize("seed", range(20))
def test_thp_mapcount_is_the_models_large_mapcount(seed):
    sol = solution("thp-mapcount", seed)
    assert isinstance(sol.answer, int) and 0 <= sol.answer <= 48
    # the last step (a long one continues on indented lines) ends at the answer
    last = [line for line in sol.derivation.splitlines() if not line.startswith(" ")][-1]
    assert last.split(" -> ")[-1].startswith(str(sol.answer))


@pytest.mark.parametrize("kind", list(KINDS))
def test_questions_and_worked_explanations_fit_88_columns(kind):
    """A notebook's output area breaks a longer line in the middle of a word: the prose of a
    question and of its worked explanation wraps at 88 columns (indented layouts and the
    options' continuation lines keep their own columns)."""
    for seed in range(6):
        sol = solution(kind, seed)
        for text in (question(kind, seed).text, sol.derivation):
            long = [line for line in text.splitlines()
                    if len(line) > 88 and not line.startswith(" ")]
            assert not long, (kind, seed, long)

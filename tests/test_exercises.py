"""The exercises: deterministic per seed, answered by the model, forgiving about answer forms.

Each kind is checked for several seeds: the question is the same every time, the solution
is accepted, a wrong answer is rejected with the model's derivation, an unreadable answer
gets a message (never an exception), and the answer agrees with an independent run of the
question's scenario.
"""

import random
import subprocess
import sys

import pytest

from rmapkit.exercises import KINDS, check, question, solution
from rmapkit.exercises.core import BASE_PGOFF, _case, _rng, get_case
from rmapkit.scenarios import parse, run_model
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SIZE

SEEDS = range(6)
CASES = [(k, s) for k in KINDS for s in SEEDS]


def test_kinds():
    assert {"vma-count", "vma-pgoff", "folio-index", "rmap", "merge"} <= set(KINDS)


@pytest.mark.parametrize("kind,seed", CASES)
def test_question_is_deterministic(kind, seed):
    q = question(kind, seed)
    assert q.kind == kind and q.seed == seed
    assert q.text.startswith(f"[{kind}, seed {seed}]")
    assert q.scenario in q.text or all(l in q.text for l in q.scenario.splitlines())
    _case.cache_clear()                                 # built again from scratch
    assert question(kind, seed).text == q.text
    assert solution(kind, seed).derivation == solution(kind, seed).derivation


@pytest.mark.parametrize("kind,seed", CASES)
def test_solution_checks_and_wrong_answers_are_explained(kind, seed):
    sol = solution(kind, seed)
    r = check(kind, seed, sol.answer)
    assert r.correct and bool(r) and r.message.startswith("Right")
    assert str(sol).startswith(f"Answer: {sol.answer_text}")
    wrong = _wrong(kind, sol.answer)
    r = check(kind, seed, wrong)
    assert not r.correct and r.message.startswith("Not right")
    assert sol.answer_text in r.message
    assert r.explanation == sol.derivation and len(r.explanation.splitlines()) >= 3
    assert "Not quite" in r._repr_html_() and "Right" in check(kind, seed, sol.answer)._repr_html_()


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("junk", [None, object(), {"a": 1}, 2.5, "???", b"x", [object()]])
def test_unreadable_answers_never_raise(kind, junk):
    r = check(kind, 1, junk)
    assert r.correct is False
    assert "Answer with" in r.explanation or r.message.startswith("Not right")
    assert str(r)


def _wrong(kind, answer):
    if kind == "merge":
        return not answer
    if kind == "rmap":
        return ["P0"] if tuple(answer) != ("P0",) else ["P1"]
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


def test_merge_answers_are_balanced():
    answers = [solution("merge", s).answer for s in range(16)]
    assert 4 <= sum(answers) <= 12


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
    r = subprocess.run([sys.executable, "-m", "rmapkit.exercises", "merge", "-s", "2", "-a",
                        "yes" if solution("merge", 2).answer else "no"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Right" in r.stdout
    r = subprocess.run([sys.executable, "-m", "rmapkit.exercises", "-l"],
                       capture_output=True, text=True, check=True)
    assert all(k in r.stdout for k in KINDS)

"""The four kinds of cell a chapter is made of (see notebooks/build.py).

Every helper dedents its text and strips blank lines at both ends, so a chapter can write
its cells as indented triple-quoted strings.
"""

import textwrap

__all__ = ["md", "code", "widget", "live", "HELPERS"]


def _text(s: str) -> str:
    return textwrap.dedent(s).strip("\n")


def md(s: str):
    """A Markdown cell."""
    return ("markdown", _text(s), ())


def code(s: str):
    """A code cell whose output nbval checks."""
    return ("code", _text(s), ())


def widget(s: str):
    """A code cell showing a widget: tagged so that nbval ignores its output (the widget's
    model id changes every run); the cell before it must exercise the same functions."""
    return ("code", _text(s), ("nbval-ignore-output",))


def live(s: str):
    """A code cell that reads the running kernel: its output depends on the machine, so its
    first line tells nbval to ignore it."""
    body = _text(s)
    if not body.startswith("# NBVAL_IGNORE_OUTPUT"):
        body = "# NBVAL_IGNORE_OUTPUT\n" + body
    return ("code", body, ())


# The first code cell of every chapter: imports and two display helpers.
HELPERS = code('''
    from IPython.display import display
    from rmapkit import Kernel, PAGE_SIZE, PAGE_SHIFT, linear_page_index, vma_address, rmap_walk
    from rmapkit.uapi import *
    from rmapkit import figures
    from rmapkit.render.display import mimebundle, to_svg
    from rmapkit.scenarios import load, run_model

    BASE = 0x200000000000          # where every scenario's window starts (page 0)
    RW = PROT_READ | PROT_WRITE
    ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED

    def pages_of(v):
        """A VMA's range as window pages, "[first,end)" (page 0 is BASE)."""
        return f"[{(v.vm_start - BASE) >> PAGE_SHIFT},{(v.vm_end - BASE) >> PAGE_SHIFT})"

    def show(snap, view="graph", focus=None, before=None):
        """Draw a snapshot: view "graph", "address", "tree", "diff" (needs before) or "maps"."""
        display(mimebundle(snap, focus=focus, view=view, before=before), raw=True)

    def figure(name):
        """Draw one of the book's figures (the same as figures/NAME.svg, from its scenario)."""
        dot, text = figures.build(next(f for f in figures.FIGURES if f.name == name))
        display({"image/svg+xml": to_svg(dot, fallback_text=text), "text/plain": text}, raw=True)
''')


def exercises(kind, worked, worked_answer, reasoning, yours, hint, intro=None):
    """The exercise section: a worked question with its checked answer, then questions
    for the reader with an answer cell each (checked by the model when run)."""
    cells = [md(intro or f"""
    ## Exercises

    Each question below is generated from a seed by `rmapkit.exercises` (the same seed gives
    the same question everywhere, also on the command line: `python -m rmapkit.exercises
    {kind} -s SEED`), and `check()` answers with the model's derivation. First a worked one:
    """),
        code(f"""
    from rmapkit.exercises import question, check, solution

    print(question({kind!r}, {worked}).text)
    """),
        md(reasoning),
        code(f"""
    print(check({kind!r}, {worked}, {worked_answer!r}))
    """),
        md(f"""
    Your turn. Put your answer in place of `None` and run the cell; `check()` says whether it
    is right and shows how the model gets there. ({hint} Teachers: `solution(kind, seed)`
    prints the answer with its derivation.)
    """)]
    for item in yours:                       # a seed, or (kind, seed)
        k, seed = item if isinstance(item, tuple) else (kind, item)
        cells.append(code(f"""
    print(question({k!r}, {seed}).text)
    """))
        cells.append(code(f"""
    answer = None          # your answer
    print(check({k!r}, {seed}, answer).message)
    """))
    return cells

#!/usr/bin/env python3
"""Execute the book's chapters from their text into the stored notebooks.

    python book/build.py              # execute all chapters into notebooks/*.ipynb
    python book/build.py 03 05        # only chapters 03 and 05
    python book/build.py --check      # exit 1 if a notebook's cells differ from its text

A chapter is authored as ``book/chapters/NN-name.py`` in jupytext's percent format, paired
(``jupytext.toml``) with the reader's ``notebooks/NN-name.ipynb``.  The tools do the work:
jupytext reads the text, nbclient executes it top to bottom (kernel ``python3``, in
notebooks/) and nbformat writes the notebook WITH its outputs, because the book must read
well on GitHub and in the static HTML book, which are built from the stored outputs.

What this file adds is only what keeps two builds byte-identical and readable everywhere:
cell ids derived from the chapter (``03-07``) instead of random ones; nbclient's
``record_timing=False``, ``store_widget_state=False`` and ``coalesce_streams=True``; no
interpreter version in the metadata; and a widget view dropped from an output that carries
a static fallback (GitHub cannot show the view without widget state, which is never stored).

Stale outputs are caught once, by nbval (``make test``), which re-runs every chapter and
compares its outputs with the stored ones.  ``--check`` (and tests/test_notebooks.py) only
compares cells and tags, in milliseconds.  Cost of a build: one kernel start (~1 s) plus the
chapter's cells per notebook.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT_DIR = ROOT / "book" / "chapters"
NB_DIR = ROOT / "notebooks"
# The kernelspec as ipykernel installs it: JupyterLab rewrites the stored one from the kernel
# it starts, and any difference would mark the chapter modified as soon as it opens.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CELL_TIMEOUT = 120          # seconds per cell (a whole chapter needs well under 10 s)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

__all__ = ["chapters", "notebook_path", "read_text", "execute", "build", "check",
           "strip_widget_view", "main"]


def chapters() -> list[str]:
    """The chapters' stems ("03-split-example"), in chapter order."""
    return sorted(p.stem for p in TEXT_DIR.glob("[0-9][0-9]-*.py"))


def notebook_path(stem: str) -> Path:
    return NB_DIR / f"{stem}.ipynb"


def read_text(stem: str):
    """The chapter's text as an nbformat v4 notebook without outputs, with stable cell ids."""
    import jupytext

    nb = jupytext.read(TEXT_DIR / f"{stem}.py", fmt="py:percent")
    nb.nbformat, nb.nbformat_minor = 4, 5
    for i, cell in enumerate(nb.cells):
        cell.id = f"{stem[:2]}-{i:02d}"
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        tags = cell.metadata.get("tags", ())
        if "remove-cell" in tags:           # the imports: folded away in JupyterLab too
            cell.metadata["jupyter"] = {"source_hidden": True}
        if "deeper" in tags:                # an optional section: its heading starts folded
            cell.metadata["jp-MarkdownHeadingCollapsed"] = True
    # The metadata filters of jupytext.toml, as jupytext itself records them when JupyterLab
    # saves a paired notebook: a save without a change then changes no byte.
    config = tomllib.loads((ROOT / "jupytext.toml").read_text(encoding="utf-8"))
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"},
                   "jupytext": {k: config[k] for k in ("cell_metadata_filter",
                                                       "notebook_metadata_filter")},
                   "rmapkit": {"chapter": stem, "source": f"book/chapters/{stem}.py"}}
    return nb


def execute(nb, timeout: int = CELL_TIMEOUT):
    """Run every cell of ``nb`` in order (cwd notebooks/); return (nb, seconds the cells took,
    the kernel's start-up excluded)."""
    from nbclient import NotebookClient

    env_path = os.environ.get("PYTHONPATH", "")
    if str(ROOT) not in env_path.split(os.pathsep):    # this checkout's rmapkit first
        os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + env_path if env_path else "")
    marks = []

    def mark(**_):
        marks.append(time.perf_counter())

    NotebookClient(nb, timeout=timeout, kernel_name=KERNELSPEC["name"],
                   resources={"metadata": {"path": str(NB_DIR)}}, allow_errors=False,
                   record_timing=False, store_widget_state=False, coalesce_streams=True,
                   on_cell_start=mark, on_cell_executed=mark).execute()
    # Keep language_info as the kernel reported it (nbclient stores the kernel_info reply):
    # JupyterLab writes the running kernel's into the notebook when it opens it, so anything
    # else marks every chapter modified on open.  It names the builder's Python version; a
    # reader whose Python differs in that is the one case still marked modified.
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            strip_widget_view(out)
    return nb, (marks[-1] - marks[0] if marks else 0.0)


def strip_widget_view(output) -> None:
    """Drop a widget view from a stored output that has a static fallback.

    Without its widget state a widget view shows as "model not found" in JupyterLab and as
    nothing on GitHub; the same output's text/html (the diagram) and text/plain (its ASCII
    twin) show instead.  Re-running the cell brings the live widget back.
    """
    data = output.get("data", {})
    if WIDGET_VIEW in data and ("text/plain" in data or "text/html" in data):
        del data[WIDGET_VIEW]


def build(stem: str, out_dir: Path | None = None) -> float:
    """Execute chapter ``stem`` into ``notebooks/STEM.ipynb`` (or ``out_dir/STEM.ipynb``);
    return the cells' seconds."""
    import nbformat

    nb, seconds = execute(read_text(stem))
    nbformat.validate(nb)
    path = notebook_path(stem) if out_dir is None else Path(out_dir) / f"{stem}.ipynb"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        nbformat.write(nb, f)
    return seconds


def _cells(nb) -> list:
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]


def check(stems) -> list[tuple[str, str]]:
    """[(stem, problem)] for notebooks missing, or whose cells or tags differ from the text."""
    import nbformat

    problems = []
    for stem in stems:
        path = notebook_path(stem)
        if not path.exists():
            problems.append((stem, "missing"))
        elif _cells(nbformat.read(path, as_version=4)) != _cells(read_text(stem)):
            problems.append((stem, f"cells differ from book/chapters/{stem}.py"))
    extra = sorted({p.stem for p in NB_DIR.glob("*.ipynb")} - set(chapters()))
    problems += [(stem, "has no book/chapters text") for stem in extra]
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chapters", nargs="*", help="chapter numbers or stems (default: all)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a notebook's cells differ from its text (nothing is run)")
    args = ap.parse_args(argv)
    stems = chapters()
    if args.chapters:
        stems = [s for s in stems if any(s == c or s.startswith(c.zfill(2) + "-")
                                         for c in args.chapters)]
        if not stems:
            ap.error(f"no chapter matches {' '.join(args.chapters)}")
    if args.check:
        problems = check(stems)
        for stem, why in problems:
            print(f"{stem}: {why} (run python book/build.py {stem[:2]})")
        if not problems:
            print("notebooks match their text")
        return 1 if problems else 0
    for stem in stems:
        seconds = build(stem)
        print(f"{notebook_path(stem).relative_to(ROOT)}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

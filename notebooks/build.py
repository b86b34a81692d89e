#!/usr/bin/env python3
"""Write the book's notebooks from their Python sources and execute them in place.

    python notebooks/build.py              # write and execute all eight chapters
    python notebooks/build.py 03 05        # only chapters 03 and 05
    python notebooks/build.py --no-execute # write the cells only (no outputs)
    python notebooks/build.py --check      # exit 1 if a notebook differs from its source
                                           # or was executed with another rmapkit

Each chapter is a module ``notebooks/src/chNN_*.py`` holding ``CELLS``, a list made with
:func:`md`, :func:`code`, :func:`widget` and :func:`live` (``notebooks/src/cells.py``), so a
chapter reads as a reviewable Python file and the ``.ipynb`` is generated from it.  The
notebook is then executed top to bottom with nbclient (kernel ``python3``) and stored WITH
its outputs, because the book must read well on GitHub.  What is stored is deterministic:
no timing metadata, no widget state (GitHub cannot render it), cell ids derived from the
chapter name, and ``metadata.rmapkit.package_hash``: a hash of the rmapkit sources the
outputs came from (tests/test_notebooks.py uses it to tell when outputs may be stale).

Cost: one kernel start (~1 s) plus the chapter's cells per notebook.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import importlib.util
import os
import re
import sys
import time
from pathlib import Path

NB_DIR = Path(__file__).resolve().parent
ROOT = NB_DIR.parent
SRC_DIR = NB_DIR / "src"
PACKAGE_DIR = ROOT / "rmapkit"
SANITIZE_CFG = NB_DIR / "sanitize.cfg"
KERNEL_NAME = "python3"
CELL_TIMEOUT = 120             # seconds per cell (the chapters need well under 10 s in all)
IGNORE_TAG = "nbval-ignore-output"
IGNORE_COMMENT = "# NBVAL_IGNORE_OUTPUT"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

__all__ = ["chapters", "make_notebook", "execute", "build", "strip_widget_view",
           "uncommitted_package_files", "package_hash", "sanitizers",
           "sanitize", "comparable_outputs", "ignores_output", "notebook_path", "main"]


# -- the sources -------------------------------------------------------------------------
def _load(path: Path):
    sys.path.insert(0, str(SRC_DIR))
    try:
        spec = importlib.util.spec_from_file_location(f"_rmapkit_book_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(SRC_DIR))
    return mod


def chapters() -> dict:
    """{notebook stem ("03-split-example"): chapter module}, in chapter order."""
    out = {}
    for path in sorted(SRC_DIR.glob("ch[0-9][0-9]_*.py")):
        mod = _load(path)
        out[mod.NAME] = mod
    return out


def notebook_path(stem: str) -> Path:
    return NB_DIR / f"{stem}.ipynb"


def package_hash() -> str:
    """sha256 over rmapkit's sources (``*.py`` and shipped ``*.scn``), path and bytes."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE_DIR.rglob("*")):
        if p.suffix in (".py", ".scn") and "__pycache__" not in p.parts:
            h.update(p.relative_to(ROOT).as_posix().encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def uncommitted_package_files() -> list:
    """rmapkit sources that differ from git's HEAD (empty if git is unavailable)."""
    import subprocess
    try:
        res = subprocess.run(["git", "status", "--porcelain", "--", "rmapkit"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line[3:] for line in res.stdout.splitlines()
            if line[3:].endswith((".py", ".scn")) and "__pycache__" not in line]


def make_notebook(stem: str, mod=None):
    """The chapter as an nbformat v4 notebook without outputs."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    mod = mod or chapters()[stem]
    cells = []
    for i, (kind, source, tags) in enumerate(mod.CELLS):
        cid = f"{stem[:2]}-{i:02d}"
        if kind == "markdown":
            cell = new_markdown_cell(source, id=cid)
        else:
            cell = new_code_cell(source, id=cid)
            if tags:
                cell.metadata["tags"] = list(tags)
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata = nbformat.NotebookNode({
        "kernelspec": {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "rmapkit": {"chapter": stem, "generated_by": "notebooks/build.py"},
    })
    return nb


def execute(nb, timeout=CELL_TIMEOUT):
    """Run every cell of ``nb`` in order (in notebooks/); return (nb, seconds the cells took)."""
    from nbclient import NotebookClient

    env_path = os.environ.get("PYTHONPATH", "")
    if str(ROOT) not in env_path.split(os.pathsep):    # this checkout's rmapkit first
        os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + env_path if env_path else "")
    marks = []

    def mark(**_):
        marks.append(time.perf_counter())

    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(NB_DIR)}},
                            record_timing=False, store_widget_state=False, allow_errors=False,
                            on_cell_start=mark, on_cell_executed=mark)
    client.execute()
    # From the first cell's start to the last cell's end: the kernel's start-up (1-3 s,
    # more on a loaded machine) is not the chapter's.
    seconds = marks[-1] - marks[0] if marks else 0.0
    nb.metadata["language_info"] = {"name": "python"}   # no interpreter version: not ours
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            strip_widget_view(out)
        if "outputs" in cell:
            cell["outputs"] = join_streams(cell["outputs"])
    return nb, seconds


def join_streams(outputs):
    """Merge consecutive stream outputs of one stream: how the kernel split a cell's
    printing into messages is timing, and must not make two builds differ."""
    joined = []
    for o in outputs:
        if (o.get("output_type") == "stream" and joined
                and joined[-1].get("output_type") == "stream"
                and joined[-1].get("name") == o.get("name")):
            prev = joined[-1]
            text = "".join(prev["text"]) + "".join(o["text"])
            prev["text"] = text
            continue
        if o.get("output_type") == "stream":
            o["text"] = "".join(o["text"])
        joined.append(o)
    return joined


def strip_widget_view(output):
    """Drop a widget view from a stored output that has a static fallback.

    Without its widget state (which GitHub cannot render, so it is never stored) a widget
    view shows as "model not found" in JupyterLab and as nothing on GitHub; the same output's
    text/html (the diagram) and text/plain (its ASCII twin) show instead.  Re-running the
    cell brings the live widget back.
    """
    data = output.get("data", {})
    if WIDGET_VIEW in data and ("text/plain" in data or "text/html" in data):
        del data[WIDGET_VIEW]


def build(stem: str, run=True):
    """Write ``notebooks/STEM.ipynb`` (executed unless ``run`` is false); return seconds."""
    import nbformat

    nb = make_notebook(stem)
    seconds = None
    if run:
        digest = package_hash()
        nb, seconds = execute(nb)
        nb.metadata["rmapkit"]["package_hash"] = digest
    nbformat.validate(nb)
    with open(notebook_path(stem), "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    return seconds


# -- comparing outputs (shared with tests/test_notebooks.py) ------------------------------
def sanitizers():
    """[(compiled regex, replacement)] from notebooks/sanitize.cfg, in file order."""
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(SANITIZE_CFG, encoding="utf-8")
    return [(re.compile(cp[s]["regex"]), cp[s]["replace"]) for s in cp.sections()]


def sanitize(text: str, patterns=None) -> str:
    """``text`` with every sanitize.cfg pattern replaced, as nbval does before comparing."""
    for rx, rep in patterns if patterns is not None else sanitizers():
        text = rx.sub(rep, text)
    return text


def ignores_output(cell) -> bool:
    """True if nbval ignores this cell's output (tag or first-line comment)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return IGNORE_TAG in tags or cell.get("source", "").lstrip().startswith(IGNORE_COMMENT)


def comparable_outputs(cell, patterns=None) -> dict:
    """The outputs of a code cell as nbval compares them, sanitized: {key: [values]}.

    Like nbval, all text of one stream (stdout, stderr) is joined into one value (how the
    kernel split it into messages is timing), and display outputs are grouped by MIME type
    (text/plain and image/svg+xml; the others are not compared), in order.
    """
    out = {}
    streams = {}
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream":
            streams[o.get("name")] = streams.get(o.get("name"), "") + "".join(o.get("text", ""))
        elif kind == "error":
            out.setdefault("error", []).append(f"{o.get('ename')}: {o.get('evalue')}")
        else:
            data = o.get("data", {})
            for mime in ("text/plain", "image/svg+xml"):
                if mime in data:
                    val = data[mime]
                    val = "".join(val) if isinstance(val, list) else val
                    out.setdefault(mime, []).append(sanitize(val, patterns))
    for name, text in streams.items():
        out[name] = [sanitize(text, patterns)]
    return out


def check(stems):
    """[(stem, problem)] for notebooks that differ from their sources or are unexecuted."""
    import nbformat

    problems = []
    digest = package_hash()
    for stem in stems:
        path = notebook_path(stem)
        if not path.exists():
            problems.append((stem, "missing"))
            continue
        nb = nbformat.read(path, as_version=4)
        want = make_notebook(stem)
        if [(c.cell_type, c.source) for c in nb.cells] != \
                [(c.cell_type, c.source) for c in want.cells]:
            problems.append((stem, "cells differ from notebooks/src (rebuild it)"))
        elif nb.metadata.get("rmapkit", {}).get("package_hash") != digest:
            problems.append((stem, "executed with other rmapkit sources (rebuild it)"))
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chapters", nargs="*", help="chapter numbers or stems (default: all)")
    ap.add_argument("--no-execute", action="store_true", help="write cells without outputs")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a notebook is out of date (nothing is written)")
    args = ap.parse_args(argv)
    stems = list(chapters())
    if args.chapters:
        stems = [s for s in stems if any(s == c or s.startswith(c.zfill(2) + "-")
                                         for c in args.chapters)]
        if not stems:
            ap.error(f"no chapter matches {' '.join(args.chapters)}")
    if args.check:
        problems = check(stems)
        for stem, why in problems:
            print(f"{stem}: {why}")
        if not problems:
            print("notebooks are up to date")
        return 1 if problems else 0
    dirty = uncommitted_package_files()
    if dirty and not args.no_execute:
        print("warning: rmapkit has uncommitted changes (" + ", ".join(dirty[:5])
              + (", ..." if len(dirty) > 5 else "") + "): the outputs and their package_hash "
              "will not match a clean checkout, so tests/test_notebooks.py will re-execute "
              "these chapters there", file=sys.stderr)
    for stem in stems:
        seconds = build(stem, run=not args.no_execute)
        done = "written" if seconds is None else f"executed in {seconds:.1f} s"
        print(f"{notebook_path(stem).relative_to(ROOT)}: {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

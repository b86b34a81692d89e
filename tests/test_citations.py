"""Every citation resolves: what the code, tests and book point a reader to is in the
repository (a docs/ page, a file) or is the kernel itself (function, file, version).

Documents that lived outside the repository (section numbers ``§...`` of a notes file,
numbered "surprises" or "habits", bug lists) cannot be followed by someone who clones the
project, so none may be cited.
"""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ["rmapkit/**/*.py", "tests/**/*.py", "docs/**/*.md", "book/**/*.py",
           "notebooks/*.ipynb", "README.md", "bench/**/*.py", "tools/**/*.py"]
# Built from pieces, so this file does not cite them itself.
DANGLING = [re.compile(p) for p in (
    "\u00a7",                               # a section of a document
    "kernel" + "-semantics", "large-" + "folios\\.md", "style" + "\\.md",
    r"style habits? \d", r"\bsurprises? \d", "MODEL_" + "BUGS",
)]
MD_REF = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md)\b")


def _files():
    for pattern in SOURCES:
        yield from sorted(REPO.glob(pattern))


def test_no_citation_of_a_document_outside_the_repository():
    me = pathlib.Path(__file__).resolve()
    bad = []
    for path in _files():
        if path == me:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            bad += [f"{path.relative_to(REPO)}:{n}: {line.strip()[:90]}"
                    for rx in DANGLING if rx.search(line)]
    assert bad == []


def test_every_markdown_file_named_exists():
    me = pathlib.Path(__file__).resolve()
    missing = []
    for path in _files():
        if path == me:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for ref in MD_REF.findall(line):
                where = [REPO / ref, REPO / "docs" / ref, path.parent / ref,
                         REPO / "figures" / ref]
                if not any(w.exists() for w in where):
                    missing.append(f"{path.relative_to(REPO)}:{n}: {ref}")
    assert missing == []


def test_the_checks_catch_what_they_look_for():
    line = "see " + "kernel" + "-semantics.md \u00a73.5"
    assert any(rx.search(line) for rx in DANGLING)
    assert MD_REF.findall("(docs/testing.md) and NOWHERE.md") == ["docs/testing.md",
                                                                   "NOWHERE.md"]

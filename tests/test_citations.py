"""Every citation resolves: what the code, tests and book point a reader to is in the
repository (a docs/ page, a file) or is the kernel itself (function, file, version).

Documents that lived outside the repository (section numbers ``§...`` of a notes file,
numbered "surprises" or "habits", bug lists) cannot be followed by someone who clones the
project, so none may be cited.
"""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ["rmapkit/**/*.py", "tests/**/*.py", "docs/**/*.md", "book/**/*.py", "book/**/*.md",
           "notebooks/*.ipynb", "README.md", "bench/**/*.py", "tools/**/*.py"]
# Built from pieces, so this file does not cite them itself.
DANGLING = [re.compile(p) for p in (
    "\u00a7",                               # a section of a document
    "kernel" + "-semantics", "large-" + "folios\\.md", "style" + "\\.md",
    r"style habits? \d", r"\bsurprises? \d", "MODEL_" + "BUGS",
)]
MD_REF = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md)\b")


def _lines():
    """``(where, line)`` for every line of every source but this file."""
    me = pathlib.Path(__file__).resolve()
    for pattern in SOURCES:
        for path in sorted(REPO.glob(pattern)):
            if path == me:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                yield path, f"{path.relative_to(REPO)}:{n}", line


def test_no_citation_of_a_document_outside_the_repository():
    bad = [f"{where}: {line.strip()[:90]}" for _, where, line in _lines()
           if any(rx.search(line) for rx in DANGLING)]
    assert bad == []


def test_every_markdown_file_named_exists():
    missing = [f"{where}: {ref}" for path, where, line in _lines()
               for ref in MD_REF.findall(line)
               if not any(w.exists() for w in (REPO / ref, REPO / "docs" / ref,
                                                path.parent / ref, REPO / "figures" / ref))]
    assert missing == []


def test_the_checks_catch_what_they_look_for():
    line = "see " + "kernel" + "-semantics.md \u00a73.5"
    assert any(rx.search(line) for rx in DANGLING)
    assert MD_REF.findall("(docs/testing.md) and NOWHERE.md") == ["docs/testing.md",
                                                                   "NOWHERE.md"]

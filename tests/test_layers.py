"""One source of truth, checked on the source: constants live in rmapkit.uapi only.

Read with ``ast`` (nothing is imported), so a new module that writes the page size out
again, or shifts by a literal 12, fails here with its file and line.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "rmapkit"
PAGE_NAMES = {"PAGE", "PAGE_SIZE", "PAGE_SHIFT", "PAGE_MASK"}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        yield path.relative_to(ROOT.parent).as_posix(), ast.parse(path.read_text())


def _constant_problems(tree):
    named = set()                  # ``_NEAR_PAGES = 4096``: a number that says what it is
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and all(
                isinstance(t, ast.Name) and t.id.isupper() and t.id.lstrip("_") not in PAGE_NAMES
                for t in node.targets):
            named.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name) and n.id in PAGE_NAMES:
                        yield node.lineno, f"defines {n.id} (import it from rmapkit.uapi)"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.LShift, ast.RShift)) \
                and isinstance(node.right, ast.Constant) and node.right.value == 12:
            yield node.lineno, "shifts by a literal 12 (use PAGE_SHIFT)"
        elif isinstance(node, ast.Constant) and type(node.value) is int \
                and node.value == 4096 and id(node) not in named:
            yield node.lineno, "writes 4096 (use PAGE_SIZE, or name what it is)"


def test_page_size_and_shift_are_written_only_in_uapi():
    problems = [f"{name}:{line}: {why}" for name, tree in _modules()
                if name != "rmapkit/uapi.py" for line, why in _constant_problems(tree)]
    assert problems == []


def test_the_constant_check_finds_what_it_looks_for():
    bad = ast.parse("PAGE = 4096\nx = a >> 12\ny = b << 12\nz = 2 * 4096\nNEAR = 4096\n")
    assert [line for line, _ in _constant_problems(bad)] == [1, 1, 2, 3, 4]


def test_uapi_imports_nothing():
    tree = ast.parse((ROOT / "uapi.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]

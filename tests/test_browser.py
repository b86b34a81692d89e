"""A real browser: JupyterLab + headless Chromium (Debian's package) driven by Playwright.

The test starts JupyterLab on 127.0.0.1 (free port, random token) in a temporary copy of
notebooks/, opens a chapter, runs all cells through the Run menu, uses the chapter's
playground widget and checks that the rendered diagram changed the way the operation says it
should.  It saves a screenshot under build/browser/ and stops every process it started (the
JupyterLab process group, the kernels it launched, Chromium), also when it fails.

Nothing is downloaded: Playwright drives the system Chromium through ``executable_path``.
``make test`` installs Debian's ``chromium`` when run as root; elsewhere this test is skipped
with the reason.  Override the browser with ``RMAPKIT_CHROMIUM=/path/to/chromium``.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "browser"
CHROMIUM = os.environ.get("RMAPKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000

# Text that must never stand where a UI or a diagram should be.
BAD_TEXT = ["HBox(children=", "VBox(children=", "Traceback (most recent call last)",
            "Error displaying widget", "Failed to display Jupyter Widget",
            "Loading widget..."]


def _skip_reason() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package "
                "(make test does it when run as root) or set RMAPKIT_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as e:
        return f"the playwright Python package is missing ({e}): run make venv"
    if shutil.which("jupyter-lab", path=os.path.dirname(sys.executable)) is None:
        try:
            import jupyterlab  # noqa: F401
        except ImportError:
            return "jupyterlab is not installed in this Python: run make venv"
    return None


_REASON = _skip_reason()
if _REASON:
    print(f"\ntest_browser skipped: {_REASON}", file=sys.stderr)
    pytestmark = [pytest.mark.browser, pytest.mark.skip(reason=_REASON)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list:
    import psutil
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


class Lab:
    """A JupyterLab server in its own process group, with isolated config, data and settings."""

    def __init__(self, notebook_dir: Path, state_dir: Path):
        self.notebook_dir = notebook_dir
        self.port = _free_port()
        self.token = os.urandom(16).hex()
        self.log_path = state_dir / "jupyter.log"
        env = dict(os.environ)
        for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                         ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                         ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")]:
            (state_dir / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(state_dir / sub)
        env.pop("JUPYTER_PATH", None)
        # No news or update checks (there is no network, and the toast would cover the page).
        # Start the notebook's kernel without the "Select Kernel" dialog.
        for plugin, values in [
                ("apputils-extension/notification", {"fetchNews": "false",
                                                     "checkForUpdates": False}),
                ("notebook-extension/tracker", {"autoStartDefaultKernel": True})]:
            path = state_dir / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        # The venv's bin first, so kernels and `dot` come from the same environment.
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={notebook_dir}",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=notebook_dir, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            body = r.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("/api/status")
                return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"jupyter lab did not answer within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        """Shut down the kernels and the server; kill whatever is left of what it started."""
        started = _descendants(self.proc.pid)  # kernels run in their own sessions: note them now
        if self.proc.poll() is None:
            try:
                self.api("/api/shutdown", method="POST")
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            for p in started:
                try:
                    p.send_signal(sig)
                except Exception:  # psutil.NoSuchProcess: already gone
                    pass
            try:
                self.proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        import psutil
        psutil.wait_procs(started, timeout=5)
        self._log.close()


# ---------------------------------------------------------------------------------------------
# The notebook under test.

FALLBACK_NAME = "browser-smoke.ipynb"


def _fallback_notebook() -> dict:
    """A stand-in playground with plain ipywidgets, used only while no chapter has one."""
    import nbformat
    code = '''\
import ipywidgets as W
def svg(names):
    t = "diagram: " + ", ".join(names)
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40"><title>{t}</title><text x="5" y="20">{t}</text></svg>'
names = ["vma0"]
op = W.Dropdown(options=["mmap", "munmap"], value="mmap", description="op")
name = W.Text(value="vma1", description="name")
apply = W.Button(description="Apply")
out = W.HTML(svg(names))
def on_apply(_):
    names.append(name.value) if op.value == "mmap" else names.remove(name.value)
    out.value = svg(names)
apply.on_click(on_apply)
W.VBox([W.HBox([op, name, apply]), out])
'''
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Browser smoke test"),
                nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    return nb


@pytest.fixture
def lab(tmp_path):
    nbdir = tmp_path / "notebooks"
    src = ROOT / "notebooks"
    if src.is_dir():
        shutil.copytree(src, nbdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    else:
        nbdir.mkdir()
    import nbformat
    nbformat.write(_fallback_notebook(), nbdir / FALLBACK_NAME)
    server = Lab(nbdir, tmp_path / "state")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _svg_titles(page) -> list[str]:
    return page.eval_on_selector_all(
        ".jp-OutputArea-output svg title",
        "els => els.map(e => e.textContent)")


def _run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # Every code cell's prompt becomes [n]: (not [*]: or [ ]:) once the kernel ran it.
    page.wait_for_function(
        """() => {
            const ps = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""", timeout=TIMEOUT_MS)


def test_playground_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    nb = FALLBACK_NAME
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            console = []
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            try:
                page.goto(f"{lab.url}/lab/tree/{nb}?token={lab.token}")
                page.wait_for_selector(".jp-Notebook .jp-Cell")
                # The kernel is up when the toolbar's indicator says idle.
                page.wait_for_selector(".jp-NotebookPanel-toolbar "
                                       "[data-status='idle'], .jp-Notebook-ExecutionIndicator"
                                       "[data-status='idle']", state="attached")
                _run_all_cells(page)
                page.wait_for_selector(".jupyter-widgets button", state="visible")
                before = _svg_titles(page)
                assert before == ["diagram: vma0"], before
                page.locator(".widget-text input").fill("vmaX")
                page.locator(".jupyter-widgets button", has_text="Apply").click()
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.jp-OutputArea-output svg title')]"
                    ".some(t => t.textContent.includes('vmaX'))")
                after = _svg_titles(page)
                assert after == ["diagram: vma0, vmaX"], after
                text = page.inner_text(".jp-NotebookPanel")
                for bad in BAD_TEXT:
                    assert bad not in text, f"{bad!r} on the page:\n{text[:3000]}"
                page.screenshot(path=str(SHOTS / (Path(nb).stem + ".png")), full_page=True)
            except Exception:
                page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
                print("console:", *console, sep="\n  ")
                print("jupyter log:\n", lab.log())
                raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - t0:.1f}s in Chromium")

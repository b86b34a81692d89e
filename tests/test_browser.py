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
    try:
        import jupyterlab  # noqa: F401
        import psutil  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed in this Python: run make venv"
    return None


_REASON = _skip_reason()
if _REASON:
    print(f"\ntest_browser skipped: {_REASON}", file=sys.stderr)
    pytestmark = [pytest.mark.browser, pytest.mark.skip(reason=_REASON)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


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
        # Start the notebook's kernel without the "Select Kernel" dialog; render every cell
        # (JupyterLab's default windowing leaves off-screen cells out of the DOM).
        for plugin, values in [
                ("apputils-extension/notification", {"fetchNews": "false",
                                                     "checkForUpdates": False}),
                ("notebook-extension/tracker", {"autoStartDefaultKernel": True,
                                                 "windowingMode": "none"})]:
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
               # window.jupyterapp: the test asks the notebook's own session whether its
               # kernel is connected before it clicks Run All
               "--LabApp.expose_app_in_browser=True",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=notebook_dir, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent)
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
# The chapter under test: chapter 0's playground starts as Playground(window_pages=8) after
# "P0: mmap 0 4 rw private anon" and "P0: write 0 2" (one VMA, one avc, one anon_vma).  The
# test unmaps page 1 through the widget, which splits the VMA in two: two VMAs, two avcs,
# still one anon_vma (chapter 3's example), and the diagram must say so.

CHAPTER = "00-start-here.ipynb"


@pytest.fixture
def lab(tmp_path):
    nbdir = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", nbdir,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    server = Lab(nbdir, tmp_path / "state")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _wait_kernel_idle(page, name: str) -> None:
    """Wait until the notebook ``name`` is the current widget and its own kernel is connected
    and idle.  Run All acts on the current notebook: clicked before the tab that was just
    opened becomes current (or before its session has a kernel), it runs another notebook's
    cells, or none (CodeCell.execute() clears a cell whose session has no kernel)."""
    page.wait_for_function(
        """name => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const k = w && w.context && w.context.path === name && w.sessionContext.session
                      && w.sessionContext.session.kernel;
            return !!k && k.connectionStatus === 'connected' && k.status === 'idle'; }""",
        arg=name)


def _run_all_cells(page, timeout_ms: int = TIMEOUT_MS) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # Every code cell's prompt becomes [n]: (not [*]: or [ ]:) once the kernel ran it.  The
    # prompts shown count: a folded cell (the chapter's imports, a folded Deeper section)
    # runs too but shows no prompt, and its output is what the next cells use.
    page.wait_for_function(
        """() => {
            const ps = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .filter(p => p.offsetParent !== null
                             && !p.closest('.jp-Placeholder, .jp-InputPlaceholder'));
            return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""", timeout=timeout_ms)


def _labelled(root, css: str, label: str):
    """The control of the ipywidget in ``root`` whose description is exactly ``label``."""
    page = root.page
    box = root.locator(css).filter(
        has=page.locator("label", has_text=re.compile(rf"^{re.escape(label)}$")))
    return box.locator("select, input").first


def _diagram(root) -> dict:
    """What the playground's SVG says: its accessible title and the graph's node names."""
    return root.evaluate("""el => {
        const svg = el.querySelector('.widget-html-content svg');
        if (!svg) return null;
        const t = svg.querySelector('#rmapkit-title, :scope > title');
        return {title: t ? t.textContent : '',
                nodes: [...svg.querySelectorAll('g.node > title')].map(n => n.textContent),
                text: [...svg.querySelectorAll('text')].map(n => n.textContent).join(' ')};
    }""")


def _counts(title: str) -> dict[str, int]:
    """'Object graph of P0: 2 VMAs, 2 anon_vma_chains, 1 anon_vma, 2 folios' -> counts.

    >>> _counts("Object graph of P0: 1 VMA, 1 anon_vma_chain, 1 anon_vma, 2 folios")
    {'VMA': 1, 'anon_vma_chain': 1, 'anon_vma': 1, 'folio': 2}
    """
    return {m[2]: int(m[1]) for m in re.finditer(r"(\d+) (VMA|anon_vma_chain|anon_vma|folio)s?\b",
                                                title)}


_WAIT_VMAS = r"""([el, n]) => {
    const t = el.querySelector('.widget-html-content svg title');
    const m = t && t.textContent.match(/(\d+) VMAs?\b/);
    return m && Number(m[1]) === n; }"""


def test_chapter0_playground_in_jupyterlab(lab):
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (Path(CHAPTER).stem + ".png")
    for old in (shot, SHOTS / "failure.png"):
        old.unlink(missing_ok=True)
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            errors = []
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            try:
                page.goto(f"{lab.url}/lab/tree/{CHAPTER}?token={lab.token}")
                page.wait_for_selector(".jp-Notebook .jp-Cell")
                _wait_kernel_idle(page, CHAPTER)
                _run_all_cells(page)

                # The playground: the widget box that has an Apply button.
                root = page.locator(".jp-OutputArea-output .widget-vbox").filter(
                    has=page.locator("button", has_text=re.compile(r"^Apply$"))).first
                root.scroll_into_view_if_needed()
                expect(root.locator(".widget-html-content svg").first).to_be_visible()
                before = _diagram(root)
                assert before and _counts(before["title"]) == {
                    "VMA": 1, "anon_vma_chain": 1, "anon_vma": 1, "folio": 2}, before
                vmas_before = {n for n in before["nodes"] if n.startswith("vma")}
                assert len(vmas_before) == 1, before

                # Choose the operation, change a field, and check the op line follows.
                _labelled(root, ".widget-dropdown", "op").select_option(label="munmap")
                first = _labelled(root, ".widget-inline-hbox", "first page")
                first.fill("1")
                first.press("Tab")
                op_line = _labelled(root, ".widget-text", "op line")
                expect(op_line).to_have_value("P0: munmap 1 1")
                root.locator("button", has_text=re.compile(r"^Apply$")).click()

                # The diagram is drawn again: the VMA split in two around page 1, each half
                # with its own avc, both on the one anon_vma; page 1's folio is gone.
                page.wait_for_function(_WAIT_VMAS, arg=[root.element_handle(), 2])
                after = _diagram(root)
                assert _counts(after["title"]) == {
                    "VMA": 2, "anon_vma_chain": 2, "anon_vma": 1, "folio": 1}, after
                vmas_after = {n for n in after["nodes"] if n.startswith("vma")}
                assert len(vmas_after) == 2 and vmas_after != vmas_before, after
                assert sum(n.startswith("avc:") for n in after["nodes"]) == 2, after
                error_text = root.locator(".widget-html-content").all_inner_texts()
                assert not any("Error" in t or "bad op" in t for t in error_text), error_text

                # Undo (another button) puts the single VMA back.
                root.locator("button", has_text=re.compile(r"^Undo$")).click()
                page.wait_for_function(_WAIT_VMAS, arg=[root.element_handle(), 1])
                assert _diagram(root)["nodes"] == before["nodes"]
                root.locator("button", has_text=re.compile(r"^Apply$")).click()
                page.wait_for_function(_WAIT_VMAS, arg=[root.element_handle(), 2])

                # The view selector: the interval tree of the one anon_vma, then back.
                root.locator("button", has_text=re.compile(r"^interval tree$")).click()
                page.wait_for_function(
                    """el => { const t = el.querySelector('.widget-html-content svg title');
                               return t && t.textContent.startsWith('Interval tree of anon_vma'); }""",
                    arg=root.element_handle())
                root.locator("button", has_text=re.compile(r"^object graph$")).click()
                page.wait_for_function(_WAIT_VMAS, arg=[root.element_handle(), 2])

                text = page.inner_text(".jp-NotebookPanel")
                for bad in BAD_TEXT:
                    assert bad not in text, f"{bad!r} on the page:\n{text[:3000]}"
                assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']"
                                    ).count() == 0, "a cell wrote to stderr"
                assert not errors, errors
                root.scroll_into_view_if_needed()
                page.screenshot(path=str(shot))
            except Exception:
                page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
                print("page errors:", *errors, sep="\n  ")
                print("jupyter log:\n", lab.log())
                raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - t0:.1f}s in Chromium, screenshot {shot}")


# ---------------------------------------------------------------------------------------------
# Every chapter at the size a student sees it: a 1280x800 window with JupyterLab's file
# browser open.  After Run All, no output area (figures, text, widgets) may be wider than the
# notebook: nothing needs horizontal scrolling.  Screenshots of each chapter and of every
# output that holds a picture go to build/browser/ (look at them).

FIT = {"width": 1280, "height": 800}

_OVERFLOW = r"""() => {
    const nb = [...document.querySelectorAll('.jp-NotebookPanel')].find(
        p => !p.classList.contains('lm-mod-hidden'));
    const bad = [];
    for (const out of nb.querySelectorAll('.jp-OutputArea-output')) {
        const box = out.getBoundingClientRect();
        if (box.width === 0) continue;
        const what = (out.innerText || '').slice(0, 60).replace(/\s+/g, ' ');
        if (out.scrollWidth > out.clientWidth + 1)
            bad.push(`scrolls: ${out.scrollWidth} > ${out.clientWidth}: ${what}`);
        for (const el of out.querySelectorAll('svg, img, table, .widget-box, pre')) {
            const r = el.getBoundingClientRect();
            if (r.width && r.right > box.right + 1)
                bad.push(`${el.tagName} ${Math.round(r.width)} px ends ${Math.round(r.right - box.right)} px past its output: ${what}`);
        }
    }
    return bad;
}"""


def test_every_chapter_fits_1280x800_with_the_sidebar_open(lab):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    chapters = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert len(chapters) == 9
    problems = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=FIT)
            page.set_default_timeout(TIMEOUT_MS)
            for name in chapters:
                stem = Path(name).stem
                # ?reset: a workspace with only this chapter open.  Without it JupyterLab
                # restores the chapters opened before (each starting a kernel again), and the
                # restored tab can still be the current one when Run All is clicked.
                page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
                page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")
                # the student's layout: the file browser open beside the notebook
                browser_panel = page.locator("#filebrowser")
                if not browser_panel.is_visible():
                    page.locator('.jp-SideBar [data-id="filebrowser"]').first.click()
                assert browser_panel.is_visible()
                listed = page.locator("#filebrowser .jp-DirListing-itemText").all_inner_texts()
                assert all(t.endswith(".ipynb") for t in listed), listed  # chapters only
                _wait_kernel_idle(page, name)
                # opening a chapter must not mark it modified
                assert page.locator(".jp-mod-dirty").count() == 0, f"{name} opens modified"
                page.screenshot(path=str(SHOTS / f"fit-{stem}-top.png"))
                try:
                    # eight chapters in a row on a busy machine: give each one three minutes
                    _run_all_cells(page, timeout_ms=3 * TIMEOUT_MS)
                except Exception:
                    page.screenshot(path=str(SHOTS / f"failure-{stem}.png"))
                    print("jupyter log:\n", lab.log())
                    raise
                page.wait_for_timeout(500)          # let widgets and SVGs lay out
                bad = page.evaluate(_OVERFLOW)
                if bad:
                    problems[name] = bad
                page.screenshot(path=str(SHOTS / f"fit-{stem}.png"))
                # a taller window for the pictures, so a tall figure is shot whole (the width,
                # which is what the check above is about, stays the same)
                page.set_viewport_size({"width": FIT["width"], "height": 2400})
                page.wait_for_timeout(300)
                outs = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output")
                k = 0
                for i in range(outs.count()):
                    out = outs.nth(i)
                    if out.locator("svg, img").count() == 0:
                        continue
                    out.scroll_into_view_if_needed()
                    out.screenshot(path=str(SHOTS / f"fit-{stem}-{k:02d}.png"))
                    k += 1
                page.set_viewport_size(FIT)
                text = page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden)")
                for bad_text in BAD_TEXT:
                    assert bad_text not in text, f"{bad_text!r} in {name}"
                for session in lab.api("/api/sessions"):    # one kernel at a time
                    lab.api(f"/api/sessions/{session['id']}", method="DELETE")
        finally:
            browser.close()
    assert not problems, "\n".join(f"{n}:\n  " + "\n  ".join(b) for n, b in problems.items())

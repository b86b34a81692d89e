"""``python -m rmapkit`` / ``rmapkit``: run scenarios in the model, the kernel, or both.

Commands: list, show, format, run (model), live (this machine's kernel), diff (both, exit
status 1 when they differ).  Exit status 2 means the scenario could not be run as written
(a mistake in it, an ``expect`` that did not hold, or no observable live kernel).
"""

from __future__ import annotations

import argparse
import sys

from rmapkit.uapi import PAGE_SHIFT

__all__ = ["main"]

DESCRIPTION = """\
Run a scenario in rmapkit's model of the Linux 6.18 memory manager, in real processes
on this machine's kernel, or in both side by side.

A scenario is a short text file of syscalls, one per line, with addresses counted in
pages of a fixed window of address space, for example:

    window 8
    P0: mmap 0 3 rw private anon     # map pages 0-2
    P0: write 0 3                    # write one byte to each (page faults)
    P0: munmap 1 1                   # unmap the middle page

`rmapkit list` shows the scenarios that come with rmapkit, `rmapkit show NAME` prints
one (copy it to start your own), `rmapkit format` explains every line.
"""

EPILOG = """\
SCENARIO is a shipped name (e.g. split) or the path of a .scn file.

examples:
  rmapkit list
  rmapkit run split            the model: maps, anon_vmas, avcs and folios
  rmapkit live fork-cow        the real kernel (run as root to see page frames)
  rmapkit diff mremap-faulted  both; exit status 1 if they differ

exit status: 0 ok; 1 model and kernel differ (diff); 2 the scenario could not be run
as written: it is not a readable scenario (a regular UTF-8 file of at most 1 MiB), a
line is wrong, an `expect` did not hold, or the live kernel could not run it (no live
kernel, or the live driver timed out or died).  Without root the live side compares
what it can see and says what not.
"""


def _parser():
    p = argparse.ArgumentParser(prog="rmapkit", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    from rmapkit import __version__
    p.add_argument("--version", action="version", version=f"rmapkit {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.add_parser("list", help="list the shipped scenarios")
    s = sub.add_parser("show", help="print a scenario file")
    s.add_argument("scenario", metavar="SCENARIO")
    sub.add_parser("format", help="explain the scenario format")
    r = sub.add_parser("run", help="run a scenario in the model")
    r.add_argument("scenario", metavar="SCENARIO")
    r.add_argument("--steps", action="store_true", help="print the state after every op")
    r.add_argument("--no-picture", action="store_true",
                   help="only maps, no anon_vma/avc/folio picture")
    lv = sub.add_parser("live", help="run a scenario in real processes on this kernel")
    lv.add_argument("scenario", metavar="SCENARIO")
    lv.add_argument("--steps", action="store_true", help="print the state after every op")
    d = sub.add_parser("diff", help="run in both and compare (exit status 1 if they differ)")
    d.add_argument("scenario", metavar="SCENARIO")
    d.add_argument("--html", metavar="FILE", help="also write the comparison as HTML")
    return p


def main(argv=None):
    """Entry point; returns the exit status."""
    from rmapkit.scenarios import ScenarioError
    args = _parser().parse_args(argv)
    if args.cmd is None:
        _parser().print_help()
        return 2
    try:
        return globals()["cmd_" + args.cmd](args)
    except ScenarioError as e:
        print(f"rmapkit: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


def cmd_list(args):
    from rmapkit.scenarios import load, names
    rows = []
    for n in names():
        sc = load(n)
        first = sc.description.splitlines()[0] if sc.description else ""
        rows.append((n + (" (model only)" if sc.model_only else ""), first))
    width = max(len(r[0]) for r in rows)
    for n, first in rows:
        print(f"{n:<{width}}  {first}")
    return 0


def cmd_show(args):
    from rmapkit.scenarios import load
    sc = load(args.scenario)
    if sc.path:
        from rmapkit.scenarios.library import read_scenario_file
        sys.stdout.write(read_scenario_file(sc.path))
    else:
        sys.stdout.write(sc.text())
    return 0


def cmd_format(args):
    from rmapkit.scenarios import format as fmt
    print(fmt.__doc__.split("Parsing never raises")[0].rstrip())
    return 0


def _outcome(o, ret, op):
    if o is not None:
        return f"-> {o}" + (" (expected)" if op.expect == o else "")
    if op.kind in ("mmap", "mremap") and ret is not None:
        return f"-> {ret:#x}"
    return "-> ok"


def _print_ops(res, upto=None):
    sc = res.scenario
    n = len(res.outcomes) if upto is None else upto
    for i, (op, o) in enumerate(zip(sc.ops[:n], res.outcomes[:n])):
        print(f"{i + 1:3}  {op.text:<44} {_outcome(o, res.rets[i], op)}")


def _print_steps(res, model):
    """Each op with its outcome, followed by the state after it."""
    for i, (text, snap) in enumerate(res.steps):
        print(f"{i + 1:3}  {text:<44} "
              f"{_outcome(res.outcomes[i], res.rets[i], res.scenario.ops[i])}")
        _print_state(snap, model=model)


def _print_problems(res):
    for op, why in res.problems:
        print(f"rmapkit: line {op.line}: `{op.text}`: {why}", file=sys.stderr)
    if res.error:
        print(f"rmapkit: {res.source}: {res.error}", file=sys.stderr)
    return 2 if res.problems or res.error else 0


def _print_state(snap, model):
    from rmapkit.render import to_maps
    base = snap.window[0]
    for p in snap.processes:
        print(f"{p.name}: /proc/{p.name}/maps (window page 0 = {base:#x})")
        if p.vmas:
            sys.stdout.write(to_maps(snap, p.name, extra=model))
        else:
            print("  (nothing mapped in the window)")
        for row in _page_table(p, base):
            print(row)


def _yn(b):
    return "?" if b is None else "yes" if b else "no"


def _page_table(p, base):
    """Rows of what is known of every page in the window's VMAs."""
    rows = ["  page  frame  anon  zero-page  mapped-once  mapcount"]
    absent = []
    for g in p.pages:
        n = (g.addr - base) >> PAGE_SHIFT
        if not g.present:
            absent.append(str(n))
            continue
        rows.append(f"  {n:4}  {g.frame or '?':5}  {_yn(g.anon):4}  {_yn(g.zero_page):9}  "
                    f"{_yn(g.exclusive):11}  {'?' if g.mapcount is None else g.mapcount}")
    if len(rows) == 1:
        rows = []
    if absent:
        rows.append(f"  not present: page{'s' if len(absent) > 1 else ''} {' '.join(absent)}")
    return rows


def cmd_run(args):
    from rmapkit.scenarios import load, run_model
    sc = load(args.scenario)
    res = run_model(sc, strict=False, steps=True)
    print(f"scenario {sc.name}: model of Linux 6.18, window of {sc.window_pages} pages at "
          f"{sc.window[0]:#x}")
    if args.steps:
        _print_steps(res, model=True)
    else:
        _print_ops(res)
        if res.snapshot is not None:
            print()
            _print_state(res.snapshot, model=True)
    if res.snapshot is not None and not args.no_picture:
        from rmapkit.render import to_ascii
        print()
        print(to_ascii(res.snapshot))
    return _print_problems(res)


def cmd_live(args):
    from rmapkit import live
    from rmapkit.scenarios import load, run_live
    sc = load(args.scenario)
    if sc.model_only:
        print(f"rmapkit: {sc.name} is model-only: {sc.model_only}", file=sys.stderr)
        return 2
    ok, why = live.available()
    if not ok:
        print(f"rmapkit: note: not everything is observable here: {why}", file=sys.stderr)
    res = run_live(sc, strict=False, steps=True)
    print(f"scenario {sc.name}: live kernel, window of {sc.window_pages} pages at "
          f"{sc.window[0]:#x}")
    if args.steps:
        _print_steps(res, model=False)
    else:
        _print_ops(res)
        if res.snapshot is not None:
            print()
            _print_state(res.snapshot, model=False)
            unknown = {k: v for k, v in res.snapshot.unknown.items()
                       if k in ("frame", "anon", "zero_page", "mapcount")}
            for k, v in sorted(unknown.items()):
                print(f"unknown: {k}: {v}")
    return _print_problems(res)


def cmd_diff(args):
    from rmapkit import live
    from rmapkit.scenarios import compare_runs, load, run_live, run_model
    sc = load(args.scenario)
    ok, why = live.available()
    if not ok and not sc.model_only:
        # Compare what can be seen (VMAs, flags, present pages); the Diff lists the rest
        # as not compared, with the reason.
        print(f"rmapkit: note: not everything is observable here: {why}", file=sys.stderr)
    m = run_model(sc, strict=False)
    lv = run_live(sc, strict=False)
    d = compare_runs(m, lv)
    print(f"scenario {sc.name}: model vs live kernel")
    print(d.text())
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write("<!doctype html><meta charset=utf-8><title>rmapkit diff "
                    f"{sc.name}</title>{d._repr_html_()}")
    if lv.error:
        # The kernel side did not run to the end (no live kernel, the driver timed out or
        # died, the window was taken): that is "cannot run", not "differ".
        print(f"rmapkit: cannot run {sc.name} on the live kernel: {lv.error}", file=sys.stderr)
        return 2
    if d:
        return 1
    # Model and kernel agree, but the scenario did not run as written (an `expect` that
    # did not hold, an op that could not run): exit status 2, as `run` and `live` give.
    return max(_print_problems(m), _print_problems(lv))

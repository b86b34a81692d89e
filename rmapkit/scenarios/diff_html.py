"""HTML rendering of a Diff for notebooks: model and kernel side by side, per process.

Pure function of the Diff (no IPython import).  Cost: O(VMAs + pages).
"""

from __future__ import annotations

from html import escape

from rmapkit.scenarios.diff import PAGE_FIELDS, _base, page_no, vma_text

__all__ = ["diff_html"]

_STYLE = ("<style>.rmk-diff td,.rmk-diff th{padding:2px 8px;font-family:monospace;"
          "text-align:left;border-bottom:1px solid #ddd}.rmk-diff .bad{background:#fdd}"
          ".rmk-diff caption{text-align:left;font-weight:bold}</style>")


def _page_cell(g):
    if g is None:
        return ""
    if not g.present:
        return "not present"
    bits = [g.frame or "?"]
    if g.zero_page:
        bits.append("zero")
    if g.anon:
        bits.append("anon")
    if g.exclusive:
        bits.append("once")
    if g.mapcount is not None:
        bits.append(f"mapcount {g.mapcount}")
    return " ".join(bits)


def _row(cells, bad):
    cls = ' class="bad"' if bad else ""
    return f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"


def diff_html(d):
    """Return the HTML of Diff ``d`` (tables of VMAs and pages, then the differences)."""
    out = [_STYLE, '<div class="rmk-diff">']
    if d.note:
        out.append(f"<p>{escape(d.note)}</p>")
    if d.differences:
        where = f" after op {d.step + 1} <code>{escape(d.op)}</code>" if d.step is not None \
            else ""
        out.append(f"<p><b>model and kernel differ{where}</b>: "
                   f"{len(d.differences)} difference(s)</p><ul>")
        out += [f"<li>{escape(x.text)}</li>" for x in d.differences]
        out.append("</ul>")
    elif d.model is not None:
        out.append("<p>model and kernel agree on everything compared</p>")
    if d.model is not None and d.live is not None:
        out.append(_tables(d))
    if d.not_compared:
        out.append("<p>not compared: " + escape("; ".join(
            f"{k} ({v})" for k, v in sorted(d.not_compared.items()))) + "</p>")
    out.append("</div>")
    return "".join(out)


def _tables(d):
    base = _base(d.model) or _base(d.live)
    bad_where = {(x.process, x.where) for x in d.differences}
    out = []
    names = [p.name for p in d.model.processes]
    names += [p.name for p in d.live.processes if p.name not in names]
    for name in names:
        mp = next((p for p in d.model.processes if p.name == name), None)
        lp = next((p for p in d.live.processes if p.name == name), None)
        mv = {(v.vm_start, v.vm_end): v for v in (mp.vmas if mp else ())}
        lv = {(v.vm_start, v.vm_end): v for v in (lp.vmas if lp else ())}
        out.append(f'<table class="rmk-diff"><caption>{escape(name)}: VMAs</caption>'
                   "<tr><th>model</th><th>kernel</th></tr>")
        for k in sorted(set(mv) | set(lv)):
            m = vma_text(mv[k], base) if k in mv else ""
            l_ = vma_text(lv[k], base) if k in lv else ""
            out.append(_row((m, l_), m != l_))
        out.append("</table>")
        mg = {g.addr: g for g in (mp.pages if mp else ())}
        lg = {g.addr: g for g in (lp.pages if lp else ())}
        if mg or lg:
            out.append(f'<table class="rmk-diff"><caption>{escape(name)}: pages '
                       f'({", ".join(PAGE_FIELDS)})</caption>'
                       "<tr><th>page</th><th>model</th><th>kernel</th></tr>")
            for a in sorted(set(mg) | set(lg)):
                where = f"page {page_no(a, base)}"
                bad = (name, where) in bad_where
                out.append(_row((page_no(a, base), _page_cell(mg.get(a)),
                                 _page_cell(lg.get(a))), bad))
            out.append("</table>")
    return "".join(out)

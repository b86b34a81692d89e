"""figures.py: each figure built from its scenario shows what its title says; --check works;
the committed figures/ are up to date."""

from pathlib import Path

import pytest

pytest.importorskip("rmapkit.scenarios", reason="rmapkit.scenarios is not in this tree yet")

from rmapkit import figures  # noqa: E402
from rmapkit.render import alt_text  # noqa: E402
from render_helpers import edge_set, parse_dot  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BY_NAME = {f.name: f for f in figures.FIGURES}


@pytest.fixture(scope="module")
def built():
    run = figures._runs()
    return {f.name: figures.build(f, run) for f in figures.FIGURES}


def test_every_figure_the_chapters_need_exists():
    assert {"split-before", "split-after", "split-diff", "anon-file", "mremap-keeps-pgoff",
            "fork-cow", "fork-chain", "remap-pfn"} <= set(BY_NAME)


def test_titles_are_the_figures_and_every_figure_has_a_description(built):
    for name, (dot, text) in built.items():
        title, desc = alt_text(dot)
        assert title == BY_NAME[name].title
        assert len(desc) > 40, name
        assert text.strip() and max(len(x) for x in text.splitlines()) <= 72, name


def test_split_before_and_after(built):
    nodes, edges = parse_dot(built["split-before"][0])
    vmas = [n for n in nodes if n.startswith("vma")]
    avs = [n for n in nodes if n.startswith("av") and not n.startswith("avc")]
    folios = [n for n in nodes if n.startswith("folio")]
    assert len(vmas) == 1 and len(avs) == 1 and len(folios) == 3
    nodes, edges = parse_dot(built["split-after"][0])
    vmas = sorted(n for n in nodes if n.startswith("vma"))
    avcs = [n for n in nodes if n.startswith("avc:")]
    assert len(vmas) == 2 and len(avcs) == 2
    assert {b for a, b in edge_set(edges) if a in avcs} == set(avs)   # one shared anon_vma
    assert built["split-after"][1].count("| -> av0") == 2


def test_split_diff_and_rmap_walk(built):
    dot, text = built["split-diff"]
    assert "split off" in text and "before  AAA" in text and "after   B.C" in text
    nodes, edges = parse_dot(dot)
    assert sum(x["label"].endswith("(split off vma2)") for n, x in nodes.items()
               if n.startswith("after:vma")) == 2
    _, desc = alt_text(built["split-rmap-walk"][0])
    assert desc.count("visits ") == 1 and desc.count("skips ") == 1


def test_mremap_keeps_pgoff(built):
    dot, text = built["mremap-keeps-pgoff"]
    assert "vma    AA....BBC" in text
    assert "pgoff  012" in text and "vma    AAC" in text   # C sits at pgoff 2, after A
    label = parse_dot(dot)[0]["space"]["label"]
    assert ">8<" in label and "vm_pgoff p+2" in label        # page 8, pgoff p+2
    # the dashed arrows leave from an empty port row under the VMA row, so they cross no text
    assert '<TD BORDER="0" HEIGHT="4" PORT="vma4"></TD>' in label
    assert "kept (faulted" in built["mremap-diff"][1]


def test_fork_figures_show_the_hierarchy(built):
    nodes, edges = parse_dot(built["fork-cow"][0])
    assert any(x.get("label") == "parent" for _, _, x in edges)
    assert "cluster_P0" in built["fork-cow"][0] and "cluster_P1" in built["fork-cow"][0]
    nodes, _ = parse_dot(built["fork-chain"][0])
    avs = [n for n in nodes if n.startswith("av") and not n.startswith("avc")]
    assert len(avs) == 3                      # reuse stops the chain from growing
    assert not [n for n in nodes if n.startswith("folio")]


def test_remap_pfn_shows_pfn_pages_and_pgoff_is_the_pfn(built):
    dot, text = built["remap-pfn"]
    assert "vm_pgoff 0x80000" in text and "page   pa.p" in text
    assert "raw PFN" in alt_text(dot)[1]


def test_generate_then_check_then_stale(tmp_path):
    written = figures.generate(tmp_path)
    assert (tmp_path / "INDEX.md") in written
    assert {p.suffix for p in written} >= {".dot", ".txt", ".svg", ".md"}
    assert figures.check(tmp_path)[0] == []
    (tmp_path / "split-after.txt").write_text("old\n")
    (tmp_path / "gone.dot").write_text("digraph {}\n")
    stale, _ = figures.check(tmp_path)
    assert stale == [str(tmp_path / "split-after.txt"),
                     f"{tmp_path / 'gone.dot'} (no figure makes it any more)"]
    assert figures.main(["--check", str(tmp_path)]) == 1


def test_committed_figures_are_up_to_date():
    outdir = REPO / "figures"
    if not (outdir / "INDEX.md").exists():
        pytest.skip("figures/ not generated yet")
    stale, notes = figures.check(outdir)
    assert stale == [], "run: python -m rmapkit.figures figures/\n" + "\n".join(stale + notes)

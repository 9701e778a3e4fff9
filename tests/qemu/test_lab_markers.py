"""
tests/qemu/test_lab_markers.py - the lab generator's markers and stub pages, on a tiny tree.

tools/lab/mklab.py reads one-line region markers in the sources and each region's task and stub
from tools/lab/stubs/stageN.md, by name. Here a throw-away git tree with one source file and
one stub page checks that a region becomes its TODO and stub (and a solved stage keeps its
code), and that each way the two can disagree is refused with the place named: a region
without a section, a section no region uses, a section under the wrong stage or file, a name
used twice, words after the stub code, a region never closed. No QEMU here.
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MKLAB_DIR = ROOT / "tools" / "lab"
TAG = "LAB" + ":"  # spelled in two parts so that this file carries no marker

SOURCE = f"""int answer(void)
{{
\t/* {TAG}SOLUTION stage2 answer */
\treturn 42;
\t/* {TAG}END */
}}
"""

PAGE = """# Lab stage 2

Words about the page, before the first section.

## answer

`src/answer.c`

return the answer,
computed

    return -1;
"""

pytestmark = pytest.mark.skipif(not (MKLAB_DIR / "mklab.py").exists(),
                                reason="no lab generator here (a student tree)")


def mklab():
    sys.path.insert(0, str(MKLAB_DIR))
    try:
        import mklab as m
    finally:
        sys.path.pop(0)
    return m


def tree(tmp_path, source=SOURCE, pages=None):
    """A git tree with src/answer.c and the given stub pages ({stage: text})."""
    root = tmp_path / "t"
    (root / "src").mkdir(parents=True)
    (root / "src/answer.c").write_text(source)
    for stage, text in (pages if pages is not None else {2: PAGE}).items():
        page = root / f"tools/lab/stubs/stage{stage}.md"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    return root


def test_region_becomes_todo_and_stub(tmp_path):
    m = mklab()
    root = tree(tmp_path)
    [r] = m.regions(root)
    assert (r.path, r.stage, r.name) == ("src/answer.c", 2, "answer")
    assert r.text == "return the answer, computed"
    assert r.stub == ["return -1;"]
    items = m.parse("src/answer.c", SOURCE, m.load_stubs(root))
    stubbed = m.render(items, {2})
    assert stubbed == ("int answer(void)\n{\n"
                       "\t/* TODO(lab stage 2): return the answer, computed (LAB.md, stage 2) */\n"
                       "\treturn -1;\n}\n")
    assert m.render(items, {3}) == "int answer(void)\n{\n\treturn 42;\n}\n"


BAD = [
    ("no-section", SOURCE, {2: PAGE.replace("## answer", "## other")},
     "src/answer.c:3: no section ## answer in tools/lab/stubs/stage2.md"),
    ("unused-section", SOURCE, {2: PAGE + "\n## spare\n\n`src/answer.c`\n\nnothing\n"},
     "no region is named spare"),
    ("wrong-stage", SOURCE, {3: PAGE},
     "answer is stage 2 here, but tools/lab/stubs/stage3.md"),
    ("wrong-file", SOURCE, {2: PAGE.replace("`src/answer.c`", "`src/other.c`")},
     "files it under `src/other.c`"),
    ("twice", SOURCE, {2: PAGE, 5: PAGE.replace("stage 2", "stage 5")},
     "answer is also in tools/lab/stubs/stage2.md"),
    ("words-after-code", SOURCE, {2: PAGE + "more words\n"}, "words after the stub code of answer"),
    ("no-path", SOURCE, {2: PAGE.replace("`src/answer.c`", "src/answer.c")},
     "expected the source path in backquotes"),
    ("never-closed", SOURCE.replace(f"\t/* {TAG}END */\n", ""), {2: PAGE},
     "src/answer.c:3: region without its end marker"),
]


@pytest.mark.parametrize("source,pages,error", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_disagreements_are_refused(tmp_path, source, pages, error):
    m = mklab()
    root = tree(tmp_path, source, pages)
    with pytest.raises(m.MarkerError) as e:
        m.regions(root)
    assert error in str(e.value)

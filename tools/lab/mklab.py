#!/usr/bin/python3
"""
tools/lab/mklab.py - make the student tree: this tree with its marked solution regions
replaced by compiling stubs and TODO comments (LAB.md is the handout; docs/lab-teachers.md
explains the markers).

    tools/lab/mklab.py DEST                 every stage stubbed (what students start from)
    tools/lab/mklab.py DEST --stages 3,4    only those stages stubbed
    tools/lab/mklab.py DEST --solved 2      stages 1-2 kept solved, 3-8 stubbed

DEST must not exist or be empty (or be a tree this script made, with --force). Only files
git tracks are copied, as they are in the working tree; teacher-only files stay behind.
A region in a C source is two one-line markers around the solution (the marker words are
spelled out in docs/lab-teachers.md; they never reach the student tree, which is checked at
the end):

    /* <SOLUTION-marker> stage2 vring_used_event */
    ... the solution ...
    /* <END-marker> */

The task and the stub live apart from the code, in tools/lab/stubs/stage2.md under the
region's name (so the function bodies read clean), and the region becomes

    /* TODO(lab stage 2): what the student writes here, in a sentence (LAB.md, stage 2) */
    return NULL;
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAG = "LAB" + ":"  # spelled in two parts so this file can be scanned like any other
SOLUTION, STUB, END = TAG + "SOLUTION", TAG + "STUB", TAG + "END"
STAGES = range(1, 9)  # 1-7 required, 8 optional (tools/lab/grade.py, STAGES)
SOURCE_SUFFIXES = (".c", ".h", ".S")
STUBS = Path("tools/lab/stubs")  # stageN.md: each region's task and stub, by name
TEACHER_ONLY = ["tools/lab/mklab.py", "tools/lab/grade_class.py", "tools/lab/teacher.mk",
                "docs/lab-teachers.md", "tests/qemu/test_grade.py", "tests/qemu/test_lab_markers.py",
                "tests/qemu/test_lab_tree.py"] + [str(STUBS / f"stage{n}.md") for n in STAGES]
STAMP = ".lab-tree"  # written into DEST: which stages are stubbed, and the commit it came from

OPEN_RE = re.compile(r"^(?P<indent>[ \t]*)/\*\s*" + re.escape(SOLUTION) +
                     r"\s+stage(?P<stage>\d+)\s+(?P<name>[a-z][a-z0-9_]*)\s*\*/\s*$")
END_RE = re.compile(r"^[ \t]*/\*\s*" + re.escape(END) + r"\s*\*/\s*$")
SECTION_RE = re.compile(r"^## (?P<name>[a-z][a-z0-9_]*)\s*$")
FILE_RE = re.compile(r"^`(?P<path>[^`]+)`$")


class MarkerError(Exception):
    pass


class Stub:
    """A region's task (one sentence or a few) and the code that stands in for it."""

    def __init__(self, name, stage, where, line):
        self.name, self.stage, self.where, self.line = name, stage, where, line
        self.path, self.desc, self.code = None, [], []


def parse_stubs(rel, stage, text):
    """tools/lab/stubs/stageN.md -> {name: Stub}. After the page's own heading and words, each
    region is a section: `## name`, a line with the source path in backquotes, the task as a
    paragraph, then the stub as an indented (4 spaces) code block, which may be empty."""
    stubs, cur = {}, None
    for n, line in enumerate(text.split("\n"), 1):
        m = SECTION_RE.match(line)
        if m:
            if m.group("name") in stubs:
                raise MarkerError(f"{rel}:{n}: a second section named {m.group('name')}")
            cur = stubs[m.group("name")] = Stub(m.group("name"), stage, rel, n)
        elif cur is None or (not line.strip() and not cur.code):
            continue
        elif cur.path is None:
            f = FILE_RE.match(line.strip())
            if not f:
                raise MarkerError(f"{rel}:{n}: expected the source path in backquotes after ## {cur.name}")
            cur.path = f.group("path")
        elif line.startswith("    ") or not line.strip():
            cur.code.append(line[4:])
        elif cur.code:
            raise MarkerError(f"{rel}:{n}: words after the stub code of {cur.name}")
        else:
            cur.desc.append(line.strip())
    for st in stubs.values():
        while st.code and not st.code[-1].strip():
            st.code.pop()
        if not st.desc:
            raise MarkerError(f"{rel}:{st.line}: {st.name} says nothing about the task")
    return stubs


def load_stubs(root=ROOT):
    """Every stage's stubs, {name: Stub}; a name may be used once in the whole lab."""
    found = {}
    for stage in STAGES:
        rel = str(STUBS / f"stage{stage}.md")
        path = root / rel
        if not path.exists():
            continue
        for name, st in parse_stubs(rel, stage, path.read_text()).items():
            if name in found:
                raise MarkerError(f"{rel}:{st.line}: {name} is also in {found[name].where}")
            found[name] = st
    return found


class Region:
    def __init__(self, path, line, stage, indent, name, solution):
        self.path, self.line, self.stage = path, line, stage
        self.indent, self.name, self.solution = indent, name, solution
        self.text, self.stub = "", []

    def attach(self, stubs):
        """Take this region's task and stub from its stage's page; they must agree on both."""
        st = stubs.get(self.name)
        where = f"tools/lab/stubs/stage{self.stage}.md"
        if st is None:
            raise MarkerError(f"{self.path}:{self.line}: no section ## {self.name} in {where}")
        if st.stage != self.stage or st.path != self.path:
            raise MarkerError(f"{self.path}:{self.line}: {self.name} is stage {self.stage} here, "
                              f"but {st.where}:{st.line} files it under `{st.path}`")
        self.text, self.stub = " ".join(st.desc), st.code

    def replacement(self):
        """The TODO comment and the stub, indented like the marker."""
        todo = f"TODO(lab stage {self.stage}): {self.text} (LAB.md, stage {self.stage})"
        width = max(40, 96 - len(self.indent.expandtabs(8)))
        lines = textwrap.wrap(todo, width - 6)
        if len(lines) == 1:
            out = [f"{self.indent}/* {lines[0]} */"]
        else:
            out = [f"{self.indent}/*"] + [f"{self.indent} * {l}" for l in lines] + [f"{self.indent} */"]
        return out + [self.indent + s if s else "" for s in self.stub]


def parse(path, text, stubs):
    """Split a source into (kept lines, Region) items; raise MarkerError on a bad marker."""
    lines = text.split("\n")
    items, i = [], 0
    while i < len(lines):
        line = lines[i]
        m = OPEN_RE.match(line)
        if not m:
            if STUB in line or END in line or SOLUTION in line:
                raise MarkerError(f"{path}:{i + 1}: marker outside a region or malformed: {line.strip()}")
            items.append(line)
            i += 1
            continue
        start = i + 1
        stage = int(m.group("stage"))
        if stage not in STAGES:
            raise MarkerError(f"{path}:{start}: stage {stage} is not {STAGES[0]}..{STAGES[-1]}")
        i += 1
        solution = []
        while i < len(lines) and not END_RE.match(lines[i]):
            if OPEN_RE.match(lines[i]):
                raise MarkerError(f"{path}:{i + 1}: region inside the region opened at line {start}")
            solution.append(lines[i])
            i += 1
        if i >= len(lines):
            raise MarkerError(f"{path}:{start}: region without its end marker")
        i += 1  # the end marker
        region = Region(path, start, stage, m.group("indent"), m.group("name"), solution)
        region.attach(stubs)
        items.append(region)
    return items


def render(items, stages):
    """The file with regions of the given stages stubbed; other regions keep their solution
    (their marker lines are dropped either way)."""
    out = []
    for it in items:
        if isinstance(it, str):
            out.append(it)
        elif it.stage in stages:
            out += it.replacement()
        else:
            out += it.solution
    return "\n".join(out)


def tracked_files(root):
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def head_commit(root):
    """The commit checked out in root ("" when there is none)."""
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def regions(root=ROOT):
    """Every region in the tree, [Region], each with its stub; every stub is used once."""
    stubs = load_stubs(root)
    found = []
    for rel in tracked_files(root):
        if rel.endswith(SOURCE_SUFFIXES) and (root / rel).is_file():
            text = (root / rel).read_text(errors="replace")
            if SOLUTION in text:
                found += [it for it in parse(rel, text, stubs) if isinstance(it, Region)]
    unused = sorted(set(stubs) - {r.name for r in found})
    if unused:
        st = stubs[unused[0]]
        raise MarkerError(f"{st.where}:{st.line}: no region is named {st.name} "
                          f"({len(unused)} unused: {', '.join(unused)})")
    return found


def prepare_dest(dest, force):
    if dest.exists() and any(dest.iterdir()):
        if not (force and (dest / STAMP).exists()):
            sys.exit(f"mklab: {dest} exists and is not empty"
                     + (" (--force only replaces a tree this script made)" if force else ""))
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)


def student_text(rel, text):
    """A Markdown file as the student tree has it: the table rows that name a teacher-only file
    (README's command table: make lab, grading a class) are left out. Any other mention of one
    stays, and test_lab_tree.py's check of the student tree fails on it."""
    if not rel.endswith(".md"):
        return text
    lines = text.split("\n")
    return "\n".join(l for l in lines if not (l.startswith("|") and any(t in l for t in TEACHER_ONLY)))


def leftover_markers(dest):
    bad = []
    for dirpath, _, files in os.walk(dest):
        for f in files:
            p = Path(dirpath) / f
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if TAG.encode() + b"SOLUTION" in data or TAG.encode() + b"END" in data or TAG.encode() + b"STUB" in data:
                bad.append(str(p.relative_to(dest)))
    return bad


def make_tree(dest, stages, force=False, quiet=False):
    dest = Path(dest).resolve()
    if dest == ROOT or ROOT in dest.parents and not str(dest).startswith(str(ROOT / "build")):
        sys.exit("mklab: DEST must be outside this tree (or under build/)")
    regions()  # every marker and stub well formed, before anything is written
    stubs = load_stubs()
    prepare_dest(dest, force)
    counts = {s: 0 for s in STAGES}
    for rel in tracked_files(ROOT):
        src = ROOT / rel
        if rel in TEACHER_ONLY or not src.is_file():
            continue
        dst = dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(SOURCE_SUFFIXES):
            text = src.read_text(errors="surrogateescape")
            if SOLUTION in text:
                items = parse(rel, text, stubs)
                for it in items:
                    if isinstance(it, Region) and it.stage in stages:
                        counts[it.stage] += 1
                dst.write_text(render(items, stages), errors="surrogateescape")
                shutil.copymode(src, dst)
                continue
        if rel.endswith(".md"):
            dst.write_text(student_text(rel, src.read_text(errors="surrogateescape")), errors="surrogateescape")
            shutil.copymode(src, dst)
            continue
        shutil.copy2(src, dst)
    (dest / STAMP).write_text("stubbed stages: " + " ".join(map(str, sorted(stages))) + "\n"
                              + f"made from commit {head_commit(ROOT)}\n")
    bad = leftover_markers(dest)
    if bad:
        sys.exit("mklab: markers left in the student tree: " + ", ".join(bad))
    if not quiet:
        print(f"mklab: student tree in {dest}: " +
              ", ".join(f"stage {s} {counts[s]} region{'s' if counts[s] != 1 else ''}"
                        for s in STAGES if s in stages))
    return counts


def main():
    ap = argparse.ArgumentParser(description="make the lab's student tree (LAB.md)")
    ap.add_argument("dest")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--stages", help="comma-separated stages to stub (default: all)")
    g.add_argument("--solved", type=int, metavar="K", help="keep stages 1..K solved, stub the rest")
    ap.add_argument("--force", action="store_true", help="replace a tree this script made earlier")
    ap.add_argument("--check", action="store_true", help="only check every marker in this tree")
    args = ap.parse_args()
    if args.check:
        try:
            found = regions()
        except MarkerError as e:
            sys.exit(f"mklab: {e}")
        print(f"mklab: {len(found)} regions, all well formed")
        return 0
    if args.stages:
        stages = {int(s) for s in args.stages.split(",") if s}
    elif args.solved is not None:
        stages = {s for s in STAGES if s > args.solved}
    else:
        stages = set(STAGES)
    if not stages <= set(STAGES):
        sys.exit(f"mklab: stages are {STAGES[0]}..{STAGES[-1]}")
    try:
        make_tree(args.dest, stages, args.force)
    except MarkerError as e:
        sys.exit(f"mklab: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

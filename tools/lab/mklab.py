#!/usr/bin/python3
"""
tools/lab/mklab.py - make the student tree: this tree with its marked solution regions
replaced by compiling stubs and TODO comments (LAB.md is the handout; docs/lab-teachers.md
explains the markers).

    tools/lab/mklab.py DEST                 every stage stubbed (what students start from)
    tools/lab/mklab.py DEST --stages 3,4    only those stages stubbed
    tools/lab/mklab.py DEST --solved 2      stages 1-2 kept solved, 3-6 stubbed

DEST must not exist or be empty (or be a tree this script made, with --force). Only files
git tracks are copied, as they are in the working tree; teacher-only files stay behind.
A region in a C source looks like this (the marker words are spelled out in
docs/lab-teachers.md; they never reach the student tree, which is checked at the end):

    /* <SOLUTION-marker> stage2: what the student writes here, in a sentence
     * <STUB-marker> return -ENOSYS;
     */
    ... the solution ...
    /* <END-marker> */

and becomes

    /* TODO(lab stage 2): what the student writes here, in a sentence (LAB.md, stage 2) */
    return -ENOSYS;
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
STAGES = range(1, 7)
SOURCE_SUFFIXES = (".c", ".h", ".S")
TEACHER_ONLY = ["tools/lab/mklab.py", "docs/lab-teachers.md"]
STAMP = ".lab-tree"  # written into DEST: says which stages are stubbed

OPEN_RE = re.compile(r"^(?P<indent>[ \t]*)/\*\s*" + re.escape(SOLUTION) +
                     r"\s+stage(?P<stage>\d+):\s*(?P<text>.*?)\s*(?P<close>\*/)?\s*$")
CONT_RE = re.compile(r"^[ \t]*\*(?!/)\s?(?P<text>.*?)\s*(?P<close>\*/)?\s*$")
END_RE = re.compile(r"^[ \t]*/\*\s*" + re.escape(END) + r"\s*\*/\s*$")


class MarkerError(Exception):
    pass


class Region:
    def __init__(self, path, line, stage, indent, text, stub, solution):
        self.path, self.line, self.stage = path, line, stage
        self.indent, self.text, self.stub, self.solution = indent, text, stub, solution

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


def parse(path, text):
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
            raise MarkerError(f"{path}:{start}: stage {stage} is not 1..6")
        desc, stub = [m.group("text")] if m.group("text") else [], []
        closed = bool(m.group("close"))
        i += 1
        while not closed:
            if i >= len(lines):
                raise MarkerError(f"{path}:{start}: the marker comment never closes")
            if lines[i].strip() == "*/":
                closed = True
                i += 1
                continue
            c = CONT_RE.match(lines[i])
            if not c:
                raise MarkerError(f"{path}:{i + 1}: expected a ' * ...' comment line in the marker")
            body, closed = c.group("text"), bool(c.group("close"))
            if body.startswith(STUB):
                stub.append(body[len(STUB):].removeprefix(" ").rstrip())
            elif body:
                if stub:
                    raise MarkerError(f"{path}:{i + 1}: description after the stub lines")
                desc.append(body)
            i += 1
        solution = []
        while i < len(lines) and not END_RE.match(lines[i]):
            if OPEN_RE.match(lines[i]):
                raise MarkerError(f"{path}:{i + 1}: region inside the region opened at line {start}")
            solution.append(lines[i])
            i += 1
        if i >= len(lines):
            raise MarkerError(f"{path}:{start}: region without its end marker")
        if not desc:
            raise MarkerError(f"{path}:{start}: the marker says nothing about the task")
        i += 1  # the end marker
        items.append(Region(path, start, stage, m.group("indent"), " ".join(desc), stub, solution))
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


def regions(root=ROOT):
    """Every region in the tree: [(path, Region)], for the grader's tests and the docs."""
    found = []
    for rel in tracked_files(root):
        if rel.endswith(SOURCE_SUFFIXES) and (root / rel).is_file():
            text = (root / rel).read_text(errors="replace")
            if SOLUTION in text:
                found += [it for it in parse(rel, text) if isinstance(it, Region)]
    return found


def prepare_dest(dest, force):
    if dest.exists() and any(dest.iterdir()):
        if not (force and (dest / STAMP).exists()):
            sys.exit(f"mklab: {dest} exists and is not empty"
                     + (" (--force only replaces a tree this script made)" if force else ""))
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)


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
                items = parse(rel, text)
                for it in items:
                    if isinstance(it, Region) and it.stage in stages:
                        counts[it.stage] += 1
                dst.write_text(render(items, stages), errors="surrogateescape")
                shutil.copymode(src, dst)
                continue
        shutil.copy2(src, dst)
    (dest / STAMP).write_text("stubbed stages: " + " ".join(map(str, sorted(stages))) + "\n")
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
        sys.exit("mklab: stages are 1..6")
    try:
        make_tree(args.dest, stages, args.force)
    except MarkerError as e:
        sys.exit(f"mklab: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

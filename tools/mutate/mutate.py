#!/usr/bin/python3
"""
tools/mutate/mutate.py - a mutation campaign over drivers/virtio, drivers/net and net/ against
the host unit suite (make unit). Run by `make mutate` (tools/mutate/mutate.mk).

    tools/mutate/mutate.py [--files GLOB...] [--sample N] [--seed S] [--jobs J]
                           [--budget SECONDS] [--docs docs/testing.md] [--list]

Each mutant is one small change to one source file (the operators are below). It is written
into a scratch copy of the tree (a temporary directory; the real tree is never touched), the
unit-test compilation units that contain the file (directly or by #include "x.c") are rebuilt
with the unit flags, and only the unit binaries that link them are relinked and run, one by one,
the one that killed most mutants of that file first. A mutant is
    killed     a unit binary failed (a "not ok", a sanitizer report, a crash, a bad exit status)
    timeout    a unit binary ran past its time limit (counted as killed)
    survived   every affected unit binary passed
    stillborn  it did not compile (-Werror included); not counted in the score
    equivalent it survived and tools/mutate/equivalent.txt explains why no test can kill it;
               not counted in the score
Score = (killed + timeout) / (killed + timeout + survived).

Options come from the environment too (make passes them): MUTATE_FILES, MUTATE_SAMPLE (at most
N mutants per file, a seeded sample: the same seed and sources give the same mutants),
MUTATE_SEED (default 19), MUTATE_JOBS (default: the number of CPUs), MUTATE_BUDGET (total
seconds; mutants not started by then are reported as not run; default none).
The report is build/mutate/report.md, the raw results build/mutate/results.json; --docs FILE
replaces the part of FILE between the mutate:begin and mutate:end markers with the report.
"""
import argparse
import concurrent.futures
import glob
import hashlib
import json
import os
import queue
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "build" / "mutate"
EQUIVALENT = ROOT / "tools" / "mutate" / "equivalent.txt"
DEFAULT_FILES = ["drivers/virtio/*.c", "drivers/net/*.c", "net/*.c"]
BEGIN, END = "<!-- mutate:begin -->", "<!-- mutate:end -->"
COMPILE_TIMEOUT = 120


# ---- the sources: comments and literals masked, so operators only touch code ---------------

def mask(src):
    """src with comments, string and character literals and preprocessor lines other than
    #define blanked (same length, newlines kept): positions in it are positions in src."""
    out = list(src)
    i, n = 0, len(src)
    line_start = True
    while i < n:
        c = src[i]
        if line_start and c == "#":
            j = i + 1
            while j < n and src[j] in " \t":
                j += 1
            if not src.startswith("define", j):
                # blank the directive, with its continuation lines
                while i < n and src[i] != "\n":
                    if src[i] == "\\" and i + 1 < n and src[i + 1] == "\n":
                        out[i] = " "
                        i += 2
                        continue
                    out[i] = " "
                    i += 1
                continue
        if c == "\n":
            line_start = True
            i += 1
            continue
        if c not in " \t":
            line_start = False
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif src.startswith("//", i):
            while i < n and src[i] != "\n":
                out[i] = " "
                i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                if out[k] != "\n":
                    out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


REL_RE = re.compile(r"(?<![<>=!\-])(<=|>=|==|!=|<(?![<=])|>(?![>=]))")
REL_SWAP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
LOGIC_RE = re.compile(r"&&|\|\|")
CONST_RE = re.compile(r"(?<![\w.])(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)(?![\w.])")
IF_RE = re.compile(r"\bif\s*\(")
RETURN_RE = re.compile(r"\breturn\b([^;]*);")
STMT_RE = re.compile(r"[ \t]*(\*\s*)?([A-Za-z_]\w*)(\s*(\.|->)\s*\w+|\s*\[[^\]\n]*\])*\s*"
                     r"(\(|=(?!=)|[-+*/%&|^]=|<<=|>>=|\+\+|--)")
NOT_STMT = {"return", "break", "continue", "goto", "case", "default", "typedef", "static",
            "const", "struct", "enum", "union", "unsigned", "signed", "int", "char", "void",
            "long", "short", "bool", "if", "while", "for", "switch", "do", "else", "sizeof",
            "extern", "volatile", "inline", "register"}


class Mutant:
    __slots__ = ("file", "line", "op", "start", "end", "new", "old", "key", "text", "status",
                 "detail", "seconds")

    def __init__(self, file, src, op, start, end, new):
        self.file, self.op, self.start, self.end, self.new = file, op, start, end, new
        self.old = src[start:end]
        self.line = src.count("\n", 0, start) + 1
        ls = src.rfind("\n", 0, start) + 1
        le = src.find("\n", start)
        le = len(src) if le < 0 else le
        line_text = src[ls:le]
        # a key that survives edits elsewhere in the file: the line's text, the column in it,
        # the operator and the replacement (not the line number)
        h = hashlib.sha1(f"{file}\0{line_text.strip()}\0{start - ls}\0{op}\0{new}".encode())
        self.key = f"{op}:{h.hexdigest()[:10]}"
        self.text = line_text.strip()
        self.status, self.detail, self.seconds = "not run", "", 0.0

    def describe(self):
        old = " ".join(self.old.split())
        if len(old) > 60:
            old = old[:57] + "..."
        return f"`{old}` -> `{self.new}`"


def matching_paren(masked, i):
    """index just past the parenthesis closing the one at masked[i]"""
    depth = 0
    for j in range(i, len(masked)):
        if masked[j] == "(":
            depth += 1
        elif masked[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return -1


def statement_end(masked, i):
    """index just past the ';' ending a simple statement starting at i, or -1 when a brace or
    an unbalanced parenthesis comes first (not a simple statement)"""
    depth = 0
    for j in range(i, len(masked)):
        c = masked[j]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth < 0:
                return -1
        elif c in "{}" and depth == 0:
            return -1
        elif c == ";" and depth == 0:
            return j + 1
    return -1


def mutants_of(file, src):
    masked = mask(src)
    found = []

    def add(op, start, end, new):
        found.append(Mutant(file, src, op, start, end, new))

    # inside a function body only (brace depth > 0): declarations at file scope are left alone,
    # except #define values, which are code
    depth = [0] * (len(masked) + 1)
    d = 0
    for i, c in enumerate(masked):
        depth[i] = d
        if c == "{":
            d += 1
        elif c == "}":
            d -= 1
    defines = set()
    for m in re.finditer(r"^[ \t]*#[ \t]*define[^\n]*(\\\n[^\n]*)*", masked, re.M):
        defines.update(range(m.start(), m.end()))

    def in_code(i):
        return depth[i] > 0 or i in defines

    for m in REL_RE.finditer(masked):
        if in_code(m.start()):
            add("rel", m.start(), m.end(), REL_SWAP[m.group(1)])
    for m in LOGIC_RE.finditer(masked):
        if in_code(m.start()):
            add("logic", m.start(), m.end(), "||" if m.group(0) == "&&" else "&&")
    for m in CONST_RE.finditer(masked):
        if not in_code(m.start()):
            continue
        lit, suffix = m.group(1), m.group(2)
        base = 16 if lit[:2].lower() == "0x" else 10
        value = int(lit, base)
        fmt = (lambda v: hex(v)) if base == 16 else str
        add("const", m.start(), m.end(), fmt(value + 1) + suffix)
        if value > 0:
            add("const", m.start(), m.end(), fmt(value - 1) + suffix)
    for m in IF_RE.finditer(masked):
        if depth[m.start()] == 0:
            continue
        open_ = m.end() - 1
        close = matching_paren(masked, open_)
        if close > 0:
            add("cond", open_ + 1, close - 1, "0")
            add("cond", open_ + 1, close - 1, "1")
    for m in RETURN_RE.finditer(masked):
        if depth[m.start()] == 0 or "\n" in m.group(1).strip():
            continue
        expr = m.group(1).strip()
        new = None
        if expr == "true":
            new = "false"
        elif expr == "false":
            new = "true"
        elif expr == "0":
            new = "-1"
        elif expr == "1":
            new = "0"
        elif re.fullmatch(r"-\s*(E[A-Z0-9]+|\d+)", expr):
            new = "0"
        elif expr and expr != "NULL":
            new = "0"
        if new is not None:
            s = m.start(1) + (len(m.group(1)) - len(m.group(1).lstrip()))
            add("return", s, s + len(expr), new)
    # statements: a line that begins one (a call, an assignment, ++/--) inside a function
    pos = 0
    for line in masked.split("\n"):
        m = STMT_RE.match(line)
        if m and depth[pos] > 0 and m.group(2) not in NOT_STMT:
            start = pos + len(line) - len(line.lstrip())
            end = statement_end(masked, start)
            if end > 0:
                add("delete", start, end, "{}")
        pos += len(line) + 1
    found.sort(key=lambda mu: (mu.start, mu.op, mu.new))
    return found


# ---- the build: unit.mk's groups, compiled once, then per mutant only what contains it -------

class Build:
    def __init__(self):
        info = subprocess.run(["make", "-s", "--no-print-directory", "mutate-info"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
        self.tests = {}  # name -> (extra cflags, [compilation units])
        for line in info.splitlines():
            word, _, rest = line.partition(" ")
            if word == "CC":
                self.cc = shlex.split(rest)
            elif word == "CFLAGS":
                self.cflags = shlex.split(rest)
            elif word == "TEST":
                name, extra, srcs = (p.strip() for p in rest.split("|"))
                self.tests[name] = (shlex.split(extra), srcs.split())
        self.includes = {}

    def included(self, unit, tree):
        """the .c files unit #includes, transitively (they are compiled as part of it)"""
        if unit in self.includes:
            return self.includes[unit]
        seen, todo = set(), [unit]
        while todo:
            f = todo.pop()
            try:
                text = (tree / f).read_text(errors="replace")
            except FileNotFoundError:
                continue
            for inc in re.findall(r'^\s*#\s*include\s+"([^"]+\.c)"', text, re.M):
                near = os.path.normpath(os.path.join(os.path.dirname(f), inc))
                target = near if (tree / near).exists() else inc
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        self.includes[unit] = seen
        return seen

    def units_containing(self, file, tree):
        units = set()
        for _, (_, srcs) in self.tests.items():
            for u in srcs:
                if u == file or file in self.included(u, tree):
                    units.add(u)
        return units

    def tests_linking(self, units):
        return [t for t, (_, srcs) in self.tests.items() if units & set(srcs)]

    def compile(self, tree, unit, extra, obj):
        obj.parent.mkdir(parents=True, exist_ok=True)
        return subprocess.run(self.cc + self.cflags + extra + ["-c", unit, "-o", str(obj)],
                              cwd=tree, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)

    def link(self, tree, test, objs, out):
        extra, _ = self.tests[test]
        return subprocess.run(self.cc + self.cflags + extra + ["-o", str(out)] + objs,
                              cwd=tree, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)


def obj_name(unit, extra):
    tag = hashlib.sha1(" ".join(extra).encode()).hexdigest()[:6] if extra else "o"
    return unit.replace("/", "__") + "." + tag + ".o"


def copy_tree(dst):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for f in files:
        if not f or f.startswith("build/"):
            continue
        src = ROOT / f
        if not src.is_file():
            continue
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / f)


def run_test(binary, cwd, timeout):
    """(ok, detail) for one unit binary"""
    try:
        p = subprocess.run([str(binary)], cwd=cwd, capture_output=True, text=True,
                           errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"ran past {timeout:.0f} s"
    out = p.stdout + p.stderr
    bad = [l[len("not ok - "):] for l in out.splitlines() if l.startswith("not ok - ")]
    summary = re.search(r"(\d+) passed, (\d+) failed\s*$", out, re.M)
    if p.returncode == 0 and not bad and summary:
        return True, ""
    if bad:
        return False, bad[0]
    for l in out.splitlines():
        if "ERROR: AddressSanitizer" in l or "runtime error" in l:
            return False, l.strip()[:100]
    return False, f"exit status {p.returncode}"


class Campaign:
    def __init__(self, build, scratch, jobs, budget):
        self.build, self.scratch, self.jobs, self.budget = build, scratch, jobs, budget
        self.base = scratch / "base"
        self.kills = {}  # file -> {test: mutants it killed}, to try the best test first
        self.lock = threading.Lock()
        self.base_time = {}

    def prepare(self, files):
        """the scratch tree, the unmutated objects and binaries of the tests that contain
        files, and each test's time without a mutant"""
        copy_tree(self.base)
        needed = set()
        for f in files:
            needed.update(self.build.tests_linking(self.build.units_containing(f, self.base)))
        self.build.tests = {t: v for t, v in self.build.tests.items() if t in needed}
        units = {(u, tuple(extra)) for extra, srcs in self.build.tests.values() for u in srcs}
        with concurrent.futures.ThreadPoolExecutor(self.jobs) as ex:
            futs = {ex.submit(self.build.compile, self.base, u, list(extra),
                              self.scratch / "obj" / obj_name(u, extra)): u
                    for u, extra in sorted(units)}
            for f in concurrent.futures.as_completed(futs):
                r = f.result()
                if r.returncode:
                    sys.exit(f"mutate: the unmutated {futs[f]} does not compile:\n{r.stderr}")
        bins = self.scratch / "bin"
        bins.mkdir()
        for t in self.build.tests:
            extra, srcs = self.build.tests[t]
            objs = [str(self.scratch / "obj" / obj_name(u, extra)) for u in srcs]
            r = self.build.link(self.base, t, objs, bins / t)
            if r.returncode:
                sys.exit(f"mutate: unit/{t} does not link:\n{r.stderr}")
            start = time.monotonic()
            ok, detail = run_test(bins / t, self.base, 300)
            self.base_time[t] = time.monotonic() - start
            if not ok:
                sys.exit(f"mutate: unit/{t} fails without any mutant ({detail}); fix it first")

    def timeout(self, test):
        return max(20.0, 20 * self.base_time[test])

    def run(self, mutant, worker):
        tree, wdir = worker
        start = time.monotonic()
        path = tree / mutant.file
        original = path.read_text()
        path.write_text(original[:mutant.start] + mutant.new + original[mutant.end:])
        try:
            units = self.build.units_containing(mutant.file, self.base)
            mutated = {}  # unit -> its mutated object, compiled when a test first needs it
            tests = self.build.tests_linking(units)
            with self.lock:
                kills = dict(self.kills.get(mutant.file, {}))
            tests.sort(key=lambda t: (-kills.get(t, 0), self.base_time[t], t))
            for t in tests:
                extra, srcs = self.build.tests[t]
                for u in sorted(units & set(srcs)):
                    key = (u, tuple(extra))
                    if key in mutated:
                        continue
                    obj = wdir / obj_name(u, extra)
                    r = self.build.compile(tree, u, list(extra), obj)
                    if r.returncode:
                        mutant.status = "stillborn"
                        err = [l for l in r.stderr.splitlines() if "error" in l]
                        mutant.detail = (err[0] if err else "does not compile")[:120]
                        return
                    mutated[key] = obj
                binary = wdir / ("unit-" + t)
                objs = [str(mutated.get((u, tuple(extra))) or
                            self.scratch / "obj" / obj_name(u, extra)) for u in srcs]
                r = self.build.link(tree, t, objs, binary)
                if r.returncode:
                    mutant.status, mutant.detail = "stillborn", f"unit/{t} does not link"
                    return
                ok, detail = run_test(binary, tree, self.timeout(t))
                if not ok:
                    mutant.status = "timeout" if ok is None else "killed"
                    mutant.detail = f"unit/{t}: {detail}"
                    with self.lock:
                        k = self.kills.setdefault(mutant.file, {})
                        k[t] = k.get(t, 0) + 1
                    return
            mutant.status = "survived"
            mutant.detail = "passed: " + " ".join(f"unit/{t}" for t in tests)
        except subprocess.TimeoutExpired:
            mutant.status, mutant.detail = "stillborn", "compiler ran past its time limit"
        finally:
            path.write_text(original)
            mutant.seconds = time.monotonic() - start

    def run_all(self, mutants):
        workers = queue.Queue()
        for i in range(self.jobs):
            tree = self.scratch / f"w{i}"
            shutil.copytree(self.base, tree)
            (self.scratch / f"wobj{i}").mkdir()
            workers.put((tree, self.scratch / f"wobj{i}"))
        deadline = time.monotonic() + self.budget if self.budget else None
        done = [0]

        def one(m):
            if deadline and time.monotonic() > deadline:
                return m
            w = workers.get()
            try:
                self.run(m, w)
            finally:
                workers.put(w)
            with self.lock:
                done[0] += 1
                print(f"mutate: [{done[0]}/{len(mutants)}] {m.status:9} {m.file}:{m.line} "
                      f"{m.op} {m.describe()}  {m.detail}", flush=True)
            return m

        with concurrent.futures.ThreadPoolExecutor(self.jobs) as ex:
            list(ex.map(one, mutants))


# ---- the report --------------------------------------------------------------------------------

def load_equivalent():
    """file -> {key: reason} from tools/mutate/equivalent.txt ("file key reason" lines)"""
    eq = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            file, key, reason = line.split(None, 2)
            eq.setdefault(file, {})[key] = reason
    return eq


def score(counts):
    dead = counts.get("killed", 0) + counts.get("timeout", 0)
    total = dead + counts.get("survived", 0)
    return dead, total, (100.0 * dead / total if total else None)


def report(mutants, files, untested, args, elapsed):
    by_file = {f: {} for f in files}
    for m in mutants:
        c = by_file[m.file]
        c[m.status] = c.get(m.status, 0) + 1
    total = {}
    for c in by_file.values():
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    cmd = "make mutate"
    if args.files_given:
        cmd += f' MUTATE_FILES="{" ".join(args.files)}"'
    if args.sample:
        cmd += f" MUTATE_SAMPLE={args.sample} MUTATE_SEED={args.seed}"
    if args.match:
        cmd += f' MUTATE_MATCH="{args.match}"'
    if args.budget:
        cmd += f" MUTATE_BUDGET={args.budget}"
    if args.rerun:  # where it was saved is the runner's business: say what it is
        cmd += " MUTATE_RERUN=<its results.json>" if args.origin else f" MUTATE_RERUN={args.rerun}"
    dead, n, pct = score(total)
    # a rerun finishes or refreshes the campaign its results.json came from: name that one too
    args.campaign = args.origin or cmd
    origin = f" (finishing `{args.origin}`)" if args.origin else ""
    lines = [f"Produced by `{cmd}`{origin} on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{len(mutants)} mutants, {elapsed / 60:.0f} min of it in this run with {args.jobs} jobs "
             f"(sources at `git describe` {args.describe}); building and running each mutant took "
             f"{sum(m.seconds for m in mutants) / 60:.0f} min in all, one after the other.", "",
             f"**Score: {dead} of {n} mutants killed by `make unit` alone"
             + (f" ({pct:.1f}%)" if pct is not None else "") + "**; "
             f"{total.get('equivalent', 0)} equivalent, {total.get('stillborn', 0)} stillborn "
             f"(did not compile), {total.get('not run', 0)} not run (time budget).", "",
             "| file | mutants | killed | timeout | survived | equivalent | stillborn | score |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for f in files:
        c = by_file[f]
        _, _, p = score(c)
        lines.append(f"| {f} | {sum(c.values())} | {c.get('killed', 0)} | {c.get('timeout', 0)} "
                     f"| {c.get('survived', 0)} | {c.get('equivalent', 0)} | "
                     f"{c.get('stillborn', 0)} | " + (f"{p:.0f}%" if p is not None else "-") + " |")
    if untested:
        lines += ["", "Not under unit test (no unit binary contains them; QEMU tests only): "
                  + ", ".join(f"`{f}`" for f in untested) + "."]
    surv = [m for m in mutants if m.status == "survived"]
    lines += ["", f"Survivors ({len(surv)}):", ""]
    lines += [f"- `{m.file}:{m.line}` {m.op} {m.describe()} in `{shorten(m.text)}` (`{m.key}`)"
              for m in surv] or ["- none"]
    eqv = [m for m in mutants if m.status == "equivalent"]
    if eqv:
        lines += ["", f"Equivalent ({len(eqv)}, reasons in tools/mutate/equivalent.txt):", ""]
        lines += [f"- `{m.file}:{m.line}` {m.op} {m.describe()}: {m.detail}" for m in eqv]
    return "\n".join(lines) + "\n"


def shorten(text, width=70):
    return text if len(text) <= width else text[:width - 3] + "..."


def describe():
    r = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    env = os.environ.get
    ap.add_argument("--files", nargs="*", default=(env("MUTATE_FILES") or "").split() or None)
    ap.add_argument("--sample", type=int, default=int(env("MUTATE_SAMPLE") or 0))
    ap.add_argument("--seed", type=int, default=int(env("MUTATE_SEED") or 19))
    ap.add_argument("--jobs", type=int, default=int(env("MUTATE_JOBS") or os.cpu_count() or 1))
    ap.add_argument("--budget", type=int, default=int(env("MUTATE_BUDGET") or 0))
    ap.add_argument("--docs", help="rewrite the generated section of this file")
    ap.add_argument("--min-score", type=float, default=float(env("MUTATE_MIN_SCORE") or 0),
                    help="exit status 1 when the score is below this percentage")
    ap.add_argument("--match", default=env("MUTATE_MATCH") or "",
                    help='only mutants whose "file:line op" matches this regular expression '
                         '(e.g. "virtio_net.c:(266|738) ")')
    ap.add_argument("--rerun", default=env("MUTATE_RERUN") or "",
                    help="a results.json of an earlier run: run its survivors again (after new "
                         "tests), keep the others' results, report the whole")
    ap.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    args = ap.parse_args()
    args.files_given = bool(args.files)
    args.files = args.files or DEFAULT_FILES

    args.describe = describe()  # the sources the scratch copy is taken from, not those at the end
    # SIGTERM (a budget from outside, a killed make) ends like ^C: the scratch tree is removed
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    build = Build()
    files = sorted({str(Path(p).relative_to(ROOT)) for g in args.files
                    for p in glob.glob(str(ROOT / g))})
    if not files:
        sys.exit(f"mutate: no file matches {' '.join(args.files)}")
    untested = [f for f in files if not build.units_containing(f, ROOT)]
    files = [f for f in files if f not in untested]

    rng = random.Random(args.seed)
    mutants = []
    prior = {}
    args.origin = ""
    if args.rerun:
        # the mutants of an earlier run: its survivors run again, the rest keep their status
        saved = json.loads(Path(args.rerun).read_text())
        if isinstance(saved, dict):  # {"command": the campaign's first command, "mutants": [...]}
            args.origin, saved = saved.get("command", ""), saved["mutants"]
        for r in saved:
            prior[(r["file"], r["key"], r["new"])] = r
        if not args.files_given:
            files = sorted({f for f, _, _ in prior} - set(untested))
    for f in files:
        ms = mutants_of(f, (ROOT / f).read_text())
        if args.rerun:
            # each earlier mutant once: among equal lines, the one nearest its old line number
            best = {}
            for m in ms:
                k = (m.file, m.key, m.new)
                if k in prior and (k not in best or abs(m.line - prior[k]["line"]) <
                                   abs(best[k].line - prior[k]["line"])):
                    best[k] = m
            ms = sorted(best.values(), key=lambda m: (m.start, m.op, m.new))
            for m in ms:
                r = prior[(m.file, m.key, m.new)]
                if r["status"] not in ("survived", "not run"):
                    m.status, m.detail = ("survived" if r["status"] == "equivalent" else r["status"],
                                          r["detail"])
                    m.seconds = r.get("seconds", 0.0)
        if args.match:
            ms = [m for m in ms if re.search(args.match, f"{m.file}:{m.line} {m.op}")]
        if args.sample and len(ms) > args.sample and not args.rerun:
            ms = sorted(rng.sample(ms, args.sample), key=lambda m: (m.start, m.op, m.new))
        mutants += ms
    if args.list:
        for m in mutants:
            print(f"{m.file}:{m.line} {m.op} {m.describe()} {m.key}")
        print(f"{len(mutants)} mutants")
        return 0

    print(f"mutate: {len(mutants)} mutants in {len(files)} files, {args.jobs} jobs"
          + (f", at most {args.budget} s" if args.budget else ""), flush=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        camp = Campaign(build, Path(tmp), args.jobs, args.budget)
        camp.prepare(files)
        # interleave files so a budget cut leaves every file sampled
        order = sorted(mutants, key=lambda m: (rng.random(),))
        camp.run_all([m for m in order if m.status in ("not run", "survived") and
                      (not args.rerun or prior[(m.file, m.key, m.new)]["status"] in
                       ("survived", "not run"))])
    elapsed = time.monotonic() - start

    eq = load_equivalent()
    for m in mutants:
        if m.status == "survived" and m.key in eq.get(m.file, {}):
            m.status, m.detail = "equivalent", eq[m.file][m.key]

    OUT.mkdir(parents=True, exist_ok=True)
    text = report(mutants, files, untested, args, elapsed)
    (OUT / "report.md").write_text(text)
    (OUT / "results.json").write_text(json.dumps(
        {"command": args.campaign,
         "mutants": [{s: getattr(m, s) for s in ("file", "line", "op", "old", "new", "key", "status",
                                                 "detail", "seconds")} for m in mutants]}, indent=1))
    if args.docs:
        doc = ROOT / args.docs
        old = doc.read_text()
        if BEGIN not in old or END not in old:
            sys.exit(f"mutate: {args.docs} has no {BEGIN} ... {END} section")
        head, rest = old.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(head + BEGIN + "\n" + text + END + tail)
    print(text.split("\n\n")[1])
    print(f"mutate: report in {OUT / 'report.md'}")
    dead, n, pct = score({s: sum(1 for m in mutants if m.status == s)
                          for s in ("killed", "timeout", "survived")})
    if args.min_score and (pct is None or pct < args.min_score):
        print(f"mutate: score below {args.min_score}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

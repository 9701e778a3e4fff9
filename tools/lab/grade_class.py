#!/usr/bin/python3
"""
tools/lab/grade_class.py - grade students' trees with this tree's checks (teacher's tree only;
docs/lab-teachers.md has the workflow).

    grade_class.py --submission DIR [--json FILE]       make grade SUBMISSION=DIR GRADE_JSON=FILE
    grade_class.py --out OUT [--jobs N] SUBMISSIONS     make grade-class SUBMISSIONS=... OUT=...

Only the student's sources count: the files that hold solution regions in this tree (found as
tools/lab/mklab.py finds them). A scratch copy of this tree's tracked files gets the
submission's versions of those files and nothing else of it: its tests, tools, Makefile and
harnesses are never read, so rewriting them gains nothing. A file the submission lacks (or
that is not a plain file, or is over 1 MiB) is graded as the stub the students were given, and
the JSON's notes say so. tools/lab/grade.py then runs inside the scratch copy, which is deleted
afterwards (GRADE_KEEP=1 keeps it): nothing is written into DIR, and one submission cannot
touch another's build.

Privilege: the grading needs none. Run as an ordinary user, each submission is graded by that
user in a user namespace of its own (tools/privnet.sh with VNET_USERNS=1: its own network
namespaces and TAPs, gone when it ends). Run as root, the student's code is built and run as
an unprivileged account instead (GRADE_USER, default nobody; GRADE_USER=root keeps root).

Time: each submission has a budget (--budget, default BUDGET s, for building and every check).
grade.py stops starting checks when it runs out (they are recorded as timeouts), and the whole
grading of that submission is killed BUDGET_GRACE s later whatever it is doing. A class runs
--jobs submissions at a time (default and at most the CPU count), so it takes at most
ceil(submissions / jobs) x (budget + grace).

A class writes OUT/NAME.json (grade.py's JSON, with "submission" and "notes") and OUT/NAME.log
(grade.py's output) for each subdirectory NAME, and OUT/grades.csv, rewritten as each
submission is done: submission,total,stage1..stage7, then optional,stage8 (the optional
stages' sum and each of them, apart from the required total: grade.py, totals).
"""
import argparse
import concurrent.futures
import csv
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import grade  # noqa: E402
import mklab  # noqa: E402

BUDGET = 1800        # s per submission: building and every check
BUDGET_GRACE = 60    # s more before its grading is killed outright
MAX_SOURCE = 1 << 20
PRIVNET = "tools/privnet.sh"


def cpus():
    return len(os.sched_getaffinity(0))


def really_root():
    """uid 0 of the machine, not of a user namespace (where make test's tools/privnet.sh puts
    an ordinary user, mapped to uid 0)."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split()[:3] == ["0", "0", "4294967295"]
    except OSError:
        return True


# ---- the scratch tree -------------------------------------------------------------------------

def student_files():
    """The sources that hold solution regions here: the only files a submission supplies."""
    return sorted({r.path for r in mklab.regions(ROOT)})


def handed_out(rel):
    """The file as the students got it: every region stubbed."""
    text = (ROOT / rel).read_text(errors="surrogateescape")
    return mklab.render(mklab.parse(rel, text, mklab.load_stubs(ROOT)), set(mklab.STAGES))


def make_scratch(submission, parent):
    """A copy of this tree with the submission's sources in it; returns (dir, notes)."""
    scratch = Path(tempfile.mkdtemp(prefix="vnet-grade-", dir=parent))
    tree = scratch / "tree"
    for rel in mklab.tracked_files(ROOT):
        src = ROOT / rel
        if src.is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tree / rel, follow_symlinks=False)
    notes = []
    for rel in student_files():
        theirs = submission / rel
        dst = tree / rel
        if theirs.is_symlink() or not theirs.is_file():
            why = "a symbolic link" if theirs.is_symlink() else "missing"
        elif theirs.stat().st_size > MAX_SOURCE:
            why = f"larger than {MAX_SOURCE} bytes"
        else:
            shutil.copyfile(theirs, dst)
            continue
        dst.write_text(handed_out(rel), errors="surrogateescape")
        notes.append(f"{rel}: {why} in the submission; graded as handed out (every region a stub)")
    stamp = submission / mklab.STAMP
    made_from = stamp.read_text(errors="replace") if stamp.is_file() and not stamp.is_symlink() else ""
    here = mklab.head_commit(ROOT)
    if here and "commit " in made_from and f"commit {here}" not in made_from:
        notes.append(f"the submission's {mklab.STAMP} names another commit than this tree's ({here}): "
                     "its sources may not fit these checks")
    return scratch, notes


# ---- one submission ----------------------------------------------------------------------------

class Runner:
    def __init__(self, budget, jobs_per_submission, grade_args, user):
        self.budget = budget
        self.make_jobs = jobs_per_submission
        self.grade_args = grade_args
        self.user = user  # None: as we are
        self.workers = set()  # PIDs of the gradings running now
        self.lock = threading.Lock()
        self.stopping = False  # interrupted: what ends now is not a result

    def stop_all(self):
        """Kill every grading now running, with all it started."""
        with self.lock:
            self.stopping = True
            for pid in list(self.workers):
                grade.kill_tree(pid)

    def sweep(self):
        """Kill what a finished grading left behind: each grade.py is the subreaper of what it
        starts, so what is left when it ends comes to us, a subreaper too."""
        with self.lock:
            grade.kill_strays(keep=self.workers)

    def command(self, tree):
        """grade.py inside the scratch tree, in a user namespace of its own, as self.user."""
        argv = [PRIVNET, grade.PYTHON, "tools/lab/grade.py", "--json", str(tree / "grade.json"),
                "--budget", str(self.budget), "--jobs", str(self.make_jobs), *self.grade_args]
        if self.user:
            argv = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
                    "--clear-groups", "--"] + argv
        return argv

    def env(self, scratch):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VNET_", "GRADE_", "PYTEST")) and k not in ("FULL", "MAKEFLAGS", "MFLAGS",
                                                                                 "MAKELEVEL")}
        env.update(VNET_USERNS="1", HOME=str(scratch))
        if os.environ.get("VNET_NET") == "socket" and os.environ.get("VNET_NET_WHY"):
            env.update(VNET_NET="socket", VNET_NET_WHY=os.environ["VNET_NET_WHY"])  # asked for: keep it
        return env

    def grade(self, name, submission, log_path, echo=False):
        """Grade one submission; returns grade.py's JSON with "submission" and "notes" added."""
        parent = os.environ.get("GRADE_SCRATCH") or None
        scratch, notes = make_scratch(submission, parent)
        tree = scratch / "tree"
        try:
            if self.user:
                os.chmod(scratch, 0o755)
                for p in [scratch, *scratch.rglob("*")]:
                    os.lchown(p, self.user.pw_uid, self.user.pw_gid)
            status, seconds = self.run(self.command(tree), tree, self.env(scratch), log_path, echo)
            doc = self.result(tree / "grade.json", status, log_path)
        finally:
            if os.environ.get("GRADE_KEEP") == "1":
                print(f"grade: {name}: scratch tree kept in {tree}", flush=True)
            else:
                shutil.rmtree(scratch, ignore_errors=True)
        doc.update(submission=name, notes=notes, wall_seconds=round(seconds, 1))
        return doc

    def run(self, argv, cwd, env, log_path, echo):
        """(exit status or None if killed, seconds): the output to log_path, and to ours if echo."""
        limit = self.budget + BUDGET_GRACE
        start = time.monotonic()
        with open(log_path, "wb") as logf:
            with self.lock:
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE if echo else logf, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                self.workers.add(proc.pid)
            copier = threading.Thread(target=copy_out, args=(proc.stdout, logf), daemon=True)
            if echo:
                copier.start()
            try:
                status = proc.wait(limit)
            except subprocess.TimeoutExpired:
                grade.kill_tree(proc.pid)
                proc.wait()
                status = None
            except KeyboardInterrupt:  # it runs in a session of its own: ^C is ours to pass on
                self.stop_all()
                raise
            with self.lock:
                self.workers.discard(proc.pid)
            self.sweep()
            if echo:
                copier.join(10)
            if status is None:
                logf.write(f"\ngrade: killed after {limit:g} s (budget {self.budget:g} s)\n".encode())
        return status, time.monotonic() - start

    def result(self, path, status, log_path):
        """grade.py's JSON; without one (it never started), every check fails with why."""
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
        text = log_path.read_text(errors="replace")
        why = ("grading was killed before it wrote anything" if status is None
               else f"the grader ended (status {status}) before it wrote anything")
        grading = grade.Grading(grade.STAGES)
        grading.checks = grade.checks_of(grade.STAGES)
        for c in grading.checks:
            c.status, c.reason = grade.FAIL, f"{why}; its output ends:\n{grade.tail(text)}"
        rows = grading.rows()
        _, full, _, optional_full = grade.totals(rows)
        return {"total": 0, "full": full, "optional": 0, "optional_full": optional_full, "stages": rows,
                "checks": [{"stage": c.stage, "name": c.name, "points": 0, "status": c.status,
                            "reason": c.reason, "seconds": 0} for c in grading.checks]}


def copy_out(pipe, logf):
    for line in iter(pipe.readline, b""):
        logf.write(line)
        logf.flush()
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()


# ---- a class ------------------------------------------------------------------------------------

def write_csv(path, docs):
    """grades.csv, a row per submission graded so far: submission,total and the required
    stages' columns as always, then (when any optional stage was graded) optional, the sum of
    the optional stages, and their own columns: the first columns mean the same every year."""
    rows = [r for d in docs.values() for r in d["stages"]]
    required = sorted({r["stage"] for r in rows if not r.get("optional")})
    optional = sorted({r["stage"] for r in rows if r.get("optional")})
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["submission", "total"] + [f"stage{n}" for n in required]
                   + (["optional"] + [f"stage{n}" for n in optional] if optional else []))
        for name in sorted(docs):
            score = {r["stage"]: r["score"] for r in docs[name]["stages"]}
            opt = [docs[name].get("optional", "")] + [score.get(n, "") for n in optional] if optional else []
            w.writerow([name, docs[name]["total"]] + [score.get(n, "") for n in required] + opt)
    os.replace(tmp, path)


def summary(doc):
    """One submission's score: "total/full", and the optional stages' apart."""
    return f"{doc['total']}/{doc['full']}" + (f" (optional: {doc['optional']}/{doc['optional_full']})"
                                             if doc.get("optional_full") else "")


def grade_class(runner, submissions, out, jobs, only):
    names = sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if only:
        unknown = set(only) - set(names)
        if unknown:
            sys.exit(f"grade-class: no submission named {', '.join(sorted(unknown))} in {submissions}")
    todo = [n for n in names if not only or n in only]
    jobs = max(1, min(jobs, len(todo)))
    runner.make_jobs = max(1, cpus() // jobs)
    out.mkdir(parents=True, exist_ok=True)
    docs = {}
    for n in names:  # a regrade of some keeps the others' results in the CSV
        if n not in todo and (out / f"{n}.json").is_file():
            docs[n] = json.loads((out / f"{n}.json").read_text())
    lock = threading.Lock()
    start = time.monotonic()
    print(f"grade-class: {len(todo)} submission(s), {jobs} at a time, at most {runner.budget:g} s each "
          f"(+{BUDGET_GRACE} s grace): at most {-(-len(todo) // jobs) * (runner.budget + BUDGET_GRACE):.0f} s",
          flush=True)

    def one(name):
        doc = runner.grade(name, submissions / name, out / f"{name}.log")
        if runner.stopping:
            return
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        with lock:
            docs[name] = doc
            write_csv(out / "grades.csv", docs)
            print(f"grade-class: {name}: {summary(doc)} in {doc['wall_seconds']:.0f} s"
                  + "".join(f"\n    note: {n}" for n in doc["notes"]), flush=True)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(one, n) for n in todo]
        try:
            for f in futures:
                f.result()
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            runner.stop_all()
            sys.exit(f"grade-class: interrupted; {out} has the submissions that finished before")
    write_csv(out / "grades.csv", docs)
    print(f"grade-class: {len(todo)} graded in {time.monotonic() - start:.0f} s; {out / 'grades.csv'}")


def main():
    ap = argparse.ArgumentParser(description="grade students' trees with this tree's checks")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--submission", type=Path, help="grade this one tree")
    g.add_argument("--out", type=Path, help="grade every subdirectory of SUBMISSIONS into this directory")
    ap.add_argument("submissions", type=Path, nargs="?", help="the directory of submissions (with --out)")
    ap.add_argument("--json", help="with --submission: write its JSON here")
    ap.add_argument("--only", action="append", help="with --out: regrade only this submission (repeatable)")
    ap.add_argument("--jobs", type=int, default=cpus(), help="submissions at once (at most the CPU count)")
    ap.add_argument("--budget", type=float, default=BUDGET, help="seconds per submission")
    ap.add_argument("--grade-args", default="", help="more arguments for grade.py (--stage 2, --timeout S)")
    args = ap.parse_args()
    if not (ROOT / ".git").exists():
        sys.exit("grade: grading submissions needs this tree's git checkout (its tracked files are copied)")
    user = None
    if really_root():
        name = os.environ.get("GRADE_USER", "nobody")
        if name != "root":
            try:
                user = pwd.getpwnam(name)
            except KeyError:
                sys.exit(f"grade: GRADE_USER={name}: no such account (GRADE_USER=root grades as root)")
    grade.become_subreaper()
    extra = shlex.split(args.grade_args)
    if args.submission:
        if not args.submission.is_dir():
            sys.exit(f"grade: {args.submission} is not a directory")
        runner = Runner(args.budget, cpus(), extra, user)
        who = f" as {user.pw_name}" if user else ""
        print(f"grade: {args.submission}: its sources in a scratch copy of {ROOT}{who}", flush=True)
        log_path = Path(tempfile.mkstemp(prefix="vnet-grade-", suffix=".log")[1])
        try:
            doc = runner.grade(args.submission.name, args.submission, log_path, echo=True)
        finally:
            log_path.unlink(missing_ok=True)
        for n in doc["notes"]:
            print(f"grade: note: {n}")
        if args.json:
            Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        if not doc["full"]:  # only optional stages asked for (--grade-args "--stage 8")
            return 0 if doc.get("optional") == doc.get("optional_full") else 1
        return 0 if doc["total"] == doc["full"] else 1
    if not args.submissions or not args.submissions.is_dir():
        sys.exit("grade-class: SUBMISSIONS must be a directory of submissions")
    runner = Runner(args.budget, 1, extra, user)
    grade_class(runner, args.submissions, args.out, min(args.jobs, cpus()), args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())

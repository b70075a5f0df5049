"""Stage two in a second process, for the history audit.

The audit's Python work is two halves: the reader (git's output, stage one in Hyperscan) and stage two
(matching and judging the blobs stage one lets through). In one interpreter they share one core (the
GIL), however many the machine has, and git waits for them: on hummingbot the process never used more
than one core while git sat half idle. Here stage two runs in a fresh interpreter of its own: the
reader thread writes each blob that passes stage one to it over a pipe, and it sends back only the
blobs with findings (their findings and matches) and, at the end, its counts.

A fresh interpreter, not a fork: it holds only the engine (no copy of the parent's memory counted
twice in the process tree), it is safe beside the parent's threads, and nothing of the scanned
repository decides what it imports: it starts isolated (`-I`: no current folder on sys.path, no
PYTHON* variables) with the parent's own sys.path and this package's folder first.

Frames, parent to worker: the boot frame (sys.path), the engine frame (rules, examples, entropy), then
one frame per blob (`<IQ` lengths, a small pickle of id, path and gates, the bytes) and an empty one at
the end. Worker to parent: `<I` length and a pickle: ("hit", id, findings, matches), ("done", stats) or
("fail", one line). Rules travel as their position in the engine's list (the parent's own objects
come back). Only the parent writes to this worker and reads it: the pickles cross a pipe between the
two processes of one run, nothing else can feed them.
"""
from __future__ import annotations

import pickle
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from scanner.errors import CexguardError

if TYPE_CHECKING:
    from scanner.engine import Engine, Matches, Prepared
    from scanner.models import Finding, ScanStats

WORKER_MIN_BLOBS = 5000  # below, stage two stays in this process (the worker costs ~0.1 s to start)
_BLOB = struct.Struct("<IQ")
_LEN = struct.Struct("<I")

# the worker's first lines: sys.path from the boot frame, then this module (nothing else is imported
# before it, so nothing from the current folder or the environment)
_BOOT = (
    "import sys, struct, pickle\n"
    "i = sys.stdin.buffer\n"
    "n, = struct.unpack('<I', i.read(4))\n"
    "sys.path[:0] = pickle.loads(i.read(n))\n"
    "from scanner.sources.stage2 import serve\n"
    "serve(i, sys.stdout.buffer)\n"
)


def worker_wanted(jobs: int, blobs: int) -> bool:
    """jobs 1: one process; 2 or more: the worker; 0 (auto): the worker with two cores or more and a
    history large enough to gain from it."""
    if jobs == 1:
        return False
    if jobs >= 2:
        return True
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores >= 2 and blobs >= WORKER_MIN_BLOBS


class _RulePickler(pickle.Pickler):
    def __init__(self, f: IO[bytes], index: dict[int, int]) -> None:
        super().__init__(f, protocol=pickle.HIGHEST_PROTOCOL)
        self._index = index

    def persistent_id(self, obj: Any) -> int | None:
        return self._index.get(id(obj))


class _RuleUnpickler(pickle.Unpickler):
    def __init__(self, f: IO[bytes], rules: list[Any]) -> None:
        super().__init__(f)
        self._rules = rules

    def persistent_load(self, pid: Any) -> Any:
        return self._rules[pid]


class Worker:
    """The parent's side: `send` from the reader thread, `results` in the main thread."""

    def __init__(self, engine: Engine) -> None:
        import os
        import tempfile

        import scanner

        self.engine = engine
        self.err = tempfile.TemporaryFile()
        pkg_dir = os.path.dirname(os.path.dirname(os.path.abspath(scanner.__file__)))
        here = os.getcwd()
        paths = [pkg_dir] + [p for p in sys.path if p and os.path.isabs(p) and p != here]
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
            cwd=pkg_dir, bufsize=0, start_new_session=False)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.inp, self.out = self.proc.stdin, self.proc.stdout
        from scanner.sources.reading import _grow_pipe

        _grow_pipe(self.inp)  # (1 MiB: fewer wake-ups per blob handed over)
        boot = pickle.dumps(paths)
        spec = pickle.dumps((engine.rules, sorted(engine.examples), engine.min_entropy), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.inp.write(_LEN.pack(len(boot)) + boot + _LEN.pack(len(spec)) + spec)
        except OSError:
            pass  # (it died at once: `results` says why)
        self.broken = False

    def send(self, oid: str, path: str, data: bytes, pre: Prepared) -> bool:
        """One blob that passed stage one (the reader thread); False once the worker is gone."""
        text, gates, raw_gates = pre
        meta = pickle.dumps((oid, path, gates, raw_gates, None if text is data else text),
                            protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.inp.write(_BLOB.pack(len(meta), len(data)) + meta)
            self.inp.write(data)
        except (OSError, ValueError):  # (a broken pipe: the worker died; closed: the scan is stopping)
            self.broken = True
            return False
        return True

    def end(self) -> None:
        """No more blobs (the reader thread)."""
        try:
            self.inp.write(_BLOB.pack(0, 0))
            self.inp.close()
        except (OSError, ValueError):
            self.broken = True

    def results(self, stats: ScanStats) -> Iterator[tuple[str, list[Finding], Matches]]:
        """Each blob with findings as the worker finds it (or with none but a private key a path may make
        one: Engine.path_may_matter); its counts are added to `stats` at the end.
        CexguardError if it stops before its end (killed, out of memory, a bug): what it did not judge
        is unknown, so the audit is not reported as complete."""
        rules = self.engine.rules
        while True:
            head = _read_exact(self.out, _LEN.size)
            if head is None:
                break
            (n,) = _LEN.unpack(head)
            body = _read_exact(self.out, n)
            if body is None:
                break
            import io

            msg = _RuleUnpickler(io.BytesIO(body), rules).load()
            if msg[0] == "hit":
                yield msg[1], msg[2], msg[3]
            elif msg[0] == "done":
                stats.merge(msg[1])
                return
            else:
                raise CexguardError(f"the stage-two worker process failed: {msg[1]}; run again with -j 1")
        raise CexguardError(f"the stage-two worker process stopped ({self._why()}); run again with -j 1")

    def _why(self) -> str:
        code = self.proc.poll()
        if code is None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                return "no answer"
        if code < 0:
            import signal

            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        try:
            self.err.seek(0)
            lines = [x for x in self.err.read().decode("utf-8", "replace").splitlines() if x.strip()]
        except (OSError, ValueError):
            lines = []
        return f"exit {code}" + (f": {lines[-1][:200]}" if lines else "")

    def close(self) -> None:
        for f in (self.inp, self.out):
            try:
                f.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.err.close()


def _read_exact(f: IO[bytes], n: int) -> bytes | None:
    """Exactly n bytes from a pipe; None if it ends first."""
    got = f.read(n) or b""
    while len(got) < n:
        more = f.read(n - len(got))
        if not more:
            return None
        got += more
    return got


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """The worker: builds the engine from the parent's rules, judges each blob, answers the hits."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent handles it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 0
    try:
        _serve(inp, out)
    except BrokenPipeError:
        code = 1  # the parent left (stopped, interrupted): nothing to say to anyone
    except BaseException as e:  # one line to the parent, never a traceback on the user's terminal
        code = 3
        try:
            _send(out, ("fail", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]), {})
        except OSError:
            pass
    try:
        out.flush()
    except OSError:
        pass
    import os

    os._exit(code)  # (no interpreter teardown: the parent is waiting for the pipe to close)


def _serve(inp: IO[bytes], out: IO[bytes]) -> None:
    from scanner.engine import Engine
    from scanner.models import GitProvenance, ScanStats

    head = _read_exact(inp, _LEN.size)
    if head is None:
        return
    spec = _read_exact(inp, _LEN.unpack(head)[0])
    if spec is None:
        return
    rules, examples, min_entropy = pickle.loads(spec)
    # stage one ran in the parent: the worker never gates, so no Hyperscan database to build
    engine = Engine(rules, examples=examples, min_entropy=min_entropy, prefilter="regex")
    index = {id(r): i for i, r in enumerate(engine.rules)}
    stats = ScanStats()
    match, judge, may_matter = engine.match, engine.judge, engine.path_may_matter
    while True:
        head = _read_exact(inp, _BLOB.size)
        if head is None:
            raise EOFError("the parent's stream ended inside a frame")
        m_len, d_len = _BLOB.unpack(head)
        if not m_len:
            break
        meta = _read_exact(inp, m_len)
        data = _read_exact(inp, d_len) if d_len else b""
        if meta is None or data is None:
            raise EOFError("the parent's stream ended inside a blob")
        oid, path, gates, raw_gates, text = pickle.loads(meta)
        m = match(data, (data if text is None else text, gates, raw_gates), paths=(path,), stats=stats)
        found = judge(m, path, stats=stats, provenance=GitProvenance(blob=oid))
        if found or may_matter(m):  # (none here, some at a path: Engine.path_may_matter)
            _send(out, ("hit", oid, found, m), index)
    _send(out, ("done", stats), index)


def _send(out: IO[bytes], msg: Any, index: dict[int, int]) -> None:
    import io

    buf = io.BytesIO()
    _RulePickler(buf, index).dump(msg)
    body = buf.getvalue()
    out.write(_LEN.pack(len(body)) + body)
    out.flush()

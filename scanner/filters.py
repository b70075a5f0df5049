"""Filters only remove findings: documentation examples, the ignore file, the baseline, confidence."""
from __future__ import annotations

from pathlib import Path
from collections.abc import Iterable

from scanner.config import IGNORE_FILE, Config
from scanner.errors import CexguardError
from scanner.models import CONFIDENCES, Finding, ScanStats


def read_ignore_file(path: Path, text: str | None = None) -> set[str]:
    """Fingerprints, one per line (anything after the fingerprint on the line is a comment).
    `text`: the file's contents when they were read from a commit. A symlink, FIFO or device is
    refused (read_small_file)."""
    from scanner.config import read_small_file

    fps: set[str] = set()
    if text is None:
        data = read_small_file(path, "ignore file")
        if data is None:
            return fps
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CexguardError(f"cannot read ignore file {path}: not UTF-8") from None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fp = line.split()[0]
        if not fp.startswith("sha256:"):
            raise CexguardError(f"{path}:{n}: expected a fingerprint (sha256:...), not a secret or a path")
        fps.add(fp)
    return fps


def drop_excluded(findings: Iterable[Finding], patterns: tuple[str, ...], stats: ScanStats) -> list[Finding]:
    """The findings whose path no --exclude GLOB matches (as `scan` matches paths under its root; in an
    organisation's report a GLOB may also name `REPOSITORY/path`); each path dropped is counted and
    listed, as `scan` lists what it excluded."""
    from scanner.sources.files import _excluded, note_excluded

    if not patterns:
        return list(findings)
    out, dropped = [], set()
    for f in findings:
        where = [f.path]
        repo = f.git.repository if f.git is not None else None
        if repo:
            where.append(f"{repo}/{f.path}")
        if any(_excluded(w, patterns) for w in where):
            dropped.add(where[-1])
            continue
        out.append(f)
    for path in sorted(dropped):
        note_excluded(stats, path)
    return out


def apply(findings: Iterable[Finding], *, config: Config, baseline_path: str | None = None,
          include_examples: bool = False, min_confidence: str = "low", stats: ScanStats | None = None) -> list[Finding]:
    findings = list(findings)
    stats = stats if stats is not None else ScanStats()
    include_examples = include_examples or config.include_examples
    out = []
    examples = 0
    for f in findings:
        if f.example and not include_examples:
            examples += 1
            continue
        out.append(f)
    stats.suppress("documentation_example", examples)
    ignore_path = config.ignore_file or (config.root / IGNORE_FILE)
    ignored = read_ignore_file(Path(ignore_path), config.ignore_text)
    if ignored:
        before = len(out)
        out = [f for f in out if f.fingerprint not in ignored]
        stats.suppress("ignore_file", before - len(out))
    if baseline_path:
        from scanner.baseline import read_baseline

        known = read_baseline(baseline_path)
        before = len(out)
        out = [f for f in out if f.fingerprint not in known]
        stats.suppress("baseline", before - len(out))
    floor = CONFIDENCES.index(min_confidence)
    if floor:
        before = len(out)
        out = [f for f in out if CONFIDENCES.index(f.confidence) >= floor]
        stats.suppress("below_min_confidence", before - len(out))
    return sorted(out, key=lambda f: (f.path, f.line, f.column, f.rule))

"""The org audit's state: one SQLite database in the state folder (default `.cexguard-org/`).

Per repository: the refs (name -> object id) its last completed audit covered, its findings (every
one ever found, unfiltered: filters apply at report time), and its errors. Per run and repository:
what was audited (full / incremental / unchanged / error), blobs and bytes scanned, duration. Only
the client writes, one transaction per finished repository, so a killed client, worker or Ctrl-C
loses at most the repositories in flight, never a recorded one.

The database holds the secrets found (like a report written with --show-secrets), so that a later
run can still report, verify and pair them: the folder is created 0700, the file 0600, and a
`.gitignore` of `*` keeps it out of any commit.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.errors import CexguardError
from scanner.models import Finding, GitProvenance
from scanner.org.repos import RepoSpec

DB_NAME = "state.sqlite"
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL, repositories INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS repos (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL,
    tips TEXT,                -- JSON {ref: oid} of the last completed audit; NULL: never completed
    audited_at REAL, last_error TEXT, fork INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS audits (
    run INTEGER NOT NULL, repo TEXT NOT NULL, mode TEXT NOT NULL, blobs INTEGER NOT NULL, bytes INTEGER NOT NULL,
    findings INTEGER NOT NULL, duration REAL NOT NULL, fetch TEXT, worker TEXT, error TEXT, finished REAL NOT NULL,
    PRIMARY KEY (run, repo));
CREATE TABLE IF NOT EXISTS findings (
    repo TEXT NOT NULL, fingerprint TEXT NOT NULL, path TEXT NOT NULL, run INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (repo, fingerprint, path));
"""


@dataclass
class Outcome:
    """What one repository's task returns (plain data: it crosses process and machine boundaries)."""

    repo: str  # RepoSpec.id
    mode: str  # full | incremental | unchanged | error
    tips: dict[str, str] | None = None
    findings: list[Finding] | None = None
    blobs: int = 0
    nbytes: int = 0
    duration: float = 0.0
    fetch: str | None = None  # cloned | fetched | None (local)
    worker: str | None = None
    error: str | None = None
    stats: dict[str, Any] | None = None


def finding_to_row(f: Finding) -> str:
    d = {"rule": f.rule, "kind": f.kind, "path": f.path, "line": f.line, "end_line": f.end_line, "column": f.column,
         "secret": f.secret, "fingerprint": f.fingerprint, "confidence": f.confidence, "paired_with": f.paired_with,
         "example": f.example, "meta": f.provenance.to_dict() if f.provenance is not None else {},
         "verify": f.verify}
    return json.dumps(d, default=str, ensure_ascii=True)


def finding_from_row(text: str) -> Finding:
    d = json.loads(text)
    return Finding(rule=d["rule"], kind=d["kind"], path=d["path"], line=d["line"], end_line=d["end_line"],
                   column=d["column"], secret=d["secret"], fingerprint=d["fingerprint"], confidence=d["confidence"],
                   paired_with=d["paired_with"], example=d["example"],
                   provenance=GitProvenance.from_dict(d["meta"]) if d.get("meta") else None, verify=d.get("verify", ""))


class State:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            ignore = self.folder / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# cexguard org state: holds the secrets found; never commit it\n*\n")
            db = self.folder / DB_NAME
            if not db.exists():
                os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
            self.db = sqlite3.connect(db, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise CexguardError(f"cannot open the state database in {self.folder}: {e}") from None
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise CexguardError(f"{self.folder}: state from another cexguard version (schema {row[0]}); "
                                "use a new --state-dir")

    def close(self) -> None:
        self.db.close()

    # -- runs --------------------------------------------------------------------------------
    def begin_run(self) -> tuple[int, bool]:
        """(run id, resumed): the last run again if it never finished (Ctrl-C, a killed client), so
        the repositories it completed are not audited again; else a new run."""
        row = self.db.execute("SELECT id, finished FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None and row[1] is None:
            return int(row[0]), True
        cur = self.db.execute("INSERT INTO runs (started) VALUES (?)", (time.time(),))
        return int(cur.lastrowid or 0), False

    def finish_run(self, run: int, repositories: int) -> None:
        self.db.execute("UPDATE runs SET finished=?, repositories=? WHERE id=?", (time.time(), repositories, run))

    def done_in_run(self, run: int) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT repo FROM audits WHERE run=?", (run,))}

    # -- repositories ------------------------------------------------------------------------
    def register(self, specs: Iterable[RepoSpec]) -> None:
        with self._tx():
            self.db.executemany(
                "INSERT INTO repos (id, name, source, kind, fork) VALUES (?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET name=excluded.name, fork=excluded.fork",
                [(s.id, s.name, s.source, s.kind, int(s.fork)) for s in specs])

    def tips(self, repo: str) -> dict[str, str] | None:
        row = self.db.execute("SELECT tips FROM repos WHERE id=?", (repo,)).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def record(self, run: int, o: Outcome) -> None:
        """One finished repository, atomically: its audit row, new findings, refs covered, error."""
        now = time.time()
        with self._tx():
            self.db.execute("INSERT OR REPLACE INTO audits VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                            (run, o.repo, o.mode, o.blobs, o.nbytes, len(o.findings or ()), o.duration, o.fetch,
                             o.worker, o.error, now))
            if o.findings:
                self.db.executemany("INSERT OR IGNORE INTO findings VALUES (?,?,?,?,?)",
                                    [(o.repo, f.fingerprint, f.path, run, finding_to_row(f)) for f in o.findings])
            if o.error is None and o.tips is not None:
                self.db.execute("UPDATE repos SET tips=?, audited_at=?, last_error=NULL WHERE id=?",
                                (json.dumps(o.tips, sort_keys=True), now, o.repo))
            else:
                self.db.execute("UPDATE repos SET last_error=? WHERE id=?", (o.error, o.repo))

    def _tx(self) -> _Tx:
        return _Tx(self.db)

    # -- reading back ------------------------------------------------------------------------
    def findings(self, repos: Iterable[str]) -> Iterator[tuple[str, Finding]]:
        for rid in repos:
            for (data,) in self.db.execute("SELECT data FROM findings WHERE repo=? ORDER BY path, fingerprint",
                                           (rid,)):
                yield rid, finding_from_row(data)

    def summary(self, repo: str, run: int) -> dict[str, Any]:
        """The per-repository row of the report: this run's audit (or, resumed, the run's row)."""
        row = self.db.execute("SELECT mode, blobs, bytes, findings, duration, fetch, error FROM audits "
                              "WHERE repo=? AND run=?", (repo, run)).fetchone()
        total = self.db.execute("SELECT COUNT(*) FROM findings WHERE repo=?", (repo,)).fetchone()[0]
        audited = self.db.execute("SELECT audited_at, last_error FROM repos WHERE id=?", (repo,)).fetchone()
        d: dict[str, Any] = {"findings": int(total), "audited_at": audited[0] if audited else None}
        if row is None:
            d.update({"mode": "not audited", "blobs": 0, "bytes": 0, "new_findings": 0, "duration": 0.0,
                      "fetch": None, "error": audited[1] if audited else None})
        else:
            d.update({"mode": row[0], "blobs": row[1], "bytes": row[2], "new_findings": row[3],
                      "duration": round(row[4], 3), "fetch": row[5], "error": row[6]})
        return d

    def blobs_scanned(self, repo: str) -> int:
        """Blobs scanned for this repository over every run (a test's "nothing scanned twice")."""
        return int(self.db.execute("SELECT COALESCE(SUM(blobs), 0) FROM audits WHERE repo=?", (repo,)).fetchone()[0])


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

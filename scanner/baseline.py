"""Baseline files: what is already known, as hashes only (never a secret)."""
from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Iterable

from scanner import __version__
from scanner.errors import CexguardError
from scanner.models import Finding

VERSION = 1


def write_baseline(findings: Iterable[Finding], path: str | Path) -> int:
    entries = sorted(
        {(f.fingerprint, f.rule, f.path) for f in findings}
    )
    doc = {
        "cexguard_baseline": VERSION,
        "generated_by": f"cexguard {__version__}",
        "findings": [{"fingerprint": fp, "rule": rule, "path": p} for fp, rule, p in entries],
    }
    from scanner.atomic import write_atomic

    write_atomic(path, json.dumps(doc, indent=2) + "\n", what="baseline")
    return len(entries)


def read_baseline(path: str | Path) -> set[str]:
    """Fingerprints in a baseline file."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise CexguardError(f"baseline not found: {path}") from None
    except OSError as e:
        raise CexguardError(f"cannot read baseline {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CexguardError(f"bad baseline {path}: not a cexguard baseline (JSON)") from None
    if not isinstance(doc, dict) or doc.get("cexguard_baseline") != VERSION or not isinstance(doc.get("findings"), list):
        raise CexguardError(f"bad baseline {path}: not a cexguard baseline (version {VERSION})")
    fps = set()
    for entry in doc["findings"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise CexguardError(f"bad baseline {path}: every entry needs a fingerprint")
        fps.add(entry["fingerprint"])
    return fps

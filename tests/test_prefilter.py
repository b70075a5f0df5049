"""The shared detection corpus through the CLI: both prefilters give identical findings, and the score
meets the bar (precision >= 0.99, recall >= 0.98).

The corpus generator lives beside the repository (../shared/corpus, as in CI). Without it these tests
fail with a message saying so: a missing corpus must never pass for a good score.
"""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
SEEDS = [3, 7]
# where pyproject.toml declares the hyperscan dependency
HYPERSCAN_MACHINES = {"x86_64", "amd64", "arm64", "aarch64"}


def corpus_tool(name: str) -> Path:
    p = CORPUS / name
    if not p.is_file():
        pytest.fail(f"the shared detection corpus is missing: {p} not found (tests expect ../shared/corpus "
                    "beside the repository, as in CI)", pytrace=False)
    return p


def require_hyperscan() -> None:
    if importlib.util.find_spec("hyperscan") is None and platform.machine().lower() not in HYPERSCAN_MACHINES:
        pytest.skip(f"hyperscan is not a dependency on {platform.machine()}")


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(f"corpus{request.param}")
    subprocess.run([sys.executable, str(corpus_tool("make_corpus.py")), "--seed", str(request.param), "--out", str(out)],
                   check=True, capture_output=True)
    assert (out / "labels.json").is_file()
    return out


def scan(root: Path, prefilter: str) -> dict[str, Any]:
    p = subprocess.run([sys.executable, "-m", "scanner", "scan", str(root), "--format", "json", "--include-examples",
                        "--prefilter", prefilter], capture_output=True, text=True, cwd=ROOT, check=False)
    assert p.returncode == 1, p.stderr  # the corpus holds secrets
    report: dict[str, Any] = json.loads(p.stdout)
    assert report["stats"]["prefilter"] == prefilter
    return report


def test_both_prefilters_give_identical_findings(corpus: Path) -> None:
    require_hyperscan()
    keys = ("rule", "path", "line", "end_line", "column", "fingerprint", "kind", "confidence", "paired_with")
    runs = {}
    for kind in ("regex", "hyperscan"):
        report = scan(corpus, kind)
        runs[kind] = sorted(tuple(f.get(k) for k in keys) + (f.get("example", False),) for f in report["findings"])
    labels = json.loads((corpus / "labels.json").read_text())
    assert len(runs["regex"]) >= len(labels) > 100
    assert runs["regex"] == runs["hyperscan"]


def test_corpus_score(corpus: Path) -> None:
    score_py = corpus_tool("score.py")
    env = dict(os.environ, CEXGUARD=f"{shlex.quote(sys.executable)} -m scanner")
    p = subprocess.run([sys.executable, str(score_py), "--tool", "cexguard", "--labels", str(corpus / "labels.json"),
                        "--root", str(corpus)], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert p.returncode == 0, p.stderr
    last = p.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"score: precision=([0-9.]+) recall=([0-9.]+) f1=([0-9.]+)", last)
    assert m, f"unexpected last line from score.py: {last!r}"
    precision, recall = float(m.group(1)), float(m.group(2))
    assert precision >= 0.99 and recall >= 0.98, p.stdout

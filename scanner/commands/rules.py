"""`cexguard rules list|check`."""
from __future__ import annotations

from pathlib import Path

import click

from scanner.models import Rule
from scanner.status import ExitCode


@click.group()
def rules() -> None:
    """List the detection rules or check their examples."""


def _load(rules_dir: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from scanner.rules import load_rules_and_examples

    return load_rules_and_examples([Path(d) for d in rules_dir])


@rules.command("list")
@click.option("--rules-dir", multiple=True, type=click.Path(file_okay=False), help="Extra rules folder.")
def list_rules(rules_dir: tuple[str, ...]) -> int:
    """One line per rule: id, kind, description."""
    rs, _ = _load(rules_dir)
    for r in rs:
        click.echo(f"{r.id:<24} {r.kind:<22} {r.description}")
    return ExitCode.OK


@rules.command("check")
@click.option("--rules-dir", multiple=True, type=click.Path(file_okay=False), help="Extra rules folder.")
def check_rules(rules_dir: tuple[str, ...]) -> int:
    """Every example must be found by its rule; no negative example may be found at all."""
    rs, examples = _load(rules_dir)
    problems = check_examples(rs, examples)
    for p in problems:
        click.echo(f"FAIL {p}", err=True)
    n_ex = sum(len(r.examples) for r in rs)
    n_neg = sum(len(r.negative_examples) for r in rs)
    click.echo(f"{len(rs)} rule(s), {n_ex} example(s), {n_neg} negative example(s): "
               + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return ExitCode.FINDINGS if problems else ExitCode.OK


def check_examples(rules: list[Rule], examples: list[str]) -> list[str]:
    """Run every example through the real engine (both prefilters). Returns the problems found."""
    from scanner.engine import Engine
    from scanner.errors import CexguardError

    problems: list[str] = []
    for kind in ("regex", "hyperscan"):
        try:
            engine = Engine(rules, examples=examples, prefilter=kind)
        except CexguardError as e:
            if kind != "hyperscan" or "not installed" in str(e):
                if kind == "hyperscan":
                    continue  # an optional extra: the regex prefilter finds the same
                raise
            # scans would fall back to the regex prefilter for every rule, silently slower
            problems.append(f"{_culprits(rules, examples)}{e} (scans fall back to the slower regex prefilter)")
            continue
        for r in rules:
            for i, ex in enumerate(r.examples, 1):
                found = engine.scan_bytes(ex.encode())
                if not any(f.rule == r.id and not f.example for f in found):
                    problems.append(f"{r.id}: example {i} not found by {kind} prefilter")
            for i, ex in enumerate(r.negative_examples, 1):
                found = [f for f in engine.scan_bytes(ex.encode()) if not f.example]
                if found:
                    problems.append(f"{r.id}: negative example {i} matched {found[0].rule} ({kind} prefilter)")
    return problems


def _culprits(rules: list[Rule], examples: list[str]) -> str:
    """Which rules' patterns Hyperscan refuses, as a prefix for the problem line ('' if none is singled out)."""
    from scanner.engine import Engine
    from scanner.engine.prefilter import HyperscanPrefilter

    bad: list[str] = []
    for g in Engine(rules, examples=examples, prefilter="regex").groups:
        for gate in g.gate_patterns():
            try:
                HyperscanPrefilter([gate])
            except Exception:
                bad += [r.id for r in g.rules if r.id not in bad]
    return f"rule {', '.join(bad)}: " if bad else ""

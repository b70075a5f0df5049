"""Confidence: a rule's policy (rule `confidence`, `hex_confidence`) compiled, and the signals a
candidate gives it."""
from __future__ import annotations

import re
from collections.abc import Sequence

_CI_PATH = re.compile(r"(?:^|/)(?:\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.ya?ml|\.circleci/[^/]+\.ya?ml"
                      r"|\.travis\.ya?ml|azure-pipelines[^/]*\.ya?ml|bitbucket-pipelines\.ya?ml|Jenkinsfile)$")
_LOWER = {"high": "medium", "medium": "low", "low": "low"}


class _Policy:
    """A rule's confidence policy (rule `confidence`), compiled: each level's conditions as sets of
    signals, strongest level first."""

    def __init__(self, levels: Sequence[tuple[str, Sequence[str]]]):
        self.levels = [(level, [frozenset(c.split("+")) - {"any"} for c in conds]) for level, conds in levels]

    def level(self, signals: set[str]) -> str | None:
        for level, conds in self.levels:
            if any(c <= signals for c in conds):
                return level
        return None


def signals(*, near: bool, infile: bool, intext: bool, hinted: bool, example: bool, paired: bool,
            partner_hinted: bool) -> set[str]:
    """What a rule's confidence policy can test about a candidate (see rules.SIGNALS)."""
    out = {"any"}
    if near:
        out.add("near")
    if infile:
        out.add("infile")
    if intext:
        out.add("intext")  # the exchange named in the text itself, not only in the path
    if hinted:
        out.add("named")
    if example:
        out.add("example")
    if paired:
        out.add("paired")
        if partner_hinted:
            out.add("partner_named")
    return out

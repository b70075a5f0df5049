"""Where the files that ship with cexguard are: the one place that knows.

The built-in rules are `rules/` in a source checkout and `scanner/_rules` in the wheel (pyproject
force-includes them). They are found next to this module with os.path, not importlib.resources: the
pre-commit hook asks on every commit (to key its gate cache), and importing importlib.resources
costs ~50 ms there, more than the hook's whole check.
"""
from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def builtin_rules_dir() -> str:
    """The folder of the built-in rules/*.yaml."""
    packaged = os.path.join(_HERE, "_rules")
    return packaged if os.path.isdir(packaged) else os.path.join(os.path.dirname(_HERE), "rules")


def hook_template() -> str:
    """The git hook script `cexguard install-hook` writes (scanner/hook-tmpl), not yet rendered."""
    with open(os.path.join(_HERE, "hook-tmpl"), encoding="utf-8") as fh:
        return fh.read()
